"""The thread policy (networks.threads) reaches every entry point before torch loads, and `bench --contended`
measures what it claims: quiet and contended figures, with the busy process gone afterwards."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from networks import benchmark, threads

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import os, sys; import {module}; "
         "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('OMP_NUM_THREADS'), 'torch' in sys.modules)")


def _probe(module: str, **env) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True,
                       env=dict(base, PYTHONPATH=str(ROOT), **env), timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("module", ["networks", "explorer", "explorer.cli"])
def test_entry_points_set_the_wait_policy_before_torch_loads(module):
    policy, _, torch_loaded = _probe(module)
    assert policy == "PASSIVE" and torch_loaded == "False"     # set while libgomp can still read it


def test_the_users_own_settings_win():
    assert _probe("networks", OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="3")[:2] == ["ACTIVE", "3"]


def test_available_cores_follows_the_affinity_mask():
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from networks.threads import available_cores; print(available_cores())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.stdout.strip() == "1", r.stderr


def test_cgroup_quota_is_read_in_both_layouts(tmp_path):
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.max").write_text("150000 100000\n")          # docker --cpus 1.5
    assert threads.cgroup_cpu_limit(str(tmp_path / "v2")) == 1.5
    (tmp_path / "v2" / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(str(tmp_path / "v2")) is None
    (tmp_path / "v1" / "cpu").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "v1" / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(str(tmp_path / "v1")) == 2.0
    assert threads.cgroup_cpu_limit(str(tmp_path / "none")) is None


def test_speed_words_never_read_backwards():
    assert benchmark.speed_words(1.0, 2.5) == "2.50x faster"
    assert benchmark.speed_words(1.3, 1.0) == "1.30x slower"


def test_busy_process_runs_only_inside_the_block():
    with benchmark.busy_process() as proc:
        assert proc.poll() is None
    assert proc.poll() is not None


@pytest.mark.slow
def test_bench_contended_prints_quiet_and_contended_side_by_side(capsys):
    rows = benchmark.bench_contended(archs=("stylegan2",), res=16, repeats=1, impls=("fast", "ref"))
    out = capsys.readouterr().out
    assert [(r.arch, r.impl) for r in rows] == [("stylegan2", "fast"), ("stylegan2", "ref")]
    assert all(r.quiet > 0 and r.contended > 0 for r in rows)
    assert "quiet s/img" in out and "contended" in out and "OMP_WAIT_POLICY=PASSIVE" in out
    assert ("faster" in out) != ("slower" in out)


def test_bench_warns_that_one_repeat_is_no_stable_figure(capsys):
    from explorer.cli import main
    assert main(["bench", "--arch", "stylegan2", "--res", "16", "--repeats", "1", "--impl", "fast"]) == 0
    err = capsys.readouterr().err
    assert "--repeats 1" in err and "not stable" in err
