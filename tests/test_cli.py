"""`sg-explorer info` / `images` and the CLI's error contract.

Pixels are compared with NVIDIA's outputs in the fixtures (expected.npz) converted the way NVIDIA's
tools write PNGs: uint8 of (img * 127.5 + 128).clamp(0, 255). Most cases call `explorer.cli.main` in
this process (fast); the exit-code and traceback contract is checked on real processes.
"""
from __future__ import annotations

import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import hostile
from explorer.cli import main
from networks.pickles import safe_load

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "nvidia-compat"
SG2, SG3T, SG3R, TF = (DATA / n / "network.pkl" for n in ("sg2-32", "sg3t-32-cond", "sg3r-32", "sg2-tf-32"))


def default_signals() -> None:
    """In a child before exec: default SIGINT / SIGTERM (a suite run from a background job has SIGINT ignored,
    and exec would pass that on)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """The real command line, in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd, preexec_fn=default_signals)


def run(capsys, *args) -> tuple[int, str, str]:
    """explorer.cli.main in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def to_pixels(img: np.ndarray) -> np.ndarray:
    """NCHW float -> NHWC uint8, as NVIDIA's gen_images.py writes PNGs (truncation toward zero)."""
    return np.clip(img.transpose(0, 2, 3, 1) * 127.5 + 128, 0, 255).astype(np.uint8)


def assert_pngs_match(outdir, seeds, ref_pixels):
    for seed, expected in zip(seeds, ref_pixels):
        got = np.asarray(Image.open(pathlib.Path(outdir) / f"seed{seed:04d}.png"))
        assert got.shape == expected.shape and got.dtype == np.uint8
        diff = np.abs(got.astype(int) - expected.astype(int))
        # Within 1e-3 of NVIDIA's floats: at most a rounding step apart, almost always equal.
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (seed, diff.max(), (diff > 0).mean())


def seeds_of(name) -> list[int]:
    return [int(s) for s in np.load(DATA / name / "expected.npz")["seeds"]]


# ------------------------------------------------------------------------------------------------
# info

def _parameter_count(rec) -> int:
    """Parameters (not buffers) of a persistence record tree, counted from the file itself."""
    own = sum(t.numel() for t in (rec.state.get("_parameters") or {}).values() if t is not None)
    return own + sum(_parameter_count(c) for c in (rec.state.get("_modules") or {}).values() if c is not None)


def test_info_json_describes_each_fixture():
    for name, arch, c_dim, num_ws in (("sg2-32", "stylegan2", 0, 8), ("sg3t-32-cond", "stylegan3-t", 3, 16),
                                      ("sg3r-32", "stylegan3-r", 0, 16), ("sg2-tf-32", "stylegan2", 0, 8)):
        r = cli("info", DATA / name / "network.pkl", "--json")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        expected = json.loads((DATA / name / "info.json").read_text())
        assert info["architecture"] == arch and info["described"] == "G_ema"
        assert (info["resolution"], info["z_dim"], info["w_dim"], info["c_dim"], info["num_ws"]) == (32, 64, 64, c_dim,
                                                                                                     num_ws)
        assert info["format"] == ("nvidia-tensorflow" if "tf" in name else "nvidia-pytorch")
        assert info["networks"] == ["G", "D", "G_ema"]
        layers = [(l["name"], l["shape"]) for l in info["synthesis_layers"]]
        assert layers == [(l["name"], l["shape"][1:]) for l in expected["synthesis_layers"] if l["name"] != "output"]
        if "tf" not in name:
            recs = safe_load(DATA / name / "network.pkl")
            assert info["parameters"] == {k: _parameter_count(recs[k]) for k in ("G", "D", "G_ema")}
        else:
            assert info["parameters"]["G_ema"] == info["parameters"]["G"] > 0


def test_info_text(capsys):
    code, out, err = run(capsys, "info", SG3T)
    assert code == 0, err
    assert "stylegan3-t" in out and "L14_32_3" in out and "64 / 64 / 3" in out and "num_ws        16" in out
    assert f"G_ema {_parameter_count(safe_load(SG3T)['G_ema']):,}" in out


