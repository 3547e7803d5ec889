"""Keyframe recipes: a video as a sequence of full RenderStates with frame counts between them.

JSON form: either a list of {"state": {...RenderState...}, "frames": N} or
{"keyframes": [...], "loop": bool, "kind": "linear"|"cubic", "fps": number}, or the <video>.recipe.json written
beside a keyframe export (its "recipe" entry). Keyframe k's `frames` is the number of
frames from keyframe k (included) to keyframe k+1 (excluded); with loop the last keyframe leads back to the first,
without it the video ends on exactly the last keyframe (its `frames` is unused).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from explorer.engine.latents import sample_path
from explorer.engine.state import RenderState
from explorer.errors import UserError

# Fields blended between keyframes; all others step (they hold the earlier keyframe's value until the next one).
SMOOTH_FIELDS = ("x", "y", "trunc_psi", "translate_x", "translate_y", "rotate", "amplify_db", "fft_beta",
                 "fft_range_db")
RECIPE_KINDS = ("linear", "cubic")


@dataclass
class Keyframe:
    state: RenderState = field(default_factory=RenderState)
    frames: int = 60          # frames from this keyframe to the next

    def to_dict(self) -> dict:
        return {"state": self.state.to_dict(), "frames": self.frames}

    @classmethod
    def from_dict(cls, d) -> "Keyframe":
        if not isinstance(d, dict) or "state" not in d:
            raise UserError("each keyframe must be an object with 'state' and 'frames'")
        frames = d.get("frames", 60)
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise UserError(f"keyframe 'frames' must be a positive integer, not {frames!r}")
        return cls(state=RenderState.from_dict(d["state"]), frames=frames)


@dataclass
class Recipe:
    keyframes: list = field(default_factory=list)   # list[Keyframe]
    loop: bool = False
    kind: str = "linear"                             # 'linear' | 'cubic' (Catmull-Rom through the keyframes)
    fps: float = 30.0

    def to_dict(self) -> dict:
        return {"keyframes": [k.to_dict() for k in self.keyframes], "loop": self.loop, "kind": self.kind,
                "fps": self.fps}

    @classmethod
    def from_dict(cls, d) -> "Recipe":
        if isinstance(d, list):
            d = {"keyframes": d}
        if isinstance(d, dict) and "video" in d:  # the JSON beside an export
            if not isinstance(d.get("recipe"), (dict, list)):
                raise UserError("this JSON was written beside a seed-walk export, which has no keyframes; re-run it "
                                f"with its command line: {d.get('command', '(missing)')}")
            return cls.from_dict(d["recipe"])
        if not isinstance(d, dict) or not isinstance(d.get("keyframes"), list):
            raise UserError("a recipe is a list of keyframes or an object with a 'keyframes' list")
        unknown = sorted(set(d) - {"keyframes", "loop", "kind", "fps"})
        if unknown:
            raise UserError(f"unknown recipe field(s): {', '.join(unknown)}")
        loop, kind, fps = d.get("loop", False), d.get("kind", "linear"), d.get("fps", 30.0)
        if not isinstance(loop, bool):
            raise UserError("recipe 'loop' must be true or false")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)):
            raise UserError("recipe 'fps' must be a number")
        recipe = cls(keyframes=[Keyframe.from_dict(k) for k in d["keyframes"]], loop=loop, kind=kind, fps=float(fps))
        return recipe.validate()

    def validate(self) -> "Recipe":
        if not self.keyframes:
            raise UserError("the recipe has no keyframes")
        if not isinstance(self.kind, str) or self.kind not in RECIPE_KINDS:
            raise UserError(f"recipe kind must be one of {', '.join(RECIPE_KINDS)}, not {self.kind!r}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise UserError("recipe fps must be a positive number")
        for k in self.keyframes:
            k.state.validate()
        return self

    @property
    def total_frames(self) -> int:
        counts = [k.frames for k in self.keyframes]
        return sum(counts) if self.loop else sum(counts[:-1]) + 1

    def save(self, path) -> None:
        from networks.files import atomic_write_text
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path) -> "Recipe":
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise UserError(f"cannot read recipe {path}: {e.strerror or e}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"recipe {path} is not valid JSON (line {e.lineno}: {e.msg})")
        return cls.from_dict(data)

    # ------------------------------------------------------------------------------------------
    def positions(self) -> list[float]:
        """Keyframe position (fractional keyframe index) of every output frame."""
        out = []
        n = len(self.keyframes)
        last = n if self.loop else n - 1
        for i in range(last):
            f = self.keyframes[i].frames
            out += [i + j / f for j in range(f)]
        if not self.loop:
            out.append(float(n - 1))
        return out

    def state_at(self, t: float) -> RenderState:
        """The interpolated state at keyframe position t."""
        n = len(self.keyframes)
        i = int(np.floor(t)) % n if self.loop else min(int(np.floor(t)), n - 1)
        base = self.keyframes[i].state
        if n == 1:
            return base
        values = np.array([[float(getattr(k.state, f)) for f in SMOOTH_FIELDS] for k in self.keyframes])
        blended = sample_path(values, t, self.kind, self.loop)
        changes = {f: float(v) for f, v in zip(SMOOTH_FIELDS, blended)}
        ws = [k.state.w for k in self.keyframes]
        if all(w is not None for w in ws) and len({np.shape(w) for w in ws}) == 1:
            changes["w"] = np.asarray(sample_path(np.asarray(ws, dtype=np.float64), t, self.kind, self.loop)).tolist()
        return dataclasses.replace(base, **changes)

    def states(self) -> Iterator[RenderState]:
        for t in self.positions():
            yield self.state_at(t)
