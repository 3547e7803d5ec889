"""Networks from configs: fresh ones, and ones from the settings and tensors of an untrusted file.

A checkpoint's constructor settings and tensors are data from outside: `build_checked` checks every setting's
type and range and caps what the constructor may allocate by what the file holds, so a flipped or forged
kwarg fails in one line instead of looping for hours or allocating gigabytes; `load_state` then checks the
tensors' names, shapes, dtypes and finiteness before copying them in.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from networks import config as C
from networks.errors import CheckpointError


def build_generator(cfg) -> torch.nn.Module:
    """A fresh generator (random weights) for a StyleGAN2Config or StyleGAN3Config."""
    if isinstance(cfg, C.StyleGAN2Config):
        from networks.stylegan2 import Generator
    elif isinstance(cfg, C.StyleGAN3Config):
        from networks.stylegan3 import Generator
    elif isinstance(cfg, C.StyleGAN1Config):
        from networks.stylegan1 import Generator
    elif isinstance(cfg, C.ProGANConfig):
        from networks.progan import Generator
    else:
        raise TypeError(f"not a generator config: {type(cfg).__name__}")
    return Generator(cfg)


_DISCRIMINATORS = (C.DiscriminatorConfig, C.StyleGAN1DiscriminatorConfig, C.ProGANDiscriminatorConfig)


def build_discriminator(cfg) -> torch.nn.Module:
    """A fresh discriminator for a DiscriminatorConfig, StyleGAN1DiscriminatorConfig or ProGANDiscriminatorConfig."""
    if isinstance(cfg, C.StyleGAN1DiscriminatorConfig):
        from networks.stylegan1 import Discriminator
    elif isinstance(cfg, C.ProGANDiscriminatorConfig):
        from networks.progan import Discriminator
    elif isinstance(cfg, C.DiscriminatorConfig):
        from networks.stylegan2 import Discriminator
    else:
        raise TypeError(f"not a discriminator config: {type(cfg).__name__}")
    return Discriminator(cfg)


def build_network(cfg) -> torch.nn.Module:
    return build_discriminator(cfg) if isinstance(cfg, _DISCRIMINATORS) else build_generator(cfg)


# ------------------------------------------------------------------ guards on settings read from a file

# Inclusive ranges for int fields by name; any other int field must lie in _INT_DEFAULT.
_INT_LIMITS = {
    "img_resolution": (4, 1 << 14), "channel_base": (1, 1 << 26), "num_layers": (0, 64), "num_critical": (0, 64),
    "filter_size": (1, 64), "lrelu_upsampling": (1, 16), "conv_kernel": (1, 15), "margin_size": (0, 1024),
    "num_fp16_res": (0, 32), "mbstd_num_channels": (0, 1 << 10),
    "w_dim": (1, 1 << 16), "img_channels": (1, 1 << 10), "channel_max": (1, 1 << 16),
    # StyleGAN (v1) / ProGAN (TF kwarg names)
    "resolution": (4, 1 << 14), "num_channels": (1, 1 << 10), "fmap_base": (1, 1 << 26), "fmap_max": (1, 1 << 16),
    "latent_size": (1, 1 << 16), "dlatent_size": (1, 1 << 16), "mapping_layers": (1, 64), "mapping_fmaps": (1, 1 << 16),
    "mbstd_group_size": (0, 1 << 10), "mbstd_num_features": (0, 1 << 10),
}
_POWER_OF_TWO = ("img_resolution", "resolution")
# fused_scale is typed Any (TF takes True, False or 'auto'); these are its legal values per config.
_FUSED_SCALE = (True, False, "auto")
_INT_DEFAULT = (0, 1 << 16)
_CHOICES = {"architecture": ("orig", "skip", "resnet")}
# StyleGAN3 filter settings drive the filter tap counts (numpy arrays, outside the allocation budget).
_FLOAT_LIMITS = {"first_cutoff": (0.5, 1 << 14), "first_stopband": (0.5, 1 << 15), "last_stopband_rel": (1.0, 4.0)}


def check_config(cfg, what: str) -> None:
    """Raises CheckpointError when a config read from a file has a value of the wrong type or out of range."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            check_config(v, what)
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if kind.startswith("Optional["):
            if v is None:
                continue
            kind = kind[len("Optional["):-1]
        if kind == "int":
            lo, hi = _INT_LIMITS.get(f.name, _INT_DEFAULT)
            ok = type(v) is int and lo <= v <= hi
            if f.name in _POWER_OF_TWO and ok:
                ok = v & (v - 1) == 0
            expect = f"an integer in {lo}..{hi}" + (" (a power of two)" if f.name in _POWER_OF_TWO else "")
        elif kind == "float":
            lo, hi = _FLOAT_LIMITS.get(f.name, (-1e9, 1e9))
            ok = type(v) in (int, float) and math.isfinite(v) and lo <= v <= hi
            expect = f"a number in {lo:g}..{hi:g}"
        elif kind == "bool":
            ok, expect = type(v) in (bool, int) and v in (0, 1), "True or False"
        elif kind == "str" and f.name in _CHOICES:
            ok, expect = v in _CHOICES[f.name], " | ".join(_CHOICES[f.name])
        elif kind == "str":
            ok, expect = isinstance(v, str) and len(v) <= 64, "a short string"
        elif kind.startswith("Tuple"):
            ok = (isinstance(v, tuple) and 0 < len(v) <= 16
                  and all(type(x) in (int, float) and math.isfinite(x) for x in v))
            expect = "1..16 finite numbers"
        elif f.name == "fused_scale":
            ok = v in _FUSED_SCALE and type(v) in (bool, str)
            expect = "True, False or 'auto'"
        else:
            continue
        if not ok:
            raise CheckpointError(f"{what}: {f.name}={short_repr(v)} is not {expect}")