def test_info_net_and_run_folder(capsys, tmp_path):
    recs = safe_load(SG2)
    only_ema = tmp_path / "run" / "network-snapshot-000012.pkl"
    only_ema.parent.mkdir()
    only_ema.write_bytes(hostile.nvidia_pickle({"G_ema": recs["G_ema"]}))
    code, out, err = run(capsys, "info", tmp_path / "run", "--json")  # a run folder: its newest snapshot
    assert code == 0 and json.loads(out)["networks"] == ["G_ema"]
    code, out, err = run(capsys, "info", only_ema, "--net", "G")
    assert code == 2 and "has no G" in err and len(err.strip().splitlines()) == 1
    only_g = tmp_path / "g.pkl"
    only_g.write_bytes(hostile.nvidia_pickle({"G": recs["G"]}))
    code, out, err = run(capsys, "info", only_g, "--json")  # default G_ema falls back to G
    assert code == 0 and json.loads(out)["described"] == "G"


# ------------------------------------------------------------------------------------------------
# images: pixels against NVIDIA's

@pytest.mark.parametrize("name,cls", [("sg2-32", None), ("sg2-tf-32", None), ("sg3t-32-cond", 1)])
def test_images_match_nvidia_pixels(capsys, tmp_path, name, cls):
    e = np.load(DATA / name / "expected.npz")
    seeds = seeds_of(name)
    pkl = DATA / name / "network.pkl"
    if cls is not None:
        # The fixture's labels are one-hot; render each seed with its own class.
        for seed, label in zip(seeds, e["c"].argmax(axis=1)):
            code, out, err = run(capsys, "images", pkl, "--seeds", seed, "--trunc", "0.7", "--class", int(label),
                                 "--outdir", tmp_path)
            assert code == 0, err
    else:
        code, out, err = run(capsys, "images", pkl, "--seeds", ",".join(map(str, seeds)), "--trunc", "0.7",
                             "--outdir", tmp_path)
        assert code == 0, err
        assert len(out.strip().splitlines()) == len(seeds)  # one line per PNG written
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"seed{s:04d}.png" for s in seeds)
    assert_pngs_match(tmp_path, seeds, to_pixels(e["img_psi07"]))


def test_images_trunc_cutoff_and_batch(capsys, tmp_path):
    e = np.load(DATA / "sg2-32" / "expected.npz")
    seeds = seeds_of("sg2-32")
    code, out, err = run(capsys, "images", SG2, "--seeds", ",".join(map(str, seeds)), "--trunc", "0.5",
                         "--trunc-cutoff", "4", "--batch", "3", "--device", "cpu", "--outdir", tmp_path)
    assert code == 0, err
    assert_pngs_match(tmp_path, seeds, to_pixels(e["img_psi05_cut4"]))
    # The cutoff matters: truncating every w instead gives other pixels.
    code, out, err = run(capsys, "images", SG2, "--seeds", seeds[0], "--trunc", "0.5", "--outdir", tmp_path / "all")
    assert code == 0, err
    every = np.asarray(Image.open(tmp_path / "all" / f"seed{seeds[0]:04d}.png")).astype(int)
    assert np.abs(every - to_pixels(e["img_psi05_cut4"])[0]).max() > 3


def test_images_noise_modes(capsys, tmp_path):
    e = np.load(DATA / "sg2-32" / "expected.npz")
    seeds = seeds_of("sg2-32")
    code, _, err = run(capsys, "images", SG2, "--seeds", ",".join(map(str, seeds)), "--noise-mode", "none",
                       "--outdir", tmp_path / "none")
    assert code == 0, err
    assert_pngs_match(tmp_path / "none", seeds, to_pixels(e["img_psi1_noise_none"]))
    pngs = {}
    for tag, extra in (("const", []), ("r1", ["--noise-mode", "random", "--noise-seed", "1"]),
                       ("r1b", ["--noise-mode", "random", "--noise-seed", "1"]),
                       ("r2", ["--noise-mode", "random", "--noise-seed", "2"])):
        code, _, err = run(capsys, "images", SG2, "--seeds", seeds[0], *extra, "--outdir", tmp_path / tag)
        assert code == 0, err
        pngs[tag] = np.asarray(Image.open(tmp_path / tag / f"seed{seeds[0]:04d}.png")).astype(int)
    assert_pngs_match(tmp_path / "const", seeds[:1], to_pixels(e["img_psi1"]))
    assert np.array_equal(pngs["r1"], pngs["r1b"])          # --noise-seed makes random noise repeatable
    assert np.abs(pngs["r1"] - pngs["r2"]).max() > 3        # ... and a different seed gives other noise
    assert np.abs(pngs["r1"] - pngs["const"]).max() > 3


