"""Checkpoint files -> the project's own modules, and the project's checkpoint format.

Reading never executes anything from the file: `networks.pickles.safe_load` turns
the pickle into plain records (class names, constructor kwargs, tensors), and this
module rebuilds the networks from the project's classes and copies the tensors in.

Formats read:
- NVIDIA PyTorch pickles (stylegan2-ada-pytorch, stylegan3): a dict of persistence records;
- NVIDIA legacy TensorFlow pickles: a tuple (G, D, Gs) of TF network records;
- the project's own checkpoints: a dict with 'format': 'sg-explorer/1' (see `save_network_pkl`).
"""
from __future__ import annotations

import io
import os
import pathlib
import pickle
import re
import tempfile
from typing import Any, BinaryIO, Union

import torch

from networks import config as C
from networks.errors import CheckpointError, UnknownArchitectureError
from networks.pickles import PersistentRecord, TFNetworkRecord, safe_load

FORMAT = "sg-explorer/1"
NETWORK_KEYS = ("G", "D", "G_ema")


# ----------------------------------------------------------------------------------------------
# Building modules


def build_generator(cfg) -> torch.nn.Module:
    """A fresh generator (random weights) for a StyleGAN2Config or StyleGAN3Config."""
    if isinstance(cfg, C.StyleGAN2Config):
        from networks.stylegan2 import Generator
    elif isinstance(cfg, C.StyleGAN3Config):
        from networks.stylegan3 import Generator
    else:
        raise TypeError(f"not a generator config: {type(cfg).__name__}")
    return Generator(cfg)


def build_discriminator(cfg: C.DiscriminatorConfig) -> torch.nn.Module:
    from networks.stylegan2 import Discriminator
    return Discriminator(cfg)


def build_network(cfg) -> torch.nn.Module:
    return build_discriminator(cfg) if isinstance(cfg, C.DiscriminatorConfig) else build_generator(cfg)


def _load_state(module: torch.nn.Module, state: dict, what: str) -> torch.nn.Module:
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
        if not torch.isfinite(v.float()).all() and v.is_floating_point():
            raise CheckpointError(f"{what}: {k} holds non-finite values")
    with torch.no_grad():
        for k, t in own.items():
            t.copy_(state[k].to(t.dtype))
    return module.eval().requires_grad_(False)


# ----------------------------------------------------------------------------------------------
# NVIDIA PyTorch pickles


def flatten_record_state(rec: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """A persistence record's parameters and buffers as a state dict with dotted names."""
    out: dict[str, torch.Tensor] = {}
    state = rec.state
    for group in ("_parameters", "_buffers"):
        for name, t in (state.get(group) or {}).items():
            if t is not None:
                out[prefix + name] = t
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentRecord):
            out.update(flatten_record_state(child, prefix + name + "."))
        elif child is not None:
            raise CheckpointError(f"{prefix + name}: unexpected module object {type(child).__name__}")
    return out


def _children(rec: PersistentRecord) -> dict:
    return rec.state.get("_modules") or {}


def _init_kwargs(rec: PersistentRecord) -> dict:
    kwargs = rec.state.get("_init_kwargs")
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{rec.class_name}: the record has no constructor kwargs")
    if rec.state.get("_init_args"):
        raise CheckpointError(f"{rec.class_name}: positional constructor arguments are not supported")
    return dict(kwargs)


def generator_arch(rec: PersistentRecord) -> str:
    """'stylegan2' | 'stylegan3-t' | 'stylegan3-r' from a Generator record's children and kwargs."""
    synthesis = _children(rec).get("synthesis")
    if rec.class_name != "Generator" or not isinstance(synthesis, PersistentRecord):
        raise UnknownArchitectureError(f"unknown generator class {rec.class_name!r}")
    names = set(_children(synthesis))
    if "input" in names:
        kwargs = _init_kwargs(rec)
        kwargs.update(kwargs.get("synthesis_kwargs") or {})
        return "stylegan3-r" if kwargs.get("use_radial_filters") else "stylegan3-t"
    if "b4" in names:
        return "stylegan2"
    raise UnknownArchitectureError(f"unknown synthesis network layout (children: {sorted(names)[:5]})")


