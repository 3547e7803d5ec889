"""VideoSpec: everything one export needs, checked up front so that bad input fails before any work."""
from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from explorer.engine.latents import INTERPOLATION_KINDS, parse_seeds
from explorer.engine.state import NOISE_MODES
from explorer.errors import UserError
from networks.files import check_writable_dir

VIDEO_EXTS = {".mp4": "mp4", ".webm": "webm", ".gif": "gif"}
FORMATS = ("mp4", "webm", "gif", "png")
DEFAULT_FPS = 30.0
CRF_MAX = {"mp4": 51, "webm": 63}  # libx264 and libvpx-vp9 constant-quality scales


_BITRATE = re.compile(r"^(?=.*[1-9])\d+(\.\d+)?[kKmM]?$")


def output_format(path: str) -> str:
    """'mp4' | 'webm' | 'gif' | 'png' (a folder of numbered PNGs: a path ending in '/' or without extension)."""
    p = str(path)
    if p.endswith(("/", os.sep)) or Path(p).suffix == "":
        return "png"
    ext = Path(p).suffix.lower()
    if ext not in VIDEO_EXTS:
        raise UserError(f"unknown output format {ext!r}; use .mp4, .webm, .gif, or a folder path ending in '/' "
                        f"(numbered PNG frames)")
    return VIDEO_EXTS[ext]


def parse_pair(text: str, what: str, sep: str = "x", kind=int) -> tuple:
    parts = str(text).lower().split(sep)
    try:
        if len(parts) != 2:
            raise ValueError
        a, b = kind(parts[0]), kind(parts[1])
    except ValueError:
        raise UserError(f"bad {what} {text!r}; expected two numbers like '2{sep}3'")
    return a, b


