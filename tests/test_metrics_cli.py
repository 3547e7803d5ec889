"""`sg-explorer metrics`: output, caching, errors (explorer.cli.main in this process).

A small random network stands in for the Inception (its 2048-d FID needs a minute of sqrtm here); the values
are checked against a numpy reference on the same network's features of the decoded images.
"""
import json
import pathlib
import pickle

import numpy as np
import pytest
import torch

from explorer.cli import main
from networks.metrics import features as feat
from test_metrics_fid import random_images, reference_fid, reference_mmd2, tiny_net, write_images

ROOT = pathlib.Path(__file__).resolve().parents[1]
SG2 = ROOT / "assets" / "default-sg2.pkl"
SG3 = ROOT / "assets" / "default-sg3t.pkl"


def run(capsys, *args):
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """The feature network replaced by tiny_net(); a fresh cache folder; returns the load count."""
    monkeypatch.setenv("SG_EXPLORER_CACHE", str(tmp_path / "cache"))
    loads = []

    def fake(path=None, device="cpu"):
        loads.append(path)
        return feat.FeatureNet(net=tiny_net().to(device), digest="tiny", dim=12)
    monkeypatch.setattr(feat, "feature_net", fake)
    return loads


@pytest.fixture
def sets(tmp_path):
    a = write_images(tmp_path / "a", random_images(6, seed=1), as_zip=False)
    b = write_images(tmp_path / "b.zip", random_images(6, seed=2, size=20), as_zip=True)
    return a, b, random_images(6, seed=1), random_images(6, seed=2, size=20)


def _features(images):
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).double() / 127.5 - 1
    with torch.no_grad():
        return tiny_net().double()(x).numpy()