@pytest.mark.parametrize("name", ["sg2-32", "sg3r-32"])
def test_images_style_mixing_matches_nvidia(capsys, tmp_path, name):
    """--mix-seed S --mix-ws lo-hi: the fixtures' img_mix_* (sample i takes ws [lo, hi) of sample N-1-i)."""
    e = np.load(DATA / name / "expected.npz")
    seeds = seeds_of(name)
    for key, (lo, hi) in zip(("coarse", "middle", "fine"), e["mix_ranges"]):
        want = to_pixels(e[f"img_mix_{key}"])
        for i, seed in enumerate(seeds):
            out = tmp_path / f"{key}-{i}"  # images refuses a missing parent folder, as video does
            code, _, err = run(capsys, "images", DATA / name / "network.pkl", "--seeds", seed, "--mix-seed",
                               seeds[len(seeds) - 1 - i], "--mix-ws", f"{lo}-{hi - 1}", "--outdir", out)
            assert code == 0, err
            assert_pngs_match(out, [seed], want[i:i + 1])


def test_images_untransform_moves_a_whole_pixel_translation_back(capsys, tmp_path):
    seed = seeds_of("sg3r-32")[0]
    for tag, extra in (("plain", ["--translate", "0.125,0"]), ("back", ["--translate", "0.125,0", "--untransform"])):
        assert run(capsys, "images", SG3R, "--seeds", seed, *extra, "--outdir", tmp_path / tag)[0] == 0
    moved = np.asarray(Image.open(tmp_path / "plain" / f"seed{seed:04d}.png")).astype(int)
    back = np.asarray(Image.open(tmp_path / "back" / f"seed{seed:04d}.png")).astype(int)
    np.testing.assert_array_equal(back[:, :-4], moved[:, 4:])   # 0.125 of 32 px = 4 px, moved back exactly
    assert (back[:, -4:] == 128).all()                            # what came from outside the image reads 0


def _angle_deg(m) -> float:
    """a of m = [[cos a, sin a, x], [-sin a, cos a, y], [0, 0, 1]], in degrees."""
    return float(np.degrees(np.arctan2(m[0, 1], m[0, 0])))


@pytest.mark.parametrize("case", ["tx", "rot", "both"])
def test_images_translate_rotate_match_nvidia(capsys, tmp_path, case):
    """--translate X,Y and --rotate DEG are the fixtures' transform_* matrices' x, y and a."""
    e = np.load(DATA / "sg3r-32" / "expected.npz")
    m = e[f"transform_{case}"]
    seeds = seeds_of("sg3r-32")
    args = ["images", SG3R, "--seeds", ",".join(map(str, seeds)), "--outdir", tmp_path]
    if m[0, 2] or m[1, 2]:
        args += ["--translate", f"{float(m[0, 2])!r},{float(m[1, 2])!r}"]
    if _angle_deg(m):
        args += ["--rotate", repr(_angle_deg(m))]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    assert_pngs_match(tmp_path, seeds, to_pixels(e[f"img_transform_{case}"]))
    # The transform does something: the untransformed image differs.
    assert not np.array_equal(to_pixels(e[f"img_transform_{case}"]), to_pixels(e["img_psi1"]))


def test_translate_units_are_image_widths_and_documented(capsys, tmp_path):
    """0.25,0 shifts the content a quarter of the width to the right, as --help says."""
    seed = seeds_of("sg3r-32")[0]
    for tag, extra in (("0", []), ("x", ["--translate", "0.25,0"]), ("y", ["--translate", "0,0.25"])):
        assert run(capsys, "images", SG3R, "--seeds", seed, *extra, "--outdir", tmp_path / tag)[0] == 0
    img = {t: np.asarray(Image.open(tmp_path / t / f"seed{seed:04d}.png")).astype(float) for t in ("0", "x", "y")}
    inner = (slice(10, 22), slice(10, 22))
    for tag, axis in (("x", 1), ("y", 0)):
        errors = {s: np.abs(np.roll(img["0"], s, axis=axis)[inner] - img[tag][inner]).mean() for s in range(-12, 13)}
        assert min(errors, key=errors.get) == 8, (tag, errors)  # 0.25 * 32 px, toward +x (right) / +y (down)
    code, out, _ = run(capsys, "images", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "--translate X,Y" in text and "image widths/heights" in text and "gen_images.py" in text
    assert "--rotate DEG" in text and "degrees counter-clockwise" in text


def test_images_device(capsys, tmp_path):
    seed = seeds_of("sg2-32")[0]
    if torch.cuda.is_available():
        code, _, err = run(capsys, "images", SG2, "--seeds", seed, "--device", "cuda", "--outdir", tmp_path)
        assert code == 0, err
        assert_pngs_match(tmp_path, [seed], to_pixels(np.load(DATA / "sg2-32" / "expected.npz")["img_psi1"][:1]))
    else:
        code, _, err = run(capsys, "images", SG2, "--seeds", seed, "--device", "cuda", "--outdir", tmp_path)
        assert code == 2 and "CUDA" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "images", SG2, "--seeds", seed, "--device", "tpu", "--outdir", tmp_path)
    assert code == 2 and "tpu" in err


