"""Video export: `export_video(VideoSpec)` (CLI `sg-explorer video`, the GUI's export dialog); keyframe recipes."""
from explorer.video.export import ExportCancelled, export_video, sidecar_paths
from explorer.video.recipe import Keyframe, Recipe
from explorer.video.spec import VideoSpec

__all__ = ["ExportCancelled", "Keyframe", "Recipe", "VideoSpec", "export_video", "sidecar_paths"]
