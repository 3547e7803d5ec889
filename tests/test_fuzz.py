"""Fuzzed checkpoints: every truncation or byte flip loads, or raises CheckpointError, quickly."""
from pathlib import Path

import pytest

from hostile.fuzz import fuzz
from networks.errors import CheckpointError
from networks.pickles import safe_load

DATA = Path(__file__).parent / "data" / "nvidia-compat"


@pytest.mark.parametrize("fixture, seed", [("sg2-32", 1), ("sg2-tf-32", 2)])
def test_fuzz_safe_load(fixture, seed):
    data = (DATA / fixture / "network.pkl").read_bytes()
    report = fuzz(safe_load, data, cases=250, seed=seed, allowed=(CheckpointError,), per_case_s=5.0)
    print(f"{fixture}: {report.cases} cases, {report.loaded} loaded, {report.refused} refused, "
          f"{report.total_s:.1f} s, slowest {report.slowest[0]:.2f} s ({report.slowest[1]})")
    assert report.cases == 250
    assert not report.problems, "\n".join(report.problems[:20])
    assert report.refused > 50  # the mutations do reach the parser
    assert report.slowest[0] < 5.0