def short_repr(v) -> str:
    """repr(v), cut to 40 characters for a one-line error."""
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


_FACTORIES = {torch.randn, torch.rand, torch.zeros, torch.ones, torch.empty, torch.full, torch.eye}


def _requested_numel(func, args, kwargs) -> int:
    """Elements a factory call will allocate, read from its size arguments before it runs."""
    if func is torch.eye:
        n = args[0] if args else kwargs.get("n", 0)
        m = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("m", n)
        return int(n) * int(m)
    size = kwargs.get("size", args[0] if len(args) == 1 or func is torch.full else args)
    if isinstance(size, int):
        size = args if func is not torch.full else (size,)
    numel = 1
    for d in size:
        numel *= max(int(d), 0)
    return numel


class _AllocationBudget(TorchFunctionMode):
    """Stops a constructor whose tensors would far exceed what the checkpoint holds.

    Every parameter and buffer the constructor creates is later overwritten by a tensor from the file,
    so an honest config allocates about as many elements (and factory calls) as the file's state has.
    """

    def __init__(self, state: dict, what: str):
        super().__init__()
        self.what = what
        self.elements_left = 2 * sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor)) + (1 << 24)
        self.calls_left = 4 * len(state) + 256

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES:
            self.calls_left -= 1
            try:
                self.elements_left -= _requested_numel(func, args, kwargs)
            except (TypeError, ValueError, IndexError):
                pass  # an unusual call form: torch itself checks it
            if self.elements_left < 0 or self.calls_left < 0:
                raise CheckpointError(f"{self.what}: its constructor settings describe a network far larger "
                                      f"than the tensors stored in the file")
        return func(*args, **kwargs)


def build_checked(cfg, state: dict, what: str) -> torch.nn.Module:
    """build_network(cfg) for a config read from a file, under the guards above."""
    check_config(cfg, what)
    with _AllocationBudget(state, what):
        return build_network(cfg)


# Checks and copies go through numpy where it can: a few hundred small tensors through torch's
# intra-op thread pool take 100x longer on a busy machine, for no gain.

def _all_finite(t: torch.Tensor) -> bool:
    if not t.is_floating_point():
        return True
    try:
        return bool(np.isfinite(t.detach().numpy()).all())
    except TypeError:  # bfloat16 has no numpy dtype
        return bool(torch.isfinite(t).all())


def _copy_into(dst: torch.Tensor, src: torch.Tensor) -> None:
    try:
        np.copyto(dst.detach().numpy(), src.detach().numpy(), casting="same_kind")
    except (TypeError, RuntimeError):  # bfloat16, or a tensor not on the CPU
        dst.copy_(src.to(dst.dtype))


def load_state(module: torch.nn.Module, state: dict, what: str) -> torch.nn.Module:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise CheckpointError(f"{what}: state does not match the architecture ({'; '.join(parts)})")
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{what}: {k} is not a tensor")
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{what}: {k} has shape {list(v.shape)}, expected {list(own[k].shape)}")
        if v.dtype != own[k].dtype and not (v.is_floating_point() and own[k].is_floating_point()):
            raise CheckpointError(f"{what}: {k} is {str(v.dtype).replace('torch.', '')}, "
                                  f"expected {str(own[k].dtype).replace('torch.', '')}")
        if not _all_finite(v):
            raise CheckpointError(f"{what}: {k} holds non-finite values")
    with torch.no_grad():
        for k, t in own.items():
            _copy_into(t, state[k])
    return module.eval().requires_grad_(False)