def network_from_record(rec: Any, key: str) -> torch.nn.Module | None:
    if rec is None:
        return None
    if not isinstance(rec, PersistentRecord):
        raise CheckpointError(f"{key}: expected a network object, found {type(rec).__name__}")
    if rec.class_name == "Generator":
        cfg = C.generator_config_from_nvidia(generator_arch(rec), _init_kwargs(rec))
        return _load_state(build_generator(cfg), flatten_record_state(rec), key)
    if rec.class_name == "Discriminator":
        if "b4" not in _children(rec):
            raise UnknownArchitectureError(f"{key}: unknown discriminator layout")
        cfg = C.discriminator_config_from_nvidia(_init_kwargs(rec))
        return _load_state(build_discriminator(cfg), flatten_record_state(rec), key)
    if rec.class_name == "AugmentPipe":
        return _augment_pipe(_init_kwargs(rec), flatten_record_state(rec), key)
    raise UnknownArchitectureError(f"{key}: unknown network class {rec.class_name!r}")


def _augment_pipe(kwargs: dict, state: dict, key: str):
    from networks.training.augment import AugmentPipe  # training code: imported only when a file has one
    pipe = AugmentPipe(**kwargs)
    own = pipe.state_dict()
    with torch.no_grad():
        for k, t in own.items():
            if k in state and tuple(state[k].shape) == tuple(t.shape):
                t.copy_(state[k])
    return pipe.requires_grad_(False)


def _from_nvidia_pytorch(data: dict) -> dict:
    out = {}
    for key in NETWORK_KEYS + ("augment_pipe",):
        if key in data:
            if key == "augment_pipe" and data[key] is None:
                out[key] = None
                continue
            net = network_from_record(data[key], key)
            if net is not None:
                out[key] = net
    if "training_set_kwargs" in data:
        out["training_set_kwargs"] = data["training_set_kwargs"]
    return out


# ----------------------------------------------------------------------------------------------
# NVIDIA legacy TensorFlow pickles


def _from_nvidia_tf(data: tuple) -> dict:
    from networks import tf_convert
    if len(data) != 3 or not all(isinstance(x, TFNetworkRecord) for x in data):
        raise CheckpointError("not a TensorFlow StyleGAN pickle: expected a tuple (G, D, Gs) of networks")
    tf_g, tf_d, tf_gs = data
    out = {}
    for key, rec in (("G", tf_g), ("G_ema", tf_gs)):
        kwargs, state = tf_convert.convert_tf_generator(rec)
        cfg = C.generator_config_from_nvidia("stylegan2", kwargs)
        out[key] = _load_state(build_generator(cfg), state, key)
    kwargs, state = tf_convert.convert_tf_discriminator(tf_d)
    out["D"] = _load_state(build_discriminator(C.discriminator_config_from_nvidia(kwargs)), state, "D")
    return out


# ----------------------------------------------------------------------------------------------
# The project's own format


