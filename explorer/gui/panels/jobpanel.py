"""A panel that runs one BackgroundJob at a time (directions, projection, texture sticking): cancel, stop at close,
and the per-frame poll that moves its progress bar and hands over the finished job."""
from __future__ import annotations

from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.gui.panels.background import BackgroundJob
from explorer.gui.panels.base import Panel


class JobPanel(Panel):
    """Subclasses set self.job when they start one and build a progress bar as self.progress."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.job: Optional[BackgroundJob] = None
        self.progress = None

    def cancel(self) -> None:
        """Asks the job to stop after its current step; never waits for it (the window keeps drawing)."""
        if self.job is not None:
            self.job.cancel.set()

    def stop(self) -> None:
        """At close: cancel and wait for the helper thread."""
        if self.job is not None:
            self.job.stop()

    def finished_job(self) -> Optional[BackgroundJob]:
        """Called every frame: shows the job's progress; returns it once done (then no job runs), else None."""
        job = self.job
        if job is None:
            return None
        if self.progress is not None:
            dpg.set_value(self.progress, job.progress)
        if not job.done.is_set():
            return None
        self.job = None
        return job