# ------------------------------------------------------------------------------------------------
# Errors: one line, exit 2 for arguments, 1 for a failed load

def _one_line(code, err, expected_code) -> str:
    assert code == expected_code, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("args, code, text", [
    (["images", SG2, "--seeds", "3-x", "--outdir", "{tmp}"], 2, "seed"),
    (["images", SG2, "--seeds", "5-2", "--outdir", "{tmp}"], 2, "below the start"),
    (["images", SG2, "--seeds", "1", "--rotate", "5", "--outdir", "{tmp}"], 2, "StyleGAN3"),
    (["images", SG2, "--seeds", "1", "--translate", "0.1,0", "--outdir", "{tmp}"], 2, "StyleGAN3"),
    (["images", SG3R, "--seeds", "1", "--translate", "0.1", "--outdir", "{tmp}"], 2, "X,Y"),
    (["images", SG3R, "--seeds", "1", "--translate", "nan,0", "--outdir", "{tmp}"], 2, "finite"),
    (["images", SG3R, "--seeds", "1", "--rotate", "inf", "--outdir", "{tmp}"], 2, "finite"),
    (["images", SG2, "--seeds", "1", "--trunc", "nan", "--outdir", "{tmp}"], 2, "finite"),
    (["images", SG2, "--seeds", "1", "--trunc", "abc", "--outdir", "{tmp}"], 2, "--trunc"),
    (["images", SG2, "--seeds", "1", "--trunc-cutoff", "-1", "--outdir", "{tmp}"], 2, "--trunc-cutoff"),
    (["images", SG2, "--seeds", "1", "--noise-mode", "loud", "--outdir", "{tmp}"], 2, "--noise-mode"),
    (["images", SG2, "--seeds", "1", "--batch", "0", "--outdir", "{tmp}"], 2, "--batch"),
    (["images", SG2, "--seeds", "1"], 2, "--outdir"),
    (["images", SG2, "--seeds", "1", "--outdir", "{tmp}/file.txt"], 2, "--outdir"),
    (["images", SG2, "--seeds", "1", "--bogus", "--outdir", "{tmp}"], 2, "--bogus"),
    (["images", SG3T, "--seeds", "1", "--outdir", "{tmp}"], 2, "conditional"),
    (["images", SG2, "--seeds", "1", "--mix-seed", "3", "--outdir", "{tmp}"], 2, "--mix-ws"),
    (["images", SG2, "--seeds", "1", "--mix-seed", "3", "--mix-ws", "0-40", "--outdir", "{tmp}"], 2, "out of range"),
    (["images", SG2, "--seeds", "1", "--untransform", "--outdir", "{tmp}"], 2, "StyleGAN3"),
    (["images", SG3T, "--seeds", "1", "--class", "3", "--outdir", "{tmp}"], 2, "out of range"),
    (["images", SG2, "--seeds", "1", "--class", "0", "--outdir", "{tmp}"], 2, "unconditional"),
    (["images", "{tmp}/only_ema.pkl", "--seeds", "1", "--net", "G", "--outdir", "{tmp}"], 2, "has no G"),
    (["images", "{tmp}/missing.pkl", "--seeds", "1", "--outdir", "{tmp}"], 1, "no such file"),
    (["images", "{tmp}/garbage.pkl", "--seeds", "1", "--outdir", "{tmp}"], 1, "not a pickle"),
    (["images", "{tmp}/alien.pkl", "--seeds", "1", "--outdir", "{tmp}"], 1, "AlienGenerator"),
    (["info", "{tmp}/missing.pkl"], 1, "no such file"),
    (["info", "{tmp}/truncated.pkl"], 1, "truncated"),
    (["info", "{tmp}"], 1, "no network-snapshot"),
    (["info"], 2, "PKL"),
    (["info", SG2, "--net", "D"], 2, "--net"),
    (["imagse", SG2, "--seeds", "1"], 2, "did you mean 'images'"),  # a typo does not open the window
])
def test_errors_are_one_line(capsys, tmp_path, args, code, text):
    recs = safe_load(SG2)
    (tmp_path / "file.txt").write_text("a file, not a folder")
    (tmp_path / "only_ema.pkl").write_bytes(hostile.nvidia_pickle({"G_ema": recs["G_ema"]}))
    (tmp_path / "garbage.pkl").write_bytes(b"this is not a pickle at all")
    (tmp_path / "truncated.pkl").write_bytes(SG2.read_bytes()[:5000])
    from networks.pickles import PersistentRecord
    (tmp_path / "alien.pkl").write_bytes(hostile.nvidia_pickle(
        {"G_ema": PersistentRecord("AlienGenerator", recs["G_ema"].state, "")}))
    before = sorted(p.name for p in tmp_path.iterdir())
    got_code, out, err = run(capsys, *[str(a).replace("{tmp}", str(tmp_path)) for a in args])
    line = _one_line(got_code, err, code)
    assert line.startswith("sg-explorer") and text in line, line
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("seed")]  # nothing rendered
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_real_process_exit_codes_and_tracebacks(tmp_path):
    """The contract on a real process: one stderr line and the exit code; a traceback only with --debug."""
    r = cli("images", SG2, "--seeds", "x", "--outdir", tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = cli("info", tmp_path / "missing.pkl")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "no such file" in r.stderr
    r = cli("info", tmp_path / "missing.pkl", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "CheckpointError" in r.stderr


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": Evil()}))
    r = cli("info", evil)
    line = _one_line(r.returncode, r.stderr, 1)
    assert "posix.system" in line or "os.system" in line
    assert not canary.exists()
    # --debug shows the traceback for developers, and still runs nothing.
    r = cli("images", evil, "--seeds", "1", "--outdir", tmp_path / "out", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "UnsafeCheckpointError" in r.stderr
    assert not canary.exists()


def test_help_lists_every_command(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("info", "images", "bench", "video", "dataset", "train", "gui"):
        assert f"\n  {name} " in out
    assert "PKL|URL|RUN_DIR" in out


def test_every_option_of_every_command_has_a_help_line():
    from explorer.cli import COMMANDS, build_parser
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name in COMMANDS
               for a in build_parser(name)._actions if not (a.help or "").strip()]
    assert missing == []


def test_images_refuses_a_missing_parent_like_video_and_creates_nothing(capsys, tmp_path):
    out = tmp_path / "no" / "such"
    code, _, err = run(capsys, "images", SG2, "--seeds", "1", "--outdir", out)
    assert code == 2 and "does not exist" in err and not (tmp_path / "no").exists()
    code, _, vid_err = run(capsys, "video", SG2, "--output", tmp_path / "no" / "v.mp4")
    assert code == 2 and "does not exist" in vid_err                      # the same refusal, the same words
    code, _, _ = run(capsys, "images", SG2, "--seeds", "1", "--outdir", tmp_path / "new")
    assert code == 0 and (tmp_path / "new" / "seed0001.png").is_file()    # one missing level is created


def test_images_failed_run_leaves_no_empty_folder(capsys, tmp_path, monkeypatch):
    import explorer.engine.renderer as renderer

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")
    monkeypatch.setattr(renderer, "render_batch", broken)
    code, _, err = run(capsys, "images", SG2, "--seeds", "1", "--outdir", tmp_path / "out")
    assert code == 1 and "render failed" in err and not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()
    assert run(capsys, "images", SG2, "--seeds", "1", "--outdir", tmp_path / "kept")[0] == 1
    assert (tmp_path / "kept").is_dir()                                    # a folder the user had stays


def test_images_are_the_engines_render_of_the_same_state(capsys, tmp_path):
    """The command has no pipeline of its own: its PNGs are engine.render's images for the seed's state, byte for
    byte (the same function on the same inputs, so exact equality is the point)."""
    from explorer.engine import RenderState, render
    from networks import load_network_pkl
    G = load_network_pkl(str(SG3R))["G_ema"]
    args = ["--trunc", "0.6", "--mix-seed", "9", "--mix-ws", "0-3", "--translate", "0.1,-0.05", "--rotate", "7"]
    assert run(capsys, "images", SG3R, "--seeds", "3,5", *args, "--outdir", tmp_path)[0] == 0
    for seed in (3, 5):
        state = RenderState(x=seed, trunc_psi=0.6, mix_seed=9, mix_mask=[True] * 4, translate_x=0.1,
                            translate_y=-0.05, rotate=7.0)
        png = np.asarray(Image.open(tmp_path / f"seed{seed:04d}.png"))
        np.testing.assert_array_equal(png, render(G, state).image)


def _long_video(tmp_path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "explorer", "video", SG2, "--seeds", "0-7", "--w-frames", "2000",
                             "--batch", "2", "--output", str(tmp_path / "long.mp4")], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)


def _sigterm_once(proc, ready, timeout_s: float, settle_s: float = 0.0) -> str:
    """Waits until ready() (or timeout_s), sends SIGTERM to the still running proc, checks it ended quietly with
    143 (no "error", no traceback) and returns its stderr. The child is killed if anything goes wrong."""
    try:
        deadline = time.time() + timeout_s
        while time.time() < deadline and proc.poll() is None and not ready():
            time.sleep(0.1)
        time.sleep(settle_s)
        assert proc.poll() is None, "ended before it could be stopped: " + proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "error" not in err.lower() and "Traceback" not in err, err
    return err


@pytest.mark.slow
def test_sigterm_ends_a_command_quietly_with_143_and_no_partial_file(tmp_path):
    proc = _long_video(tmp_path)
    _sigterm_once(proc, lambda: any(".partial-" in p.name and p.stat().st_size > 0 for p in tmp_path.iterdir()), 120)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigterm_stops_training_quietly_keeping_whole_snapshots(tmp_path):
    """train under SIGTERM: exit 143 without a message; every snapshot left in the run folder loads (no partial
    file), so a stopped run can be resumed from what it wrote."""
    from test_train import TINY_ARGS, make_zip
    data = make_zip(tmp_path / "d16.zip")
    args = [a for a in TINY_ARGS]
    args[args.index("--kimg") + 1] = "100"                # far more than the test waits for
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "train", "--cfg", "stylegan2", "--data", str(data),
                             "--outdir", str(tmp_path / "runs"), "--snap", "1", *args], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, preexec_fn=default_signals)
    _sigterm_once(proc, lambda: bool(list(tmp_path.glob("runs/*/network-*.pkl"))), 180)
    from networks import load_network_pkl
    files = [p.name for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert not [n for n in files if "partial" in n or n.endswith(".tmp") or n.startswith(".")], files
    for snap in (tmp_path / "runs").rglob("network-snapshot-*.pkl"):
        assert load_network_pkl(snap)["G_ema"] is not None


def test_sigterm_handler_is_only_held_while_a_command_runs(capsys, monkeypatch):
    """main() raises Terminated on SIGTERM during run() (cleanup runs, exit 143, no message) and puts the previous
    handler back afterwards."""
    import explorer.commands.info as info
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(info, "run", lambda args: os.kill(os.getpid(), signal.SIGTERM) or time.sleep(5))
    t0 = time.perf_counter()
    code, out, err = run(capsys, "info", SG2)
    assert code == 143 and out == "" and err == "" and time.perf_counter() - t0 < 4
    assert signal.getsignal(signal.SIGTERM) == before


def _window_shown(display: str) -> bool:
    r = subprocess.run(["xdotool", "search", "--name", "^sg-explorer$"], capture_output=True, text=True,
                       env=dict(os.environ, DISPLAY=display), timeout=10)
    return r.returncode == 0 and r.stdout.strip() != ""


@pytest.mark.slow
@pytest.mark.gui
def test_sigterm_closes_the_window_quietly_with_143(tmp_path):
    """The window too: SIGTERM goes through App's cleanup (the session is saved, as closing the window does)."""
    from gui_harness import shared_display
    env = dict(os.environ, PYTHONPATH=str(ROOT), DISPLAY=shared_display(), SG_EXPLORER_CONFIG_DIR=str(tmp_path),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "explorer", SG2], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_signals)
    # settle: past start-up, the main loop is drawing frames
    _sigterm_once(proc, lambda: _window_shown(env["DISPLAY"]), 90, settle_s=2)
    assert any(tmp_path.iterdir())      # the cleanup ran: the session went to the config folder
