"""Run folders, snapshots and image grids of a training run.

A run lives in OUTDIR/NNNNN-<desc>/. Each snapshot `network-snapshot-<kimg:06d>.pkl` is written with
`networks.save_network_pkl` (atomic: temp name in the folder, fsync, rename) and holds G, D, G_ema,
augment_pipe, training_set_kwargs and 'resume': the exact state to continue the run (counters,
optimiser states, RNG states of torch / numpy / python, ADA state, running path-length mean, options).
"""
from __future__ import annotations

import os
import pathlib
import random
from typing import Iterable, Optional

import numpy as np
import torch

from networks.runs import RUN_DIR

RESUME_VERSION = 1


def next_run_dir(outdir: str | os.PathLike, desc: str) -> pathlib.Path:
    """OUTDIR/NNNNN-desc with NNNNN one past the highest existing id; created."""
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ids = [int(m.group(1)) for p in outdir.iterdir() if p.is_dir() and (m := RUN_DIR.match(p.name))]
    run = outdir / f"{max(ids, default=-1) + 1:05d}-{desc}"
    run.mkdir()
    return run


def snapshot_name(cur_nimg: int) -> str:
    return f"network-snapshot-{cur_nimg // 1000:06d}.pkl"


def save_snapshot(run_dir: pathlib.Path, cur_nimg: int, G, D, G_ema, augment_pipe,
                  training_set_kwargs: dict, resume: dict) -> pathlib.Path:
    from networks import save_network_pkl
    data = {"G": G, "D": D, "G_ema": G_ema, "augment_pipe": augment_pipe,
            "training_set_kwargs": dict(training_set_kwargs), "resume": resume}
    return save_network_pkl(run_dir / snapshot_name(cur_nimg), data)


# ------------------------------------------------------------------------------------ RNG state
def capture_rng() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Optional[dict]) -> None:
    if not state:
        return
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8) for s in state["cuda"]])


# ------------------------------------------------------------------------------------ images
def grid_shape(n: int, width_hint: int = 8) -> tuple[int, int]:
    gw = min(n, width_hint)
    return gw, (n + gw - 1) // gw


def images_to_grid(images: torch.Tensor, gw: int) -> np.ndarray:
    """float [N, C, H, W] in about [-1, 1] -> uint8 [gh * H, gw * W, C] (missing cells black)."""
    x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    n, c, h, w = x.shape
    gh = (n + gw - 1) // gw
    canvas = np.zeros([gh * h, gw * w, c], dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, gw)
        canvas[r * h:(r + 1) * h, q * w:(q + 1) * w] = x[i].transpose(1, 2, 0)
    return canvas


def fixed_latents(seeds: Iterable[int], z_dim: int) -> torch.Tensor:
    """NVIDIA's seed convention: z = RandomState(seed).randn(z_dim). -> [N, z_dim] float32."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds]).astype(np.float32))


@torch.no_grad()
def fakes_grid(G) -> np.ndarray:
    """The run's progress picture: G's images of seeds 0..31 (16 above 64 px), 8 per row, noise 'const',
    classes cycling for a conditional G. -> uint8 [rows * R, 8 * R, C]."""
    n = 32 if G.img_resolution <= 64 else 16
    device = next(G.parameters()).device
    z = fixed_latents(range(n), G.z_dim).to(device)
    c = torch.zeros([n, G.c_dim], device=device)
    if G.c_dim:
        c[torch.arange(n), torch.arange(n) % G.c_dim] = 1
    imgs = torch.cat([G(zi, ci, noise_mode="const") for zi, ci in zip(z.split(8), c.split(8))])
    return images_to_grid(imgs, grid_shape(n)[0])
