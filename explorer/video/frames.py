"""Frame generation for video export: seed walks (grids, side by side, transform animations, layer views) and
keyframe recipes. Yields batches of uint8 frames [H, W, 3]; knows nothing about files."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from PIL import Image

from explorer.engine import layers as L
from explorer.engine.cache import NetworkCache
from explorer.engine.latents import sample_path, seed_to_z
from explorer.engine.renderer import (class_vector, explicit_ws, has_styles, has_transform, map_seeds, network_device,
                                      render, render_batch, truncate)
from explorer.engine.state import RenderState
from networks.stylegan3 import make_transform
from explorer.errors import UserError
from explorer.video.recipe import Recipe
from explorer.video.spec import VideoSpec


def seed_layout(seeds: list[int], cells: int, keyframes: int, shuffle_seed: Optional[int]) -> np.ndarray:
    """Seeds of every cell's keyframes [cells, keyframes]: seeds repeat cyclically to fill cells * keyframes, are
    optionally shuffled (RandomState(shuffle_seed)), and cell j takes the j-th run of `keyframes` (gen_video.py)."""
    flat = np.array([seeds[i % len(seeds)] for i in range(cells * keyframes)], dtype=np.int64)
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(flat)
    return flat.reshape(cells, keyframes)


def transform_params(spec: VideoSpec, frame: int) -> Optional[tuple[float, float, float]]:
    """The user transform of a frame as (translate x, translate y, rotate degrees), None without animation:
    translation on a circle of radius r (image widths) with period P seconds, rotation at a constant rate
    (degrees per second)."""
    if spec.translate_anim is None and spec.rotate_anim is None:
        return None
    s = frame / spec.fps
    tx = ty = 0.0
    if spec.translate_anim is not None:
        r, period = spec.translate_anim
        tx, ty = r * math.cos(2 * math.pi * s / period), r * math.sin(2 * math.pi * s / period)
    return tx, ty, (spec.rotate_anim or 0.0) * s


def transform_at(spec: VideoSpec, frame: int) -> Optional[np.ndarray]:
    """transform_params as the matrix [3, 3] of networks.stylegan3.make_transform (None without animation)."""
    p = transform_params(spec, frame)
    return None if p is None else make_transform((p[0], p[1]), p[2])


def check_layer_view(G, layer: str, channels: Optional[list] = None) -> None:
    """UserError (one line) unless `layer` names a tensor G produces and every channel index exists in it; uses
    the layer shapes the network knows without running it."""
    L.check_layer(G, layer)
    if layer == L.OUTPUT:
        count = G.img_channels
    else:
        shapes_of = getattr(G.synthesis, "layer_shapes", None)
        if shapes_of is None:
            return  # a network that cannot tell its shapes: out-of-range channels repeat the last one
        shapes = shapes_of()
        if layer not in shapes:
            parts = [k for k in shapes if k.startswith(layer + ":")]
            raise UserError(f"layer {layer!r} returns several tensors; choose one of {', '.join(parts)}" if parts
                            else f"layer {layer!r} produces no single tensor to show")
        count = shapes[layer][0]
    bad = [c for c in (channels or []) if c >= count]
    if bad:
        raise UserError(f"--channels {bad[0]} is out of range; layer {layer} has {count} channels (0..{count - 1})")


def _resize(img: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """uint8 [H, W, 3] -> [size[1], size[0], 3]."""
    if img.shape[1] == size[0] and img.shape[0] == size[1]:
        return img
    return np.asarray(Image.fromarray(img).resize(size, Image.NEAREST if nearest else Image.LANCZOS))


def tile(cells: list[np.ndarray], gw: int, gh: int) -> np.ndarray:
    """Row-major cells [H, W, 3] -> one [gh*H, gw*W, 3] image."""
    rows = [np.concatenate(cells[r * gw:(r + 1) * gw], axis=1) for r in range(gh)]
    return np.concatenate(rows, axis=0)


@dataclass
class _Net:
    G: object
    keys: np.ndarray          # [cells, K, num_ws, w_dim] (space w) or [cells, K, z_dim] (space z)
    c: torch.Tensor           # [1, c_dim]


class SeedWalk:
    """Frames of a seed-walk video (one or two networks side by side)."""

    def __init__(self, spec: VideoSpec, nets: list):
        self.spec = spec
        self.cell_size = nets[0].img_resolution
        k = spec.keyframe_count
        layout = seed_layout(list(spec.seeds), spec.cells, k, spec.shuffle_seed)
        self.layout = layout
        self.nets = [self._prepare(G, layout) for G in nets]
        self.total = spec.total_frames
        gw, gh = spec.grid
        natural = (gw * self.cell_size * len(nets), gh * self.cell_size)
        self.size = tuple(spec.size) if spec.size else natural

    def _prepare(self, G, layout) -> _Net:
        spec = self.spec
        c = class_vector(G, spec.class_idx, 1)
        flat = [int(s) for s in layout.reshape(-1)]
        with torch.no_grad():
            if spec.latent_space == "w":
                ws = truncate(G, map_seeds(G, flat, spec.class_idx), spec.trunc_psi, spec.trunc_cutoff)
                keys = ws.cpu().numpy().reshape(layout.shape + tuple(ws.shape[1:]))
            else:
                keys = np.stack([seed_to_z(s, G.z_dim) for s in flat]).reshape(layout.shape + (G.z_dim,))
        return _Net(G=G, keys=keys, c=c)

    def _ws(self, net: _Net, frames: list[int]) -> torch.Tensor:
        """ws [len(frames) * cells, num_ws, w_dim], frame-major."""
        spec = self.spec
        pts = [sample_path(net.keys[cell], f / spec.w_frames, spec.kind, spec.loop)
               for f in frames for cell in range(spec.cells)]
        dev = network_device(net.G)
        x = torch.from_numpy(np.stack(pts).astype(np.float32)).to(dev)
        if spec.latent_space == "w":
            return x
        return net.G.mapping(x, net.c.repeat(len(pts), 1), truncation_psi=spec.trunc_psi,
                             truncation_cutoff=spec.trunc_cutoff)

    def _frame_state(self, G, frame: int) -> RenderState:
        """What the engine renders for every cell of a frame (the latent comes from the walk's ws)."""
        spec = self.spec
        t = transform_params(spec, frame) if has_transform(G) else None
        noise_seed = spec.noise_seed + frame if spec.noise_mode == "random" else spec.noise_seed
        state = RenderState(which=spec.which, device=spec.device, force_fp32=spec.force_fp32, class_idx=spec.class_idx,
                            noise_mode=spec.noise_mode, noise_seed=noise_seed, layer=spec.layer or None,
                            amplify_db=spec.amplify_db, normalize=spec.normalize,
                            untransform=bool(spec.untransform and t is not None))
        return state if t is None else state.replace(translate_x=t[0], translate_y=t[1], rotate=t[2])

    def _pictures(self, net: _Net, frames: list[int]) -> list[list[np.ndarray]]:
        """[frame][cell] uint8 pictures at cell size, rendered by the engine's one batched render function: cells
        of a frame share a transform and noise seed, so the engine draws them (and frames alike) in one call."""
        spec, G = self.spec, net.G
        states = [self._frame_state(G, f) for f in frames for _ in range(spec.cells)]
        channels = list(spec.channels) if spec.layer else None
        results = render_batch(G, states, ws=self._ws(net, frames), channels=channels)
        size = (self.cell_size, self.cell_size)
        pics = [_resize(r.layer_image, size, True) if spec.layer else _resize(r.image, size, False) for r in results]
        return [pics[i * spec.cells:(i + 1) * spec.cells] for i in range(len(frames))]

    @torch.no_grad()
    def batches(self) -> Iterator[list[np.ndarray]]:
        spec = self.spec
        gw, gh = spec.grid
        for start in range(0, self.total, spec.batch):
            frames = list(range(start, min(start + spec.batch, self.total)))
            per_net = [self._pictures(net, frames) for net in self.nets]
            batch = []
            for i in range(len(frames)):
                img = np.concatenate([tile(p[i], gw, gh) for p in per_net], axis=1)
                batch.append(_resize(img, self.size, nearest=False))
            yield batch


class RecipeFrames:
    """Frames of a keyframe recipe: every frame is a full RenderState rendered by engine.render."""

    def __init__(self, spec: VideoSpec, recipe: Recipe, cache: NetworkCache):
        self.spec, self.recipe, self.cache = spec, recipe, cache
        self.states = list(recipe.states())
        if spec.checkpoint:
            self.states = [s.replace(checkpoint=spec.checkpoint) for s in self.states]
        self.total = len(self.states)
        self.check()
        first = self._frame(self.states[0])
        self.size = tuple(spec.size) if spec.size else (first.shape[1], first.shape[0])
        self._first = first

    def check(self) -> None:
        """Loads every network the recipe uses and checks its layers and classes (before any output exists)."""
        paths = [self.spec.side_by_side] if self.spec.side_by_side else []
        for k in self.recipe.keyframes:
            for path in [self.spec.checkpoint or k.state.checkpoint] + paths:
                G = self.cache.get(path, k.state.which, self.spec.device)
                if k.state.layer:
                    check_layer_view(G, k.state.layer)
                class_vector(G, k.state.class_idx)
                if k.state.w is not None:
                    explicit_ws(G, k.state.w)

    def _picture(self, path: str, state) -> np.ndarray:
        """The state's output image, or its layer view enlarged (nearest) to the output's size: uint8 [H, W, 3]."""
        r = render(self.cache.get(path, state.which, state.device), state)
        if not state.layer:
            return r.image
        return _resize(r.layer_image, (r.image.shape[1], r.image.shape[0]), nearest=True)

    def _frame(self, state) -> np.ndarray:
        state = state.replace(device=self.spec.device, list_layers=False, fft_show=False)
        pic = self._picture(state.checkpoint, state)
        if self.spec.side_by_side:
            pic2 = self._picture(self.spec.side_by_side, state)
            pic = np.concatenate([pic, _resize(pic2, (pic.shape[1], pic.shape[0]), bool(state.layer))], axis=1)
        return pic

    @torch.no_grad()
    def batches(self) -> Iterator[list[np.ndarray]]:
        batch = []
        for i, state in enumerate(self.states):
            pic = self._first if i == 0 else self._frame(state)
            batch.append(_resize(pic, self.size, nearest=bool(state.layer)))
            if len(batch) >= self.spec.batch:
                yield batch
                batch = []
        if batch:
            yield batch


def open_frames(spec: VideoSpec, cache: NetworkCache, recipe: Optional[Recipe] = None):
    """Loads the networks and checks everything that depends on them; returns a SeedWalk or RecipeFrames
    (recipe: the keyframes, else read from spec.keyframes when set)."""
    if recipe is None and spec.keyframes:
        recipe = Recipe.load(spec.keyframes)
    if recipe is not None:
        if spec.checkpoint == "" and any(not k.state.checkpoint for k in recipe.keyframes):
            raise UserError("the recipe's states name no checkpoint; give one on the command line")
        return RecipeFrames(spec, recipe, cache)
    nets = [cache.get(spec.checkpoint, spec.which, spec.device)]
    if spec.side_by_side:
        nets.append(cache.get(spec.side_by_side, spec.which, spec.device))
    for path, G in zip([spec.checkpoint, spec.side_by_side], nets):
        try:
            if spec.layer:
                check_layer_view(G, spec.layer, spec.channels)
            if (spec.translate_anim or spec.rotate_anim or spec.untransform) and not has_transform(G):
                raise UserError(f"--translate-anim/--rotate-anim/--untransform need a StyleGAN3 network; "
                                f"{getattr(G, 'arch', 'this one')} has no input transform")
            if not has_styles(G) and (spec.trunc_psi != 1 or spec.trunc_cutoff is not None):
                raise UserError(f"--trunc / --trunc-cutoff do not apply: {G.arch} has no truncation "
                                "(its one w row is the normalised z)")
            class_vector(G, spec.class_idx)
        except UserError as e:
            if len(nets) == 1:
                raise
            raise UserError(f"{path}: {e}") from None  # say which of the two networks it is
    if spec.untransform and spec.layer:
        raise UserError("--untransform applies to the output image, not to a --layer view")
    return SeedWalk(spec, nets)
