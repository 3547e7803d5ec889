"""Semantic directions in W: SeFa and GANSpace, applying edits to ws, and direction files.

- SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021): the style weights of
  the chosen layers (networks.edit.styles) stacked as rows A [R, w_dim], each row scaled to unit length; the
  directions are the eigenvectors of A^T A by descending eigenvalue; `values` are those eigenvalues.
- GANSpace (Harkonen et al., "GANSpace: Discovering Interpretable GAN Controls", NeurIPS 2020): PCA of w sampled
  through the mapping network; components by descending variance; `values` are the standard deviations.

Strength unit: an edit of strength s moves w by s * std * direction, where std is the standard deviation of the
mapped w along that direction (`stds`): GANSpace's own values; for SeFa measured on `std_samples` mapped seeds
(the eigenvalues are not lengths in W). So strength 1 is "one typical spread" for both methods.
Signs: every direction is flipped so that its largest-magnitude entry is positive (eigenvectors have no sign).

Direction file (.npz, no pickles): `directions` [K, w_dim] float32 unit rows, `values` [K] float32, `stds` [K]
float32, `method` ('sefa' | 'ganspace'), `layers` [L] int64 (the w indices SeFa read, the rows an edit applies to
by default; GANSpace: all ws), optional `names` [K] str.
"""
from __future__ import annotations

import os
import pathlib
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from networks.edit.styles import style_weights
from networks.files import atomic_open

METHODS = ("sefa", "ganspace")


class DirectionError(ValueError):
    """A bad direction file, edit or request: the message is one line for the user."""


