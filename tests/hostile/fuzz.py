"""Deterministic mutation fuzzing of a loader: truncations and byte flips of a known-good file.

`fuzz(target, data, cases, seed)` calls `target(mutated_bytes)` for each mutation, each under a
wall-clock limit (SIGALRM), and reports every outcome other than "loaded" or one of the allowed
exception types. The target is a parameter so any loader (safe_load, load_network_pkl, ...) can be
fuzzed the same way.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import pickletools
import random
import signal
import time
from typing import Callable, Iterator


class CaseTimeout(BaseException):
    """Raised inside the target when a case runs past its limit (BaseException: loaders must not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise CaseTimeout()
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _structure_offsets(data: bytes) -> list[int]:
    """Byte offsets of the top-level pickle's opcodes (where a flip changes structure, not tensor data)."""
    offsets = []
    try:
        for _op, _arg, pos in pickletools.genops(data):
            offsets.append(pos)
    except Exception:
        pass
    return offsets or [0]


def mutations(data: bytes, cases: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """`cases` mutated copies of `data`: truncations, random byte flips, and flips aimed at opcodes and
    their arguments (including the nested storage streams, whose headers sit right after a BINBYTES)."""
    rng = random.Random(seed)
    ops = _structure_offsets(data)
    for i in range(cases):
        kind = i % 4
        if kind == 0:
            cut = rng.randrange(len(data)) if rng.random() < 0.7 else rng.choice(ops)
            yield f"truncate@{cut}", data[:cut]
            continue
        buf = bytearray(data)
        flips = []
        for _ in range(rng.randint(1, 4)):
            if kind == 1:
                pos = rng.randrange(len(buf))
            else:  # an opcode or one of the next bytes (its argument: a length, index or small int)
                pos = min(len(buf) - 1, rng.choice(ops) + rng.randrange(12 if kind == 2 else 64))
            buf[pos] = rng.randrange(256) if rng.random() < 0.7 else buf[pos] ^ (1 << rng.randrange(8))
            flips.append(pos)
        yield f"flip@{','.join(map(str, flips))}", bytes(buf)


@dataclasses.dataclass
class FuzzReport:
    cases: int = 0
    loaded: int = 0
    refused: int = 0
    refused_by: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # class name -> n
    problems: list = dataclasses.field(default_factory=list)
    slowest: tuple = (0.0, "")
    total_s: float = 0.0


def fuzz(target: Callable[[bytes], object], data: bytes, cases: int, seed: int, allowed: tuple,
         per_case_s: float = 5.0) -> FuzzReport:
    report = FuzzReport()
    start = time.perf_counter()
    for name, mutated in mutations(data, cases, seed):
        report.cases += 1
        t0 = time.perf_counter()
        try:
            with time_limit(per_case_s):
                target(mutated)
            report.loaded += 1
        except CaseTimeout:
            report.problems.append(f"{name}: ran past {per_case_s} s")
        except allowed as e:
            report.refused += 1
            report.refused_by[type(e).__name__] += 1
            if "\n" in str(e):
                report.problems.append(f"{name}: {type(e).__name__} message is not one line: {e!r}"[:300])
        except BaseException as e:  # noqa: BLE001 - anything else is exactly what we are looking for
            report.problems.append(f"{name}: {type(e).__name__}: {e}"[:300])
        dt = time.perf_counter() - t0
        report.slowest = max(report.slowest, (dt, name))
    report.total_s = time.perf_counter() - start
    return report


def summary(label: str, report: FuzzReport) -> str:
    refused = ", ".join(f"{n} {k}" for k, n in sorted(report.refused_by.items()))
    return (f"{label}: {report.cases} cases, {report.loaded} loaded, {report.refused} refused ({refused}), "
            f"{len(report.problems)} problems, {report.total_s:.1f} s, slowest {report.slowest[0]:.2f} s "
            f"({report.slowest[1]})")
