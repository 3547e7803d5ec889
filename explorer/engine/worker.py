"""RenderWorker: renders RenderStates on a background thread so the GUI thread never waits.

The mailbox holds one request: `submit` replaces a request that has not started yet, so a burst of slider
changes costs one render, not one per change. `poll` hands out the newest finished result once.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional

import torch

from explorer.engine.cache import NetworkCache
from explorer.engine.renderer import RenderResult, render
from explorer.engine.state import RenderState


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception as one user-facing line (first line of the message, type name for unexpected errors)."""
    from explorer.errors import UserError
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    expected = isinstance(e, UserError) or type(e).__name__.endswith("CheckpointError")
    text = msg if expected and msg else f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def default_threads() -> int:
    """Leave one of the cores this process may use (networks.threads.available_cores) to the GUI thread."""
    from networks.threads import available_cores
    return max(1, available_cores() - 1)


def lower_thread_priority(nice: int) -> bool:
    """Raises the calling thread's nice value by `nice` (Linux: per thread), so that a window's drawing
    threads win a contended core; False where the platform cannot. Lowering priority needs no privilege."""
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        return True
    except OSError:
        return False


class RenderWorker:
    """Background renderer.

    loader(state) -> G returns the network for a state (default: a NetworkCache keyed by checkpoint/which/device);
    render_fn(G, state) -> RenderResult (default: engine.render). torch_threads caps torch's intra-op threads on the
    worker (None: cores - 1). nice lowers the worker thread's priority. post(result), when given, runs on the
    worker thread after each good render: a consumer's preparation of `result.display` (e.g. pixels packed for
    its screen), kept off the consumer's own thread; an exception in it makes the result an error.
    """

    def __init__(self, cache: Optional[NetworkCache] = None, loader: Optional[Callable] = None,
                 render_fn: Optional[Callable] = None, torch_threads: Optional[int] = None, nice: int = 0,
                 post: Optional[Callable[[RenderResult], None]] = None):
        self.cache = cache or NetworkCache()
        self._loader = loader or (lambda s: self.cache.get(s.checkpoint, s.which, s.device))
        self._render = render_fn or render
        self._threads = torch_threads if torch_threads is not None else default_threads()
        self._nice = nice
        self._post = post
        self._cond = threading.Condition()
        self._pending: Optional[tuple[int, RenderState]] = None
        self._result: Optional[RenderResult] = None
        self._serial = 0
        self._closed = False
        self.renders_done = 0       # renders finished (good or failed)
        self.busy = False           # a render is running now
        self._thread = threading.Thread(target=self._run, name="render-worker", daemon=True)
        self._thread.start()

    def submit(self, state: RenderState) -> int:
        """Queues state, replacing any request not yet started. Returns its serial number."""
        with self._cond:
            if self._closed:
                raise RuntimeError("render worker is closed")
            self._serial += 1
            self._pending = (self._serial, state)
            self._cond.notify()
            return self._serial

    def poll(self) -> Optional[RenderResult]:
        """The newest finished result not handed out before, or None."""
        with self._cond:
            result, self._result = self._result, None
            return result

    def wait(self, serial: Optional[int] = None, timeout: float = 30.0) -> Optional[RenderResult]:
        """Blocks until the result for `serial` (default: the last submitted) is ready; for tests and scripts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._serial if serial is None else serial
            while not (self._result is not None and self._result.serial >= target):
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(left)
            result, self._result = self._result, None
            return result

    def cpu_seconds(self) -> float:
        """CPU time the worker thread has used (0.0 where the platform has no per-thread clock)."""
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))
        except (AttributeError, OSError, TypeError):
            return 0.0

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self.busy

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        torch.set_num_threads(self._threads)
        lower_thread_priority(self._nice)
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                serial, state = self._pending
                self._pending = None
                self.busy = True
            t0 = time.perf_counter()
            try:
                result = self._render(self._loader(state), state)
                if self._post is not None and result.error is None:
                    self._post(result)
            except Exception as e:  # a bad state must not kill the worker: it becomes a one-line error
                result = RenderResult(error=one_line(e), state=state,
                                      render_ms=(time.perf_counter() - t0) * 1000.0)
            result.serial, result.state = serial, state
            with self._cond:
                self.busy = False
                self.renders_done += 1
                self._result = result
                self._cond.notify_all()
