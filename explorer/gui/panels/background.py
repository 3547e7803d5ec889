"""A job on a helper thread (sticking average, video export) whose progress and result the UI polls.

The job never touches Dear PyGui: it reports through plain attributes that the main thread reads. Its
thread runs at a lower priority, like the render worker's, so that the window keeps drawing while it works.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

from explorer.gui.engine_link import lower_thread_priority

JOB_NICE = 5


class BackgroundJob:
    def __init__(self, fn: Callable, name: str):
        """fn(progress: Callable[[float], None], cancel: threading.Event) -> result."""
        self.progress = 0.0
        self.result = None
        self.error: Optional[str] = None
        self.cancel = threading.Event()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        lower_thread_priority(JOB_NICE)
        try:
            self.result = fn(self._report, self.cancel)
        except Exception as e:   # shown as one line in the panel
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.done.set()

    def _report(self, fraction: float) -> None:
        self.progress = float(fraction)

    def stop(self, timeout: float = 10.0) -> None:
        self.cancel.set()
        self._thread.join(timeout)
