"""`sg-explorer train` and the training loop: end to end, exact resume, divergence, CLI errors."""
import io
import json
import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import cli
from explorer.commands import train as train_cmd
from networks.training.loop import Trainer, TrainingDiverged
from networks.training.options import TrainOptions


def make_zip(path, res=16, count=12, classes=0, seed=0):
    """Smooth random colour blobs (so D has something to learn), optional class labels."""
    rnd = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:res, 0:res] / res
    labels = []
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            cx, cy = rnd.rand(2)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) * 20)[..., None]
            img = (blob * rnd.rand(3) * 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            name = f"00000/img{i:08d}.png"
            zf.writestr(name, buf.getvalue())
            labels.append([name, i % classes] if classes else None)
        zf.writestr("dataset.json", json.dumps({"labels": labels if classes else None}))
    return str(path)


def tiny_options(data, outdir, cfg="stylegan2", **kw):
    base = dict(cfg=cfg, data=str(data), outdir=str(outdir), batch=4, gamma=1.0, cbase=256, cmax=32,
                z_dim=32, w_dim=32, map_depth=2, workers=0, device="cpu", kimg=0.008, tick=0.004, snap=1)
    base.update(kw)
    return TrainOptions(**base)


TINY_ARGS = ["--batch", "4", "--gamma", "1", "--cbase", "256", "--cmax", "32", "--z-dim", "32", "--w-dim", "32",
             "--map-depth", "2", "--workers", "0", "--device", "cpu", "--kimg", "0.008", "--tick", "0.004"]


@pytest.fixture(scope="module")
def data16(tmp_path_factory):
    return make_zip(tmp_path_factory.mktemp("data") / "d16.zip")


def test_cli_end_to_end_writes_a_snapshot_the_loader_opens(data16, tmp_path, capsys):
    from networks import load_network_pkl
    rc = cli.main(["train", "--cfg", "stylegan2", "--data", data16, "--outdir", str(tmp_path), "--snap", "1",
                   "--mirror", *TINY_ARGS])
    out = capsys.readouterr().out
    assert rc == 0
    runs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name == "00000-stylegan2-d16-gpus1-batch4-gamma1"
    run = runs[0]
    ticks = [ln for ln in out.splitlines() if ln.startswith("tick ")]
    assert len(ticks) == 2 and "sec/kimg" in ticks[0] and "augment" in ticks[0] and "cpumem" in ticks[0]
    records = [json.loads(ln) for ln in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in records] == [0.004, 0.008]
    assert 0 < records[0]["sec_total"] <= records[1]["sec_total"]          # elapsed, not per tick
    assert records[1]["sec_total"] >= records[1]["sec_per_tick"]
    assert all(math.isfinite(r["Loss/G/loss"]) and math.isfinite(r["Loss/D/loss"]) for r in records)
    data = load_network_pkl(run / "network-snapshot-000000.pkl")
    assert {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs", "resume"} <= set(data)
    assert data["resume"]["counters"]["cur_nimg"] == 8 and data["training_set_kwargs"]["xflip"] is True
    G = data["G_ema"]
    assert G.img_resolution == 16 and G.z_dim == 32
    img = G(torch.randn(2, 32), None, noise_mode="const")
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    grid = np.asarray(Image.open(run / "fakes.png"))
    assert grid.shape == (4 * 16, 8 * 16, 3)                       # 32 fixed seeds, 8 per row
    assert np.asarray(Image.open(run / "fakes000000.png")).shape == grid.shape
    assert (run / "reals.png").exists() and (run / "training_options.json").exists()


def _run_steps(trainer, n):
    it = trainer._data_iterator()
    return [trainer.step(it) for _ in range(n)]


def test_resume_continues_exactly(data16, tmp_path):
    from networks import load_network_pkl
    opts = tiny_options(data16, tmp_path, aug="ada", ada_interval=2, target=0.0)
    a = Trainer(opts, run_dir=tmp_path / "a", log=lambda m: None)
    (tmp_path / "a").mkdir()
    it = a._data_iterator()
    first = [a.step(it) for _ in range(3)]
    path = a._write_snapshot()
    rest_a = [a.step(it) for _ in range(3)]                        # steps 3, 4 (G path length), 5
    assert a.augment_pipe.p.item() > 0                             # ADA moved p (target 0: D is "overfitting")

    saved = load_network_pkl(path)
    b = Trainer(opts, run_dir=None, resume_data=saved, log=lambda m: None)
    assert b.counters.cur_nimg == 12 and b.counters.batch_idx == 3
    assert b.augment_pipe.p.item() == pytest.approx(float(saved["augment_pipe"].p))
    rest_b = _run_steps(b, 3)
    assert rest_b[1].keys() >= {"Loss/pl_penalty", "Loss/G/loss", "Loss/D/loss"}
    for sa, sb in zip(rest_a, rest_b):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert sb[k] == pytest.approx(sa[k], rel=1e-5, abs=1e-6), k
    for pa, pb in zip(a.G_ema.state_dict().values(), b.G_ema.state_dict().values()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    assert a.augment_pipe.p.item() == pytest.approx(b.augment_pipe.p.item())
    assert first[0]["Loss/D/reg"] > 0                              # step 0 ran the lazy R1 phase


def test_resume_latest_and_option_precedence(data16, tmp_path, capsys):
    assert cli.main(["train", "--cfg", "stylegan2", "--data", data16, "--outdir", str(tmp_path), "--snap", "1",
                     *TINY_ARGS]) == 0
    capsys.readouterr()
    opts = tiny_options(data16, tmp_path, resume="latest", kimg=0.016, gamma=5.0)
    warnings = []
    resumed, path = train_cmd.resolve_resume(opts, warn=warnings.append)
    assert path.endswith("00000-stylegan2-d16-gpus1-batch4-gamma1/network-snapshot-000000.pkl")
    assert resumed.gamma == 1.0 and resumed.kimg == 0.016          # run settings kept, length extended
    assert any("--gamma 5.0" in w for w in warnings)
    rc = cli.main(["train", "--cfg", "stylegan2", "--data", data16, "--outdir", str(tmp_path), "--snap", "1",
                   "--resume", "latest", *TINY_ARGS[:-2], "--kimg", "0.012", "--tick", "0.004"])
    assert rc == 0
    records = [json.loads(ln) for ln in (tmp_path / "00001-stylegan2-d16-gpus1-batch4-gamma1" / "stats.jsonl")
               .read_text().splitlines()]
    assert [r["kimg"] for r in records] == [0.012]                 # continued from kimg 0.008
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["train", "--cfg", "stylegan2", "--data", data16, "--outdir", str(empty), "--resume", "latest",
                     *TINY_ARGS]) == 2
    assert "no network-snapshot" in capsys.readouterr().err


def test_resume_from_nvidia_pickle_starts_from_its_weights(tmp_path):
    from networks import load_network_pkl
    fixture = load_network_pkl("tests/data/nvidia-compat/sg2-32/network.pkl")
    data = make_zip(tmp_path / "d32.zip", res=32, count=4)
    opts = tiny_options(data, tmp_path, resume="tests/data/nvidia-compat/sg2-32/network.pkl", aug="noaug")
    t = Trainer(opts, resume_data=fixture, log=lambda m: None)
    assert t.counters.cur_nimg == 0 and t.G.z_dim == fixture["G"].z_dim
    for name, want in fixture["G_ema"].state_dict().items():
        torch.testing.assert_close(t.G_ema.state_dict()[name], want, rtol=0, atol=0)
    for name, want in fixture["D"].state_dict().items():
        torch.testing.assert_close(t.D.state_dict()[name], want, rtol=0, atol=0)
    stats = _run_steps(t, 1)[0]
    assert math.isfinite(stats["Loss/G/loss"])
    bad = make_zip(tmp_path / "d16.zip", res=16, count=4)
    with pytest.raises(Exception, match="32px"):
        Trainer(tiny_options(bad, tmp_path), resume_data=fixture, log=lambda m: None)


def test_fine_tuning_keeps_the_pretrained_average(tmp_path):
    """NVIDIA's train.py on --resume: no EMA ramp-up, ada_kimg 100, no SG3-R blur. At the first step
    G_ema moves toward G by exactly 1 - beta, beta = 0.5 ** (batch / (ema_kimg * 1000)); with the
    ramp-up (beta = 0 at cur_nimg 0) the pretrained G_ema was overwritten by G."""
    from networks import load_network_pkl
    fixture = load_network_pkl("tests/data/nvidia-compat/sg2-32/network.pkl")
    torch.manual_seed(0)
    with torch.no_grad():                           # the fixture's G equals its G_ema: make them differ
        for p in fixture["G"].parameters():
            p.add_(torch.randn_like(p) * 0.05)
    data = make_zip(tmp_path / "d32.zip", res=32, count=8)
    opts = tiny_options(data, tmp_path, aug="ada", ada_interval=1, target=0.0, ema_kimg=0.5)
    t = Trainer(opts, resume_data=fixture, log=lambda m: None)
    assert (t.opts.finetune, t.opts.ema_rampup, t.opts.ada_kimg) == (True, None, 100)
    ema0 = {n: p.detach().clone() for n, p in t.G_ema.named_parameters()}
    _run_steps(t, 1)
    beta = 0.5 ** (4 / 500)
    G = dict(t.G.named_parameters())
    for n, p in t.G_ema.named_parameters():
        torch.testing.assert_close(p.detach(), G[n].detach() * (1 - beta) + ema0[n] * beta, rtol=1e-6, atol=1e-7)
    moved = sum(float((p.detach() - ema0[n]).square().sum()) for n, p in t.G_ema.named_parameters()) ** 0.5
    gap = sum(float((G[n].detach() - ema0[n]).square().sum()) for n in ema0) ** 0.5
    assert moved / gap == pytest.approx(1 - beta, rel=1e-4)
    assert t.augment_pipe.p.item() == pytest.approx(4 / 100_000)  # sign(r_t - 0) * batch / (ada_kimg * 1000)
    # Its snapshot continues as a fine-tune (the settings are part of the run), and -R loses its blur.
    assert TrainOptions.from_dict(t.resume_state()["options"]).finetune
    sg3r = load_network_pkl("tests/data/nvidia-compat/sg3r-32/network.pkl")
    r = Trainer(tiny_options(data, tmp_path, cfg="stylegan3-r", aug="noaug"), resume_data=sg3r, log=lambda m: None)
    assert r.loss.blur_sigma(0) == 0
    assert Trainer(tiny_options(data, tmp_path, aug="noaug"), log=lambda m: None).opts.ema_rampup == 0.05


def test_chunk_gradients_sum_and_ada_hears_both_d_passes(data16, tmp_path):
    """NVIDIA's accumulation: every --batch-gpu chunk adds interval * grad(chunk mean), so the optimiser
    sees the sum over chunks (not their mean); ADA's sign(D(real)) comes from the Dmain and R1 passes."""
    t = Trainer(tiny_options(data16, tmp_path, batch_gpu=2, aug="ada", ada_interval=100), log=lambda m: None)
    phases = {p.name: p for p in t.phases}
    steps = []                                                       # Gmain and Greg share one Adam
    for opt in {id(p.opt): p.opt for p in t.phases}.values():
        opt.step = lambda _opt=opt: steps.append([p.grad.clone() for g in _opt.param_groups for p in g["params"]])

    def unit_gradient(phase, real_img, real_c, z, gen_c, gain, cur_nimg):
        for p in phases[phase].params:                               # d(chunk loss)/d(param) = 1
            p.grad = torch.full_like(p, gain) if p.grad is None else p.grad + gain
        return {"Loss/G/loss": 0.0}

    real_accumulate, t.loss.accumulate = t.loss.accumulate, unit_gradient
    _run_steps(t, 1)
    intervals = {"Gmain": 1, "Greg": 4, "Dmain": 1, "Dreg": 16}
    seen = dict(zip([p.name for p in t.phases], steps))
    assert len(steps) == 4 and set(seen) == set(intervals)           # step 0 runs every phase, in order
    for name, grads in seen.items():
        assert all(torch.equal(g, torch.full_like(g, 2 * intervals[name])) for g in grads), name  # 2 chunks

    t.loss.accumulate = real_accumulate
    t2 = Trainer(tiny_options(data16, tmp_path, aug="ada", ada_interval=100), log=lambda m: None)
    it = t2._data_iterator()
    t2.step(it)
    assert t2.ada.count == 8                                         # Dmain + Dreg, 4 reals each
    t2.step(it)
    assert t2.ada.count == 12                                        # no R1 pass at step 1


def test_non_finite_loss_stops_with_the_step_and_keeps_the_snapshot(data16, tmp_path):
    from networks import load_network_pkl
    (tmp_path / "run").mkdir()
    t = Trainer(tiny_options(data16, tmp_path, aug="noaug"), run_dir=tmp_path / "run", log=lambda m: None)
    it = t._data_iterator()
    t.step(it)
    t.last_snapshot = t._write_snapshot()
    before = t.last_snapshot.read_bytes()
    with torch.no_grad():
        next(t.D.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged) as e:
        t.step(it)
    msg = str(e.value)
    assert "non-finite" in msg and "at step 1" in msg and "network-snapshot-000000.pkl" in msg and "\n" not in msg
    assert t.last_snapshot.read_bytes() == before
    assert load_network_pkl(t.last_snapshot)["resume"]["counters"]["batch_idx"] == 1


def test_cli_rejects_bad_input(data16, tmp_path, capsys):
    base = ["train", "--cfg", "stylegan2", "--outdir", str(tmp_path)]
    cases = [
        (["--data", str(tmp_path / "missing.zip"), *TINY_ARGS], "--data"),
        (["--data", data16, "--cond", *TINY_ARGS], "labels"),
        (["--data", data16, "--nproc", "3", *TINY_ARGS], "multiple of --nproc"),
        (["--data", data16, "--metrics", "eqt", *TINY_ARGS], "StyleGAN3"),
        (["--data", data16, "--num-layers", "8", *TINY_ARGS], "StyleGAN3"),
        (["--data", data16, "--resume", str(tmp_path / "nope.pkl"), *TINY_ARGS], "no such file"),
    ]
    for extra, needle in cases:
        assert cli.main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not any(p.is_dir() for p in tmp_path.iterdir())        # nothing started, no run folder


@pytest.mark.parametrize("cfg", ["stylegan3-t", "stylegan3-r"])
def test_stylegan3_conditional_run_with_equivariance_metrics(tmp_path, cfg):
    from networks import load_network_pkl
    data = make_zip(tmp_path / "c16.zip", res=16, count=12, classes=3)
    run = tmp_path / "run"
    run.mkdir()
    opts = tiny_options(data, tmp_path, cfg=cfg, cond=True, metrics=("eqt", "eqr"), metric_samples=2)
    t = Trainer(opts, run_dir=run, log=lambda m: None)
    assert t.loss.blur_sigma(0) == (10.0 if cfg == "stylegan3-r" else 0.0)   # -R blurs D's input at first
    path = t.run()
    data_out = load_network_pkl(path)
    G = data_out["G_ema"]
    assert G.arch == cfg and G.c_dim == 3 and G.img_resolution == 16
    for name in ("eqt", "eqr"):
        rec = json.loads((run / f"metric-{name}.jsonl").read_text().splitlines()[-1])
        assert rec["metric"] == name and rec["unit"] == "dB" and rec["snapshot_pkl"] == path.name
        assert math.isfinite(rec["results"][name]) and rec["results"][name] > 0
    stats = [json.loads(ln) for ln in (run / "stats.jsonl").read_text().splitlines()]
    assert "Metrics/eqt" in stats[-1] and stats[-1]["snapshot"] == path.name
    c = torch.eye(3)
    img = G(torch.randn(3, G.z_dim), c, noise_mode="const")
    assert img.shape == (3, 3, 16, 16) and torch.isfinite(img).all()
    assert not torch.allclose(img[0], img[1])                        # the label reaches the image


def test_fine_tune_from_a_tensorflow_pickle(tmp_path):
    from networks import load_network_pkl
    path = "tests/data/nvidia-compat/sg2-tf-32/network.pkl"
    fixture = load_network_pkl(path)
    assert fixture["format"] == "nvidia-tensorflow"
    data = make_zip(tmp_path / "d32.zip", res=32, count=4)
    t = Trainer(tiny_options(data, tmp_path, resume=path, aug="noaug"), resume_data=fixture, log=lambda m: None)
    for key in ("G", "D", "G_ema"):
        for name, want in fixture[key].state_dict().items():
            torch.testing.assert_close(getattr(t, key).state_dict()[name], want, rtol=0, atol=0)
    before = [p.detach().clone() for p in t.G.parameters()]
    stats = _run_steps(t, 1)[0]
    assert math.isfinite(stats["Loss/G/loss"]) and math.isfinite(stats["Loss/D/loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, t.G.parameters()))  # the step trained G


def test_num_layers_sets_the_stylegan3_depth():
    from networks.training.options import network_configs
    g, _ = network_configs(tiny_options("d.zip", "out", cfg="stylegan3-t", num_layers=8), 32, 3, 0)
    assert g.num_layers == 8 and g.num_ws == 10
    g, _ = network_configs(tiny_options("d.zip", "out", cfg="stylegan3-t"), 32, 3, 0)
    assert g.num_layers == 14                                        # NVIDIA's depth unless asked


def test_export_model_drops_the_resume_state_and_still_fine_tunes(data16, tmp_path):
    import subprocess
    import sys
    from networks import load_network_pkl
    from networks.training.snapshot import fakes_grid
    run = tmp_path / "run"
    run.mkdir()
    t = Trainer(tiny_options(data16, tmp_path), run_dir=run, log=lambda m: None)
    snapshot = t.run()
    dest = tmp_path / "assets" / "model.pkl"
    r = subprocess.run([sys.executable, "scripts/export_model.py", str(run), "--dest", str(dest)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = load_network_pkl(dest)
    assert {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs", "provenance"} <= set(out)
    assert "resume" not in out and out["provenance"]["kimg"] == 0.008
    assert dest.stat().st_size < 0.7 * snapshot.stat().st_size      # no optimiser moments
    grid = np.asarray(Image.open(tmp_path / "assets" / "model-fakes.png"))
    np.testing.assert_array_equal(grid, fakes_grid(out["G_ema"]))
    np.testing.assert_array_equal(grid, np.asarray(Image.open(run / "fakes.png")))  # the run's own picture
    t2 = Trainer(tiny_options(data16, tmp_path, resume=str(dest)), resume_data=out, log=lambda m: None)
    assert t2.counters.cur_nimg == 0 and math.isfinite(_run_steps(t2, 1)[0]["Loss/G/loss"])
    bad = subprocess.run([sys.executable, "scripts/export_model.py", str(tmp_path / "none.pkl"), "--dest",
                          str(tmp_path / "x.pkl")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


def test_elapsed_time_format():
    from networks.training.loop import _hms
    assert [_hms(t) for t in (0, 59.9, 60, 184, 3599, 3600, 7500)] == \
        ["0s", "59s", "1m 00s", "3m 04s", "59m 59s", "1h 00m", "2h 05m"]
