"""Fuzzed checkpoints: every truncation or byte flip loads, or raises CheckpointError, quickly.

500 mutations of the real fixtures go through the whole public loader (`load_network_pkl`: the
allow-list parser, the checks on the constructor settings, the build, the tensor copy), each under a
per-case time limit. UnsafeCheckpointError is a CheckpointError, counted apart in the summary.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from hostile.fuzz import fuzz, summary
from networks.checkpoint import load_bytes
from networks.errors import CheckpointError, UnsafeCheckpointError

DATA = Path(__file__).parent / "data" / "nvidia-compat"
PER_CASE_S = 5.0


def _load_and_check(blob: bytes):
    """load_network_pkl on the bytes; whatever loads must be usable networks with finite weights."""
    out = load_bytes(blob)
    for key in ("G", "D", "G_ema"):
        if key in out:
            assert isinstance(out[key], torch.nn.Module), key
            # numpy, not torch: torch's thread pool makes hundreds of tiny checks slow on a busy machine
            assert all(np.isfinite(t.numpy()).all() for t in out[key].state_dict().values()), key
    return out


# 500 cases in all, over every fixture format (StyleGAN2, -T with labels, -R, legacy TensorFlow StyleGAN2,
# StyleGAN v1 and ProGAN).
CASES = [("sg2-32", 1, 120), ("sg3t-32-cond", 2, 80), ("sg3r-32", 3, 80), ("sg2-tf-32", 4, 120),
         ("sg1-32", 5, 50), ("progan-32", 6, 50)]


@pytest.mark.parametrize("fixture, seed, cases", CASES)
def test_fuzz_load_network_pkl(fixture, seed, cases):
    data = (DATA / fixture / "network.pkl").read_bytes()
    report = fuzz(_load_and_check, data, cases=cases, seed=seed, allowed=(CheckpointError, UnsafeCheckpointError),
                  per_case_s=PER_CASE_S)
    print(summary(f"load_network_pkl {fixture}", report))
    assert report.cases == cases
    assert not report.problems, "\n".join(report.problems[:20])
    # The mutations reach the parser and the builder, and some (flips inside tensor data) are harmless.
    assert report.refused > cases // 5 and report.loaded > cases // 20
    assert report.slowest[0] < PER_CASE_S


def test_fuzz_catches_what_it_should():
    """The harness itself: a loader raising a foreign error, or hanging, is reported, not passed."""
    import time

    def bad(blob):
        if blob[:1] == b"\x80":
            raise ZeroDivisionError("boom")
        time.sleep(10)

    report = fuzz(bad, b"\x80\x04" + b"\x00" * 64, cases=8, seed=0, allowed=(CheckpointError,), per_case_s=0.2)
    assert len(report.problems) == 8
    assert any("ZeroDivisionError" in p for p in report.problems) and any("ran past" in p for p in report.problems)
