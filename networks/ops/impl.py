"""Which implementation the ops use when a call does not say: 'fast' (the default) or 'ref'.

`with default_impl('ref'): G(z, c)` runs a whole network on the reference ops (benchmarks, tests).
The choice is a context variable, so each thread starts from 'fast' and one thread's choice never
leaks into another's.
"""
from __future__ import annotations

import contextlib
import contextvars

IMPLS = ("fast", "ref")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("sg_explorer_ops_impl", default="fast")


def _check(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl must be 'fast' or 'ref', got {impl!r}")
    return impl


def current_impl() -> str:
    """The implementation an op given impl=None uses in this thread."""
    return _current.get()


def resolve_impl(impl: str | None) -> str:
    """impl, or the current default when impl is None; anything else raises ValueError."""
    return _current.get() if impl is None else _check(impl)


@contextlib.contextmanager
def default_impl(impl: str):
    token = _current.set(_check(impl))
    try:
        yield
    finally:
        _current.reset(token)
