"""`sg-explorer info` / `images` and the CLI's error contract, run as real processes."""
from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "nvidia-compat"


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


def test_info_json_describes_each_fixture():
    for name, arch, c_dim, num_ws in (("sg2-32", "stylegan2", 0, 8), ("sg3t-32-cond", "stylegan3-t", 3, 16),
                                      ("sg3r-32", "stylegan3-r", 0, 16), ("sg2-tf-32", "stylegan2", 0, 8)):
        r = cli("info", DATA / name / "network.pkl", "--json")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        expected = json.loads((DATA / name / "info.json").read_text())
        assert info["architecture"] == arch
        assert (info["resolution"], info["z_dim"], info["w_dim"], info["c_dim"], info["num_ws"]) == (32, 64, 64, c_dim,
                                                                                                     num_ws)
        assert info["format"] == ("nvidia-tensorflow" if "tf" in name else "nvidia-pytorch")
        layers = [(l["name"], l["shape"]) for l in info["synthesis_layers"]]
        assert layers == [(l["name"], l["shape"][1:]) for l in expected["synthesis_layers"] if l["name"] != "output"]
        assert info["parameters"]["G_ema"] > 0


def test_info_text():
    r = cli("info", DATA / "sg3t-32-cond" / "network.pkl")
    assert r.returncode == 0, r.stderr
    assert "stylegan3-t" in r.stdout and "L14_32_3" in r.stdout and "64 / 64 / 3" in r.stdout


@pytest.mark.parametrize("name,cls", [("sg2-32", None), ("sg3t-32-cond", 1)])
def test_images_match_nvidia_pixels(tmp_path, name, cls):
    e = np.load(DATA / name / "expected.npz")
    seeds = [int(s) for s in e["seeds"]]
    args = ["images", DATA / name / "network.pkl", "--seeds", ",".join(map(str, seeds)), "--trunc", "0.7",
            "--outdir", tmp_path]
    if cls is not None:
        # The fixture's labels are one-hot; render each seed with its own class.
        labels = e["c"].argmax(axis=1)
        for seed, label in zip(seeds, labels):
            r = cli("images", DATA / name / "network.pkl", "--seeds", seed, "--trunc", "0.7", "--class", int(label),
                    "--outdir", tmp_path)
            assert r.returncode == 0, r.stderr
    else:
        r = cli(*args)
        assert r.returncode == 0, r.stderr
    ref = np.clip(e["img_psi07"].transpose(0, 2, 3, 1) * 127.5 + 128, 0, 255).astype(np.uint8)
    for seed, expected in zip(seeds, ref):
        got = np.asarray(Image.open(tmp_path / f"seed{seed:04d}.png"))
        assert got.shape == expected.shape
        diff = np.abs(got.astype(int) - expected.astype(int))
        # Within 1e-3 of NVIDIA's floats: at most a rounding step apart, almost always equal.
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_images_translate_rotate(tmp_path):
    e = np.load(DATA / "sg3r-32" / "expected.npz")
    m = e["transform_both"]
    angle = float(np.degrees(np.arctan2(m[0, 1], m[0, 0])))
    r = cli("images", DATA / "sg3r-32" / "network.pkl", "--seeds", int(e["seeds"][0]), "--translate",
            f"{float(m[0, 2])!r},{float(m[1, 2])!r}", "--rotate", repr(angle), "--outdir", tmp_path)
    assert r.returncode == 0, r.stderr
    ref = np.clip(e["img_transform_both"][0].transpose(1, 2, 0) * 127.5 + 128, 0, 255).astype(np.uint8)
    got = np.asarray(Image.open(tmp_path / f"seed{int(e['seeds'][0]):04d}.png"))
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def _one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_errors_are_one_line(tmp_path):
    pkl = DATA / "sg2-32" / "network.pkl"
    assert "no such file" in _one_line_error(cli("info", tmp_path / "missing.pkl"), 1)
    assert "seed" in _one_line_error(cli("images", pkl, "--seeds", "3-x", "--outdir", tmp_path), 2).lower()
    assert "StyleGAN3" in _one_line_error(cli("images", pkl, "--seeds", "1", "--rotate", "5", "--outdir", tmp_path), 2)
    assert "conditional" in _one_line_error(cli("images", DATA / "sg3t-32-cond" / "network.pkl", "--seeds", "1",
                                                "--outdir", tmp_path), 2)
    _one_line_error(cli("images", pkl, "--seeds", "1", "--trunc", "abc", "--outdir", tmp_path), 2)
    _one_line_error(cli("images", pkl, "--seeds", "1", "--noise-mode", "loud", "--outdir", tmp_path), 2)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle at all")
    _one_line_error(cli("info", garbage), 1)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pkl.read_bytes()[:5000])
    _one_line_error(cli("info", truncated), 1)


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": Evil()}))
    line = _one_line_error(cli("info", evil), 1)
    assert "system" in line
    assert not canary.exists()
    # --debug shows the traceback for developers.
    r = cli("info", evil, "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and not canary.exists()


def test_help_lists_every_command():
    r = cli("--help")
    assert r.returncode == 0
    for name in ("info", "images", "bench", "video", "dataset", "train"):
        assert name in r.stdout
