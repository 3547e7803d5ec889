"""Two CPU processes (gloo) against one; SIGKILL during a snapshot write."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from networks.training.distributed import launch
from networks.training.loop import Trainer
from test_train import make_zip, tiny_options

STEPS = 5  # Covers the lazy R1 (step 0) and path-length (step 4) phases.


def _worker(info, opts, out_dir, gain_scale=1.0):
    """Runs STEPS steps; saves per-step stats and all parameters of this rank."""
    torch.set_num_threads(1)
    t = Trainer(opts, info, run_dir=None, log=lambda m: None)
    if gain_scale != 1.0:
        accumulate = t.loss.accumulate
        t.loss.accumulate = lambda *a, gain, **kw: accumulate(*a, gain=gain * gain_scale, **kw)
    it = t._data_iterator()
    stats = [t.step(it) for _ in range(STEPS)]
    params = {f"{k}.{n}": p.detach().clone() for k, net in (("G", t.G), ("D", t.D), ("G_ema", t.G_ema))
              for n, p in net.state_dict().items()}
    torch.save({"stats": stats, "params": params, "p": float(t.augment_pipe.p)},
               os.path.join(out_dir, f"rank{info.rank}.pt"))


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    data = make_zip(tmp_path / "d.zip")
    common = dict(aug="ada", ada_interval=2, target=0.0)
    single_dir, multi_dir = tmp_path / "one", tmp_path / "two"
    single_dir.mkdir(), multi_dir.mkdir()
    # Same global batch 4 in chunks of 2: one process accumulates two chunks, two processes one each.
    # NVIDIA's accumulation sums a process's chunks and averages processes, so the one process's
    # gradient is twice the two's: halving its gain compares everything else exactly.
    launch(_worker, (tiny_options(data, tmp_path, batch_gpu=2, **common), str(single_dir), 0.5), 1, "cpu")
    launch(_worker, (tiny_options(data, tmp_path, nproc=2, **common), str(multi_dir)), 2, "cpu")
    one = torch.load(single_dir / "rank0.pt")
    r0, r1 = torch.load(multi_dir / "rank0.pt"), torch.load(multi_dir / "rank1.pt")
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k          # ranks never drift apart
    for k, want in one["params"].items():
        torch.testing.assert_close(r0["params"][k], want, rtol=1e-4, atol=1e-5, msg=k)
    assert r0["stats"] == r1["stats"]
    for s1, s2 in zip(one["stats"], r0["stats"]):
        assert s1.keys() == s2.keys()
        for k in s1:
            assert s2[k] == pytest.approx(s1[k], rel=1e-4, abs=1e-5), k
    assert r0["p"] == r1["p"] == pytest.approx(one["p"]) and one["p"] > 0


CHILD = textwrap.dedent("""
    import os, sys, time, pathlib
    sys.path.insert(0, {tests!r})
    from test_train import tiny_options
    from networks.training.loop import Trainer
    run = pathlib.Path({run!r})
    t = Trainer(tiny_options({data!r}, {out!r}, aug="noaug"), run_dir=run, log=lambda m: None)
    it = t._data_iterator()
    t.step(it)
    t._write_snapshot()                      # the good snapshot (after step 1)
    (run / "first-done").touch()
    t.step(it)
    def stall(fd):                           # pause inside the next write, before the rename
        (run / "writing").touch()
        time.sleep(600)
    os.fsync = stall
    t._write_snapshot()
""")


@pytest.mark.slow
def test_sigkill_during_snapshot_write_keeps_the_previous_one(tmp_path):
    from networks import load_network_pkl
    from networks.runs import snapshots_newest_first
    data = make_zip(tmp_path / "d.zip")
    run = tmp_path / "00000-run"
    run.mkdir()
    code = CHILD.format(tests=os.path.dirname(__file__), run=str(run), data=data, out=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd())
    try:
        deadline = time.time() + 120
        while not (run / "writing").exists():
            assert child.poll() is None, "child exited early"
            assert time.time() < deadline
            time.sleep(0.05)
        first = (run / "network-snapshot-000000.pkl").read_bytes()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    snaps = snapshots_newest_first(tmp_path)
    assert snaps == [run / "network-snapshot-000000.pkl"]
    assert snaps[0].read_bytes() == first
    assert load_network_pkl(snaps[0])["resume"]["counters"]["batch_idx"] == 1
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")]      # the interrupted temp file