def test_two_image_sets_json(capsys, tiny, sets, monkeypatch):
    a, b, ims_a, ims_b = sets
    code, out, err = run(capsys, "metrics", "none", "--ref", a, "--data", b, "--metrics", "fid,kid", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert list(got) == ["fid", "kid"]
    fa, fb = _features(ims_a), _features(ims_b)
    assert got["fid"] == pytest.approx(reference_fid(fa, fb), rel=1e-4)   # float32 features vs float64
    assert got["kid"] == pytest.approx(reference_mmd2(fa, fb), rel=1e-4, abs=1e-7)

    # Second run: both sets served from the content-addressed cache, no image decoded.
    def no_decoding(self, i):
        raise AssertionError("an image was decoded")
    monkeypatch.setattr(feat.ImageSet, "read", no_decoding)
    code, out2, err = run(capsys, "metrics", "none", "--ref", a, "--data", b, "--metrics", "fid,kid", "--json")
    assert code == 0, err
    assert json.loads(out2) == got
    assert "from the cache" in err


def test_text_output_one_line_per_metric(capsys, tiny, sets):
    a, b, _, _ = sets
    code, out, err = run(capsys, "metrics", "none", "--ref", a, "--data", b, "--metrics", "kid,fid,pr")
    assert code == 0, err
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["kid", "fid", "pr_precision", "pr_recall"]
    assert all(np.isfinite(float(ln.split()[1])) for ln in lines)


def test_generator_against_data_is_seeded(capsys, tiny, sets):
    _, b, _, _ = sets
    args = ["metrics", SG2, "--data", b, "--metrics", "fid", "--num", 5, "--json", "--device", "cpu"]
    first = run(capsys, *args)
    again = run(capsys, *args)
    other = run(capsys, *args, "--seed", 1)
    assert first[0] == again[0] == other[0] == 0, first[2]
    assert json.loads(first[1]) == json.loads(again[1])
    assert json.loads(first[1])["fid"] != json.loads(other[1])["fid"]
    assert len(tiny) == 3 and tiny[0] is None   # no --feature-net: the cache's file


@pytest.mark.parametrize("args, message", [
    (["none", "--ref", "MISSING", "--data", "B", "--metrics", "fid"], "MISSING: no such file or folder"),
    (["none", "--ref", "A", "--data", "B", "--metrics", "fid,bogus"], "unknown metric 'bogus'"),
    ([SG2, "--data", "B", "--metrics", "eqt", "--num", "2"], "eqt needs a StyleGAN3 generator"),
    ([SG2, "--metrics", "fid", "--num", "2"], "fid needs the real images: --data"),
    (["none", "--data", "B", "--metrics", "fid"], "--ref IMAGES"),
    ([SG3, "--ref", "A", "--data", "B", "--metrics", "fid"], "write 'none' in place of PKL"),
    (["MISSING.pkl", "--data", "B", "--metrics", "fid"], "MISSING.pkl"),
])
def test_errors_are_one_line(capsys, tiny, sets, args, message):
    a, b, _, _ = sets
    args = [{"A": a, "B": b}.get(x, x) if isinstance(x, str) else x for x in args]
    code, out, err = run(capsys, "metrics", *args)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_feature_net_missing_offline_says_where_to_get_it(capsys, sets, monkeypatch, tmp_path):
    a, b, _, _ = sets
    monkeypatch.setenv("SG_EXPLORER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(feat, "WEIGHTS_URL", "http://127.0.0.1:9/pt_inception-2015-12-05-6726825d.pth")
    code, out, err = run(capsys, "metrics", "none", "--ref", a, "--data", b, "--metrics", "fid")
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "--feature-net" in err and "127.0.0.1:9" in err


def test_feature_net_file_errors(capsys, sets, tmp_path):
    a, b, _, _ = sets
    (tmp_path / "pickle.pth").write_bytes(pickle.dumps(print))   # a pickle naming code: refused unrun
    for path, message in ((tmp_path / "nope.pth", "no such file"), (tmp_path / "pickle.pth", "not a plain")):
        code, out, err = run(capsys, "metrics", "none", "--ref", a, "--data", b, "--metrics", "fid",
                             "--feature-net", path)
        assert code != 0 and len(err.strip().splitlines()) == 1 and message in err, err


def test_train_writes_fid_kid_pr_as_nvidias_training_loop(tmp_path, tiny):
    """stylegan2 (no equivariance) with fid,kid,pr: metric-<name>.jsonl lines as NVIDIA's and Metrics/* in stats."""
    from networks.training.loop import Trainer
    from test_train import make_zip, tiny_options
    data = make_zip(tmp_path / "d16.zip", count=8)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    opts = tiny_options(data, tmp_path, metrics=("fid", "kid", "pr"), metric_samples=6)
    assert opts.validate() == []   # fid / kid / pr are allowed for every cfg
    path = Trainer(opts, run_dir=run_dir, log=lambda m: None).run()
    stats = [json.loads(ln) for ln in (run_dir / "stats.jsonl").read_text().splitlines()]
    for name, keys in (("fid", ["fid"]), ("kid", ["kid"]), ("pr", ["pr_precision", "pr_recall"])):
        lines = [json.loads(ln) for ln in (run_dir / f"metric-{name}.jsonl").read_text().splitlines()]
        rec = lines[-1]
        assert set(rec) >= {"results", "metric", "total_time", "total_time_str", "num_gpus", "snapshot_pkl",
                            "timestamp", "kimg"}
        assert rec["metric"] == name and list(rec["results"]) == keys and rec["snapshot_pkl"] == path.name
        assert rec["num_gpus"] == 1 and rec["total_time"] >= 0 and rec["total_time_str"].endswith("s")
        assert all(np.isfinite(rec["results"][k]) and stats[-1][f"Metrics/{k}"] == rec["results"][k] for k in keys)
    assert len(tiny) == 1   # the feature network loaded once for the whole run
    cached = list((tmp_path / "cache" / "metric-features").glob("*.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape == (8, 12)   # the data set's features, computed once


def test_train_metric_options_are_checked_before_training(tmp_path, capsys):
    from test_train import make_zip
    data = make_zip(tmp_path / "d16.zip", count=4)
    base = ["train", "--data", data, "--outdir", tmp_path / "out", "--batch", "4", "--gamma", "1", "--kimg", "0.004"]
    for extra, message in ((["--cfg", "stylegan2", "--metrics", "fid,eqr"], "eqr: equivariance needs a StyleGAN3"),
                           (["--cfg", "stylegan2", "--metrics", "fad"], "unknown fad")):
        code, out, err = run(capsys, *base, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_equivariance_and_fid_of_a_conditional_stylegan3(capsys, tiny, tmp_path):
    """eqt through the registry (networks.metrics.equivariance) next to fid; labels from the data set."""
    import json as _json
    import zipfile
    data = write_images(tmp_path / "c.zip", random_images(4, seed=8, size=32), as_zip=True)
    with zipfile.ZipFile(data, "a") as z:
        z.writestr("dataset.json", _json.dumps({"labels": [[f"sub/img{i:03d}.png", i % 3] for i in range(4)]}))
    pkl = ROOT / "tests" / "data" / "nvidia-compat" / "sg3t-32-cond" / "network.pkl"
    code, out, err = run(capsys, "metrics", pkl, "--data", data, "--metrics", "eqt,fid", "--num", 4, "--json")
    assert code == 0, err
    got = _json.loads(out)
    assert list(got) == ["eqt", "fid"] and got["eqt"] > 0 and np.isfinite(got["fid"])
    code, out, err = run(capsys, "metrics", pkl, "--metrics", "eqt", "--num", 4)   # eqt alone needs no data
    assert code == 0 and out.startswith("eqt") and out.strip().endswith("dB"), err