@dataclass
class VideoSpec:
    """One video export. Frame timing follows NVIDIA's gen_video.py: keyframes = len(seeds) // cells unless
    num_keyframes is given; frames = keyframes * w_frames with loop ((keyframes-1) * w_frames + 1 without).
    Frame k of a seed walk sits at path position k / w_frames (keyframe i at frame i * w_frames)."""

    checkpoint: str = ""                     # .pkl path or URL ('' with a recipe: use the recipe states' checkpoint)
    output: str = "video.mp4"                # .mp4 | .webm | .gif | folder/ (numbered PNGs)
    seeds: list = field(default_factory=lambda: [0])
    grid: tuple = (1, 1)                     # (columns, rows)
    num_keyframes: Optional[int] = None
    shuffle_seed: Optional[int] = None
    w_frames: int = 120                      # frames per keyframe transition
    kind: str = "cubic"                      # 'linear' | 'cubic' | 'slerp'
    space: Optional[str] = None              # 'w' | 'z'; None: 'z' for slerp, else 'w'
    loop: bool = True
    trunc_psi: float = 1.0
    trunc_cutoff: Optional[int] = None
    class_idx: Optional[int] = None
    noise_mode: str = "const"
    noise_seed: int = 0                      # noise_mode random: frame k draws from noise_seed + k
    which: str = "G_ema"
    device: str = "cpu"
    force_fp32: bool = False                 # CUDA: run fp16 layers in fp32 (slower, bit-closer to the CPU)
    fps: Optional[float] = None              # frames per second; None: the recipe's fps, else DEFAULT_FPS
    crf: Optional[int] = None                # H.264/VP9 constant rate factor (lower = better); default codec's
    bitrate: Optional[str] = None            # e.g. '8M'; excludes crf
    size: Optional[tuple] = None             # (width, height) of the output frames; None = natural size
    translate_anim: Optional[tuple] = None   # (radius in image widths, period in seconds): circular path
    rotate_anim: Optional[float] = None      # degrees per second
    untransform: bool = False
    layer: Optional[str] = None              # layer view instead of the output image
    channels: list = field(default_factory=lambda: [0, 1, 2])  # 1 or 3 channel indices of the layer
    amplify_db: float = 0.0
    normalize: bool = False
    side_by_side: Optional[str] = None       # second checkpoint rendered beside the first
    keyframes: Optional[str] = None          # recipe JSON path: render its interpolated RenderStates instead
    batch: int = 8                           # frames generated per batch
    command: str = ""                        # the equivalent command line (filled by `command_line`)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("grid", "size", "translate_anim"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "VideoSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"unknown video spec field(s): {', '.join(unknown)}")
        d = dict(d)
        for k in ("grid", "size", "translate_anim"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)

    # ------------------------------------------------------------------------------------------
    @property
    def format(self) -> str:
        return output_format(self.output)

    @property
    def cells(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def latent_space(self) -> str:
        return self.space or ("z" if self.kind == "slerp" else "w")

    @property
    def keyframe_count(self) -> int:
        if self.num_keyframes is not None:
            return self.num_keyframes
        return len(self.seeds) // self.cells

    @property
    def total_frames(self) -> int:
        k = self.keyframe_count
        return k * self.w_frames if self.loop else (k - 1) * self.w_frames + 1

    def validate(self) -> "VideoSpec":
        """Checks arguments and the output path (no network needed); raises UserError with one line."""
        fmt = self.format
        if not self.keyframes and not self.checkpoint:
            raise UserError("no checkpoint given")
        gw, gh = self.grid
        if gw < 1 or gh < 1:
            raise UserError(f"grid must be at least 1x1, not {gw}x{gh}")
        if not self.keyframes:
            if not self.seeds:
                raise UserError("no seeds given")
            if self.num_keyframes is not None:
                if self.num_keyframes < 1:
                    raise UserError("--num-keyframes must be at least 1")
            elif len(self.seeds) % self.cells != 0:
                raise UserError(f"{len(self.seeds)} seeds do not divide evenly among {self.cells} grid cells; "
                                f"give a multiple of {self.cells} seeds or --num-keyframes")
            if self.w_frames < 1:
                raise UserError("--w-frames must be at least 1")
            if self.kind not in INTERPOLATION_KINDS:
                raise UserError(f"--kind must be one of {', '.join(INTERPOLATION_KINDS)}, not {self.kind!r}")
            if self.space not in (None, "w", "z"):
                raise UserError(f"--space must be 'w' or 'z', not {self.space!r}")
            if self.kind == "slerp" and self.space == "w":
                raise UserError("slerp interpolates Gaussian z; use --space z (or --kind linear/cubic in w)")
        if self.noise_mode not in NOISE_MODES:
            raise UserError(f"--noise-mode must be one of {', '.join(NOISE_MODES)}")
        if self.fps is not None and not (math.isfinite(self.fps) and 0 < self.fps <= 1000):
            raise UserError("--fps must be a positive number (at most 1000)")
        if self.crf is not None and self.bitrate is not None:
            raise UserError("give --crf or --bitrate, not both")
        if (self.crf is not None or self.bitrate is not None) and fmt in ("gif", "png"):
            raise UserError(f"--crf/--bitrate apply to .mp4/.webm, not to {fmt} output")
        if self.crf is not None and not 0 <= self.crf <= CRF_MAX[fmt]:
            raise UserError(f"--crf for {fmt} must be between 0 and {CRF_MAX[fmt]}")
        if self.bitrate is not None and not _BITRATE.match(str(self.bitrate)):
            raise UserError(f"bad --bitrate {self.bitrate!r}; expected e.g. 800k or 8M")
        if self.size is not None and (self.size[0] < 1 or self.size[1] < 1 or max(self.size) > 8192):
            raise UserError(f"bad --size {self.size[0]}x{self.size[1]}")
        if self.translate_anim is not None:
            r, period = self.translate_anim
            if not period > 0:
                raise UserError("--translate-anim period must be positive seconds")
        if self.layer is not None and len(self.channels) not in (1, 3):
            raise UserError("--channels takes 1 or 3 channel indices, e.g. 0 or 0,1,2")
        if any(c < 0 for c in self.channels):
            raise UserError("--channels must be >= 0")
        if self.batch < 1:
            raise UserError("--batch must be at least 1")
        if self.trunc_cutoff is not None and self.trunc_cutoff < 0:
            raise UserError("--trunc-cutoff must be >= 0")
        check_output_path(self.output, fmt)
        return self


def check_output_path(output: str, fmt: str) -> None:
    """The destination folder must exist and be writable; a PNG folder must be new or empty."""
    out = Path(output)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {output}: folder {parent} does not exist")
    try:
        check_writable_dir(parent, create=False)
    except OSError as e:
        raise UserError(f"cannot write {output}: folder {parent} is not writable ({e.strerror or e})") from None
    if fmt == "png":
        if out.exists() and not out.is_dir():
            raise UserError(f"{output} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            raise UserError(f"frame folder {output} is not empty; choose a new or empty folder")
    elif out.is_dir():
        raise UserError(f"{output} is a folder; give a file name ending in .mp4, .webm or .gif")


def _arg(v) -> str:
    """repr keeps every digit of a float (':g' would round 0.1234567 and a re-run would differ)."""
    return repr(float(v)) if isinstance(v, float) else str(v)


def command_line(spec: VideoSpec, keyframes: Optional[str] = None) -> str:
    """`sg-explorer video ...` that reproduces the spec. keyframes: the recipe file the command should read
    (export passes the recipe JSON it writes beside the video, so the command outlives the original recipe)."""
    d = VideoSpec()
    a = ["sg-explorer", "video"]
    if spec.checkpoint:
        a.append(spec.checkpoint)
    a += ["--output", spec.output]
    if spec.keyframes or keyframes:
        a += ["--keyframes", keyframes or spec.keyframes]
    else:
        a += ["--seeds", format_seeds(spec.seeds), "--grid", f"{spec.grid[0]}x{spec.grid[1]}",
              "--w-frames", str(spec.w_frames), "--kind", spec.kind]
        if spec.num_keyframes is not None:
            a += ["--num-keyframes", str(spec.num_keyframes)]
        if spec.shuffle_seed is not None:
            a += ["--shuffle-seed", str(spec.shuffle_seed)]
        if spec.space is not None:
            a += ["--space", spec.space]
        a.append("--loop" if spec.loop else "--no-loop")
    simple = [("trunc_psi", "--trunc"), ("trunc_cutoff", "--trunc-cutoff"), ("class_idx", "--class"),
              ("noise_mode", "--noise-mode"), ("noise_seed", "--noise-seed"), ("which", "--net"),
              ("device", "--device"), ("fps", "--fps"), ("crf", "--crf"), ("bitrate", "--bitrate"),
              ("rotate_anim", "--rotate-anim"), ("layer", "--layer"), ("amplify_db", "--amplify-db"),
              ("side_by_side", "--side-by-side"), ("batch", "--batch")]
    for name, flag in simple:
        v = getattr(spec, name)
        if v is not None and v != getattr(d, name):
            a += [flag, _arg(v)]
    if spec.size is not None:
        a += ["--size", f"{spec.size[0]}x{spec.size[1]}"]
    if spec.translate_anim is not None:
        a += ["--translate-anim", f"{_arg(float(spec.translate_anim[0]))},{_arg(float(spec.translate_anim[1]))}"]
    if spec.untransform:
        a.append("--untransform")
    if spec.force_fp32:
        a.append("--fp32")
    if spec.layer is not None:
        a += ["--channels", ",".join(str(c) for c in spec.channels)]
    if spec.normalize:
        a.append("--normalize")
    return " ".join(shlex.quote(x) for x in a)


def format_seeds(seeds: list) -> str:
    """[0, 1, 2, 3, 7] -> '0-3,7' (parse_seeds' inverse)."""
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if j == i else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)


__all__ = ["VideoSpec", "FORMATS", "output_format", "parse_pair", "parse_seeds", "command_line", "format_seeds",
           "check_output_path"]