@dataclass
class Directions:
    """K directions in W. directions [K, w_dim] unit rows; values [K]; stds [K] (strength unit)."""
    directions: np.ndarray                       # [K, w_dim] float32, unit rows
    values: np.ndarray                           # [K] eigenvalues (SeFa) or standard deviations (GANSpace)
    stds: np.ndarray                             # [K] std of mapped w along each direction: one unit of strength
    method: str                                  # 'sefa' | 'ganspace'
    layers: list = field(default_factory=list)   # w indices the directions came from / apply to by default
    names: Optional[list] = None                 # [K] names given by the user, or None


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Rows flipped so that each row's largest-|x| entry is positive."""
    idx = np.abs(vectors).argmax(axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    return vectors * np.where(signs == 0, 1, signs)[:, None]


def _label(G) -> torch.Tensor:
    """Class 0 one-hot [1, c_dim] for conditional networks (empty for unconditional ones)."""
    dev = next(iter(G.parameters())).device
    c = torch.zeros([1, G.c_dim], device=dev)
    if G.c_dim:
        c[:, 0] = 1
    return c


@torch.no_grad()
def sample_w(G, samples: int, seed: int = 0, batch: int = 1000,
             progress: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """w [samples, w_dim] float64 of z = RandomState(seed).randn(samples, z_dim) (class 0 if conditional)."""
    if samples < 2:
        raise DirectionError("need at least 2 samples")
    z_all = np.random.RandomState(seed).randn(samples, G.z_dim)
    c = _label(G)
    dev = c.device
    out = np.empty([samples, G.w_dim], dtype=np.float64)
    for i in range(0, samples, batch):
        z = torch.from_numpy(z_all[i:i + batch]).to(dev, torch.float32)
        out[i:i + len(z)] = G.mapping(z, c.repeat(len(z), 1))[:, 0].double().cpu().numpy()
        if progress is not None:
            progress(min(i + batch, samples), samples)
    return out


def sefa_matrix(G, layers: Optional[Sequence[int]] = None) -> tuple[np.ndarray, list[int]]:
    """A [R, w_dim] float64 (unit rows) from the style weights driven by w indices `layers` (None: all), and the
    w indices that had style layers."""
    styles = style_weights(G)
    if not styles:
        raise DirectionError(f"this network ({getattr(G, 'arch', '?')}) has no style layers for SeFa")
    have = sorted({i for _, i, _ in styles})
    want = have if layers is None else sorted(set(int(i) for i in layers))
    if bad := [i for i in want if not 0 <= i < G.num_ws]:
        raise DirectionError(f"layer {bad[0]} is out of range: this network has ws 0..{G.num_ws - 1}")
    used = [i for i in want if i in have]
    if not used:
        raise DirectionError(f"w indices {want} drive no style layer but to-RGB; SeFa uses ws {have}")
    A = torch.cat([rows for _, i, rows in styles if i in used]).cpu().numpy()
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    A = A[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    return A, used


def sefa(G, layers: Optional[Sequence[int]] = None, num: int = 10, std_samples: int = 1000,
         seed: int = 0) -> Directions:
    """SeFa directions: the top `num` eigenvectors of A^T A (A = sefa_matrix) by descending eigenvalue."""
    A, used = sefa_matrix(G, layers)
    num = _check_num(num, G.w_dim)
    vals, vecs = np.linalg.eigh(A.T @ A)            # ascending
    order = np.argsort(vals)[::-1][:num]
    dirs = _fix_signs(vecs[:, order].T)
    w = sample_w(G, std_samples, seed)
    stds = (w - w.mean(axis=0)) @ dirs.T
    return Directions(dirs.astype(np.float32), vals[order].astype(np.float32),
                      stds.std(axis=0, ddof=1).astype(np.float32), "sefa", used)


def ganspace(G, samples: int = 10000, num: int = 10, seed: int = 0,
             progress: Optional[Callable[[int, int], None]] = None) -> Directions:
    """GANSpace: principal components of `samples` mapped w, by descending variance; values = stds."""
    num = _check_num(num, G.w_dim)
    if samples < num + 1:
        raise DirectionError(f"GANSpace needs more samples ({samples}) than components ({num})")
    w = sample_w(G, samples, seed, progress=progress)
    x = w - w.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    std = s[:num] / np.sqrt(samples - 1)
    return Directions(_fix_signs(vt[:num]).astype(np.float32), std.astype(np.float32), std.astype(np.float32),
                      "ganspace", list(range(G.num_ws)))


def _check_num(num: int, w_dim: int) -> int:
    if not 1 <= int(num) <= w_dim:
        raise DirectionError(f"the number of directions must be 1..{w_dim}, not {num}")
    return int(num)


# ------------------------------------------------------------------------------------------------
# Edits

@dataclass
class Edit:
    """ws[:, layers] += strength * std * direction."""
    direction: np.ndarray                        # [w_dim] unit vector
    strength: float                              # in stds along the direction
    std: float = 1.0                             # one unit of strength, in W
    layers: Optional[list] = None                # w indices edited; None = all


def apply_edits(ws: torch.Tensor, edits: Sequence[Edit]) -> torch.Tensor:
    """ws [N, num_ws, w_dim] with every edit added (a new tensor; ws itself is unchanged when edits is empty)."""
    if not edits:
        return ws
    out = ws.clone()
    for e in edits:
        step = torch.as_tensor(np.asarray(e.direction, dtype=np.float64) * (float(e.strength) * float(e.std)),
                               dtype=ws.dtype, device=ws.device)
        rows = list(range(ws.shape[1])) if e.layers is None else [int(i) for i in e.layers]
        out[:, rows] += step
    return out


EDIT_KEYS = {"file", "direction", "index", "strength", "std", "layers"}


def check_edit_dict(d, num_ws: Optional[int] = None) -> None:
    """A render state's edit {file, index, strength, layers} or {direction, std, strength, layers}: raises
    DirectionError naming what is wrong (files are not opened here)."""
    if not isinstance(d, dict):
        raise DirectionError("an edit must be an object like {\"file\": ..., \"index\": 0, \"strength\": 1.0}")
    if unknown := sorted(set(d) - EDIT_KEYS):
        raise DirectionError(f"unknown edit field(s): {', '.join(unknown)}")
    if ("file" in d) == ("direction" in d):
        raise DirectionError("an edit needs either 'file' (with 'index') or 'direction'")
    s = d.get("strength")
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not np.isfinite(s):
        raise DirectionError("an edit's strength must be a finite number")
    if "file" in d:
        if not isinstance(d["file"], str) or not d["file"]:
            raise DirectionError("an edit's file must be a path")
        if isinstance(d.get("index"), bool) or not isinstance(d.get("index"), int) or d["index"] < 0:
            raise DirectionError("an edit's index must be an integer >= 0")
    else:
        v = d["direction"]
        if not isinstance(v, list) or not v or not np.all(np.isfinite(np.asarray(v, dtype=np.float64))):
            raise DirectionError("an edit's direction must be a list of finite numbers")
        std = d.get("std", 1.0)
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not np.isfinite(std):
            raise DirectionError("an edit's std must be a finite number")
    layers = d.get("layers")
    if layers is not None:
        if not isinstance(layers, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                   for i in layers):
            raise DirectionError("an edit's layers must be a list of w indices (integers >= 0)")
        if num_ws is not None and any(i >= num_ws for i in layers):
            raise DirectionError(f"edit layer {max(layers)} is out of range: this network has ws 0..{num_ws - 1}")


def resolve_edits(G, edits: Sequence[dict]) -> list[Edit]:
    """Render-state edit dicts -> [Edit] for network G (files read once per modification time)."""
    out = []
    for d in edits or ():
        check_edit_dict(d, G.num_ws)
        if "file" in d:
            dirs = load_directions_cached(d["file"])
            if dirs.directions.shape[1] != G.w_dim:
                raise DirectionError(f"{d['file']}: directions have w_dim {dirs.directions.shape[1]}, "
                                     f"this network {G.w_dim}")
            if d["index"] >= len(dirs.directions):
                raise DirectionError(f"{d['file']}: no direction {d['index']} (it has 0..{len(dirs.directions) - 1})")
            vec, std = dirs.directions[d["index"]], float(dirs.stds[d["index"]])
        else:
            vec, std = np.asarray(d["direction"], dtype=np.float32), float(d.get("std", 1.0))
            if vec.shape != (G.w_dim,):
                raise DirectionError(f"an edit's direction has {vec.size} numbers; this network's w has {G.w_dim}")
        out.append(Edit(vec, float(d["strength"]), std, d.get("layers")))
    return out


# ------------------------------------------------------------------------------------------------
# Files

def save_directions(path, d: Directions) -> pathlib.Path:
    """Writes a direction file atomically (format in the module docstring)."""
    arrays = dict(directions=np.asarray(d.directions, np.float32), values=np.asarray(d.values, np.float32),
                  stds=np.asarray(d.stds, np.float32), method=np.array(d.method),
                  layers=np.asarray(d.layers, np.int64).reshape(-1))
    if d.names is not None:
        if len(d.names) != len(d.directions):
            raise DirectionError(f"{len(d.names)} names for {len(d.directions)} directions")
        arrays["names"] = np.array([str(n) for n in d.names], dtype=str)
    path = pathlib.Path(path)
    with atomic_open(path) as f:
        np.savez(f, **arrays)
    return path


def load_directions(path) -> Directions:
    """Reads a direction file (never unpickles). Raises DirectionError with one line for a bad file."""
    name = os.fspath(path)
    try:
        with np.load(name, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DirectionError(f"{name}: no such file") from None
    except (OSError, ValueError, EOFError) as e:
        raise DirectionError(f"{name}: not a direction file ({str(e).splitlines()[0] if str(e) else 'unreadable'})") \
            from None
    missing = [k for k in ("directions", "values", "method") if k not in data]
    if missing:
        raise DirectionError(f"{name}: not a direction file (no {', '.join(missing)})")
    dirs = data["directions"]
    if dirs.ndim != 2 or dirs.shape[0] < 1 or dirs.dtype.kind != "f" or not np.all(np.isfinite(dirs)):
        raise DirectionError(f"{name}: 'directions' must be a finite float array [K, w_dim]")
    k = len(dirs)
    values = data["values"]
    stds = data.get("stds", values if str(data["method"]) == "ganspace" else np.ones(k))
    for key, arr in (("values", values), ("stds", stds)):
        if arr.shape != (k,) or arr.dtype.kind not in "fi" or not np.all(np.isfinite(arr)):
            raise DirectionError(f"{name}: '{key}' must be {k} finite numbers")
    method = str(data["method"])
    if method not in METHODS:
        raise DirectionError(f"{name}: unknown method {method!r} (expected one of {METHODS})")
    layers = data.get("layers", np.zeros([0], np.int64))
    if layers.ndim != 1 or layers.dtype.kind not in "iu" or np.any(layers < 0):
        raise DirectionError(f"{name}: 'layers' must be a list of w indices")
    names = None
    if "names" in data:
        if data["names"].shape != (k,) or data["names"].dtype.kind != "U":
            raise DirectionError(f"{name}: 'names' must be {k} strings")
        names = [str(n) for n in data["names"]]
    return Directions(dirs.astype(np.float32), values.astype(np.float32), np.asarray(stds, np.float32), method,
                      [int(i) for i in layers], names)


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def load_directions_cached(path) -> Directions:
    """load_directions, re-read only when the file's modification time or size changes (renders call it often)."""
    name = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(name)
    except OSError:
        raise DirectionError(f"{path}: no such file") from None
    key = (name, st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        hit = _CACHE.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
    d = load_directions(name)
    with _CACHE_LOCK:
        _CACHE[name] = (key, d)
    return d


def layer_presets(G) -> dict[str, list[int]]:
    """Coarse / middle / fine w indices. Networks whose w_resolutions are powers of two (StyleGAN2, v1): StyleGAN's
    4-8 px, 16-32 px, 64 px and up. Others (StyleGAN3, whose layer sizes include margins): the same split of a
    1024 px StyleGAN2's 18 ws (4 : 4 : 10) scaled to num_ws."""
    return presets_from_resolutions(list(getattr(G.synthesis, "w_resolutions", None) or []), G.num_ws)


def presets_from_resolutions(w_resolutions: list, n: int) -> dict[str, list[int]]:
    """layer_presets from a network's w_resolutions and num_ws (what the window knows without the network)."""
    res = [int(r) for r in w_resolutions]
    if n == 1:                                   # ProGAN: its one latent drives everything
        return {k: [0] for k in ("coarse", "middle", "fine")}
    if len(res) == n and all(r > 0 and r & (r - 1) == 0 for r in res):
        return {"coarse": [i for i, r in enumerate(res) if r <= 8],
                "middle": [i for i, r in enumerate(res) if 8 < r <= 32],
                "fine": [i for i, r in enumerate(res) if r > 32]}
    a, b = round(n * 4 / 18), round(n * 8 / 18)
    return {"coarse": list(range(0, a)), "middle": list(range(a, b)), "fine": list(range(b, n))}
