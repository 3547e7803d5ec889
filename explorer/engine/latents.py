"""Seeds, the seed plane and latent interpolation.

Conventions shared by the GUI, `sg-explorer images` and video export:
- a seed s gives z = numpy.random.RandomState(s).randn(z_dim) (NVIDIA's tools), so a seed means the same image everywhere;
- the seed plane maps a fractional point (x, y) to up to four integer seeds with bilinear weights;
- paths through a sequence of latents are sampled at a fractional position t (t = k is exactly key k).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from explorer.errors import UserError

SEED_MODULUS = 2 ** 32  # RandomState accepts seeds in [0, 2**32).


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """z for a seed: float32 [z_dim], standard normal from RandomState(seed)."""
    return np.random.RandomState(int(seed) % SEED_MODULUS).randn(z_dim).astype(np.float32)


def seeds_to_z(seeds: Sequence[int], z_dim: int) -> np.ndarray:
    """Stacked seed_to_z: float32 [N, z_dim]."""
    return np.stack([seed_to_z(s, z_dim) for s in seeds]) if len(seeds) else np.zeros((0, z_dim), np.float32)


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]. Ranges are inclusive; order and duplicates are kept.

    Raises UserError on bad syntax, a reversed range or a seed outside [0, 2**32).
    """
    if text is None or not str(text).strip():
        raise UserError("no seeds given; expected e.g. '0-3,7'")
    seeds: list[int] = []
    for part in str(text).split(","):
        m = _RANGE.match(part)
        if not m:
            raise UserError(f"bad seed list {text!r}: {part.strip()!r} is not a number or a range like '0-3'")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UserError(f"bad seed range {part.strip()!r}: the end is below the start")
        if hi >= SEED_MODULUS:
            raise UserError(f"seed {hi} is out of range; seeds are 0 .. {SEED_MODULUS - 1}")
        if hi - lo >= 1_000_000:
            raise UserError(f"seed range {part.strip()!r} is too long (over a million seeds)")
        seeds.extend(range(lo, hi + 1))
    return seeds


def format_seeds(values: Sequence[int]) -> str:
    """[0, 1, 2, 3, 7] -> '0-3,7': the inverse of parse_seeds, runs of consecutive values as ranges."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs)


def seed_plane_weights(x: float, y: float, step_y: int = 100) -> list[tuple[int, float]]:
    """Integer seeds around the point (x, y) of the seed plane and their bilinear weights.

    Neighbour (sx, sy) = (floor(x)+dx, floor(y)+dy), dx, dy in {0, 1}; its seed is (sx + sy*step_y) mod 2**32
    and its weight (1-|x-sx|) * (1-|y-sy|). Neighbours of zero weight are left out, so an integer point
    yields exactly one seed with weight 1. The weights sum to 1.
    """
    fx, fy = math.floor(x), math.floor(y)
    out: list[tuple[int, float]] = []
    for dy in (0, 1):
        for dx in (0, 1):
            sx, sy = fx + dx, fy + dy
            weight = (1.0 - abs(x - sx)) * (1.0 - abs(y - sy))
            if weight > 0:
                out.append(((int(sx) + int(sy) * int(step_y)) % SEED_MODULUS, float(weight)))
    return out


# ------------------------------------------------------------------------------------------------
# Interpolation. Work on numpy arrays or torch tensors of any shape ([..., dim] for slerp).

def lerp(a, b, t: float):
    """Straight line: a at t=0, b at t=1."""
    return a + (b - a) * t


def slerp(a: np.ndarray, b: np.ndarray, t: float, eps: float = 1e-7) -> np.ndarray:
    """Spherical interpolation along the last axis, for Gaussian z: keeps the norm typical of samples.

    The angle is measured between the directions; the magnitude is interpolated linearly. Nearly parallel
    vectors fall back to lerp (the great circle is undefined there).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    ua = a / np.maximum(na, eps)
    ub = b / np.maximum(nb, eps)
    cos = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    small = sin < 1e-6
    safe_sin = np.where(small, 1.0, sin)
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * omega) / safe_sin)
    wb = np.where(small, t, np.sin(t * omega) / safe_sin)
    direction = wa * ua + wb * ub
    direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), eps)
    return (direction * ((1.0 - t) * na + t * nb)).astype(np.float32)


def catmull_rom(p0, p1, p2, p3, t: float):
    """Uniform Catmull-Rom segment between p1 (t=0) and p2 (t=1); p0 and p3 set the tangents."""
    t2, t3 = t * t, t * t * t
    return 0.5 * ((2 * p1) + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (3 * p1 - p0 - 3 * p2 + p3) * t3)


def _key(keys, i: int, loop: bool):
    n = len(keys)
    return keys[i % n] if loop else keys[min(max(i, 0), n - 1)]


def path_length(num_keys: int, loop: bool) -> int:
    """Number of segments of a path through num_keys keys: with loop the last key leads back to the first."""
    return num_keys if loop else max(num_keys - 1, 0)


def sample_path(keys, t: float, kind: str = "linear", loop: bool = True):
    """A point on the path through keys [K, ...] at position t (key k at t = k).

    kind: 'linear' (lerp), 'slerp' (great circle, for z) or 'cubic' (Catmull-Rom: passes through every key,
    continuous first derivative, so there is no kink at keys). With loop, t wraps modulo K and the
    segment K-1 -> 0 is like any other; without, t is clamped to [0, K-1] and the end tangents use the
    end keys themselves.
    """
    n = len(keys)
    if n == 0:
        raise ValueError("sample_path needs at least one key")
    if n == 1:
        return keys[0]
    if loop:
        t = t % n
    else:
        t = min(max(t, 0.0), n - 1.0)
    i = int(math.floor(t))
    if not loop and i >= n - 1:
        i = n - 2
    f = t - i
    a, b = _key(keys, i, loop), _key(keys, i + 1, loop)
    if kind == "linear":
        return lerp(a, b, f)
    if kind == "slerp":
        return slerp(a, b, f)
    if kind == "cubic":
        return catmull_rom(_key(keys, i - 1, loop), a, b, _key(keys, i + 2, loop), f)
    raise ValueError(f"unknown interpolation kind {kind!r}; expected linear, slerp or cubic")


INTERPOLATION_KINDS = ("linear", "cubic", "slerp")
