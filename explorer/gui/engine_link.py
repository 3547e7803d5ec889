"""The one place where the GUI imports the render engine and video export (a switch is a one-file change)."""
from explorer.engine import NetworkCache, RenderResult, RenderState, RenderWorker, render  # noqa: F401
from explorer.engine.latents import seed_plane_weights  # noqa: F401
from explorer.engine.state import DEVICES  # noqa: F401
from explorer.engine.worker import default_threads, lower_thread_priority  # noqa: F401
from explorer.engine.sticking import sticking_average  # noqa: F401
from explorer.video import ExportCancelled, Keyframe, Recipe, VideoSpec, export_video  # noqa: F401