def network_to_dict(net: torch.nn.Module) -> dict:
    if hasattr(net, "cfg"):
        return {"config": C.config_to_dict(net.cfg),
                "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
    if type(net).__name__ == "AugmentPipe":
        return {"type": "AugmentPipe", "kwargs": dict(net.init_kwargs),
                "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}}
    raise TypeError(f"cannot save a {type(net).__name__}")


def network_from_dict(d: Any, key: str) -> torch.nn.Module | None:
    if d is None:
        return None
    if not isinstance(d, dict) or "state_dict" not in d:
        raise CheckpointError(f"{key}: malformed network entry")
    if d.get("type") == "AugmentPipe":
        return _augment_pipe(d.get("kwargs") or {}, d["state_dict"], key)
    try:
        cfg = C.config_from_dict(d.get("config"))
    except (TypeError, ValueError) as e:
        raise UnknownArchitectureError(f"{key}: {e}") from None
    return _load_state(build_network(cfg), d["state_dict"], key)


def _from_own(data: dict) -> dict:
    out = {k: v for k, v in data.items() if k not in NETWORK_KEYS + ("augment_pipe", "format")}
    for key in NETWORK_KEYS + ("augment_pipe",):
        if key in data:
            out[key] = network_from_dict(data[key], key)
    return out


def save_network_pkl(path: Union[str, os.PathLike], data: dict) -> pathlib.Path:
    """Writes G / D / G_ema / augment_pipe (modules) plus plain extras atomically.

    The file is a pickle of plain containers and tensors only, so `load_network_pkl`
    reads it through the same allow-list as NVIDIA's files.
    """
    payload: dict = {"format": FORMAT}
    for key, value in data.items():
        if key in NETWORK_KEYS + ("augment_pipe",) and isinstance(value, torch.nn.Module):
            payload[key] = network_to_dict(value)
        else:
            payload[key] = value
    return atomic_write_bytes(path, pickle.dumps(payload, protocol=4))


def atomic_write_bytes(path: Union[str, os.PathLike], blob: bytes) -> pathlib.Path:
    """Writes to a temporary file in the same folder, fsyncs, then renames over `path`."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# ----------------------------------------------------------------------------------------------
# Entry point


_SNAPSHOT = re.compile(r"network-snapshot-(\d+)\.pkl$")


def newest_snapshot(run_dir: Union[str, os.PathLike]) -> pathlib.Path:
    """The newest complete `network-snapshot-*.pkl` in a training run folder."""
    run_dir = pathlib.Path(run_dir)
    snaps = sorted((int(m.group(1)), p) for p in run_dir.iterdir() if (m := _SNAPSHOT.search(p.name)))
    if not snaps:
        raise CheckpointError(f"{run_dir}: no network-snapshot-*.pkl in this folder")
    return snaps[-1][1]


def _open_source(f) -> tuple[BinaryIO, str, bool]:
    if hasattr(f, "read"):
        return f, getattr(f, "name", "<file>"), False
    name = os.fspath(f)
    if isinstance(name, str) and re.match(r"^https?://", name):
        from networks.download import open_url
        path = open_url(name)
    else:
        path = pathlib.Path(name).expanduser()
        if path.is_dir():
            path = newest_snapshot(path)
        if not path.exists():
            raise CheckpointError(f"{name}: no such file")
    try:
        return open(path, "rb"), str(path), True
    except OSError as e:
        raise CheckpointError(f"{path}: cannot open ({e.strerror})") from None


def load_network_pkl(f) -> dict:
    """Reads a checkpoint (path, open binary file, http(s) URL or training-run folder).

    Returns a dict with the networks present in the file among 'G', 'D', 'G_ema'
    (the project's own modules, eval mode, on the CPU), 'augment_pipe' and
    'training_set_kwargs' where present, 'format' ('nvidia-pytorch' | 'nvidia-tensorflow' |
    'sg-explorer'), plus the project's own extra entries (e.g. 'resume').
    """
    stream, name, close = _open_source(f)
    try:
        data = safe_load(stream)
    finally:
        if close:
            stream.close()
    try:
        if isinstance(data, dict) and data.get("format") == FORMAT:
            out, fmt = _from_own(data), "sg-explorer"
        elif isinstance(data, dict) and any(k in data for k in NETWORK_KEYS):
            out, fmt = _from_nvidia_pytorch(data), "nvidia-pytorch"
        elif isinstance(data, tuple) and data and isinstance(data[0], TFNetworkRecord):
            out, fmt = _from_nvidia_tf(data), "nvidia-tensorflow"
        else:
            raise CheckpointError("no networks in this file (expected keys G, D, G_ema)")
    except CheckpointError as e:
        raise type(e)(f"{os.path.basename(name)}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, AssertionError, RuntimeError) as e:
        raise CheckpointError(f"{os.path.basename(name)}: malformed checkpoint ({type(e).__name__}: {e})") from None
    if not any(k in out for k in NETWORK_KEYS):
        raise CheckpointError(f"{os.path.basename(name)}: no networks in this file")
    out["format"] = fmt
    return out


def load_bytes(blob: bytes) -> dict:
    """`load_network_pkl` on an in-memory file (tests, fuzzing)."""
    return load_network_pkl(io.BytesIO(blob))
