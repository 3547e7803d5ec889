"""The CPU thread policy of every entry point: CLI commands, the window's render worker and `import networks`.

Chosen by measurement on a 2-core machine, StyleGAN3-T 256x256, batch 1, fast ops, s/image (medians of
alternating runs in fresh processes; other users shared the machine throughout, so figures are +-30%):

    setting                                 quiet     beside one busy process
    2 threads, libgomp default spin         2.9       7.5 - 12   (2.5 - 4x; the issue saw 26 - 61 s)
    2 threads, OMP_WAIT_POLICY=PASSIVE      4.4       3.7 - 6.3  (under 1.5x of its quiet time)
    2 threads, GOMP_SPINCOUNT=20000         2 - 17    (erratic)
    1 thread                                4.3       see bench --contended
    reference ops, 2 threads, default       13        (NVIDIA-style plain ops)

Intra-op threads that spin at every barrier burn the core another process needs, and every parallel region then
waits for a thread that is not running: the render collapses. PASSIVE threads sleep at barriers instead; that
costs some speed alone and keeps a shared machine usable. torch's bundled libgomp reads OMP_WAIT_POLICY when
it is loaded (with torch), so the policy is set in os.environ before the first `import torch` of the process:
`networks/__init__.py` and `explorer/__init__.py` call configure_environment() first thing. A script that imports
torch before networks keeps torch's defaults (the policy cannot be changed afterwards).

Thread count: the cores this process may use (sched_getaffinity, and a cgroup CPU quota, which affinity does not
show: a container limited to 2 CPUs on a 16-core host would otherwise run 16 threads on 2 cores). One thread for
batch 1 is slower on a quiet machine (4.3 s against 2.9 s), so all available cores are used. Inter-op threads
are left alone: nothing here uses inter-op parallelism (torch.jit.fork), so their count changes no figure.
Explicit OMP_WAIT_POLICY / OMP_NUM_THREADS in the environment always win.
"""
from __future__ import annotations

import math
import os
import sys

WAIT_POLICY = "PASSIVE"   # see the table above


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by a cgroup v2 / v1 quota under root (e.g. docker --cpus), None when unlimited or unknown."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def available_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup quota (rounded up), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def configure_environment() -> None:
    """Before torch is loaded: the OpenMP wait policy, and a thread count where a quota hides fewer cores than the
    affinity mask shows. Settings already in the environment are kept. Idempotent."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    if "OMP_NUM_THREADS" not in os.environ:
        cores = available_cores()
        try:
            shown = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            shown = os.cpu_count() or 1
        if cores < shown:
            os.environ["OMP_NUM_THREADS"] = str(cores)


def torch_loaded_first() -> bool:
    """True when torch was imported before configure_environment could set the policy (a user's script that
    imports torch first): its OpenMP runtime then runs with its own defaults."""
    return "torch" in sys.modules and not _configured_before_torch


def describe() -> str:
    """One line for benchmarks and the window's status: the policy in force."""
    import torch
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    late = " (torch was imported first: libgomp's defaults apply)" if torch_loaded_first() else ""
    return (f"{torch.get_num_threads()} intra-op threads of {available_cores()} available cores, "
            f"OMP_WAIT_POLICY={policy}{late}")


_configured_before_torch = "torch" not in sys.modules
configure_environment()
