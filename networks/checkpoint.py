"""Checkpoint files -> the project's own modules, and the project's checkpoint format.

Reading never executes anything from the file: `networks.pickles.safe_load` turns
the pickle into plain records (class names, constructor kwargs, tensors), and this
module rebuilds the networks from the project's classes and copies the tensors in.

Formats read:
- NVIDIA PyTorch pickles (stylegan2-ada-pytorch, stylegan3): a dict of persistence records;
- NVIDIA legacy TensorFlow pickles: a tuple (G, D, Gs) of TF network records (StyleGAN2, StyleGAN v1 and
  ProGAN, told apart by their variable names);
- the project's own checkpoints: a dict with 'format': 'sg-explorer/1' (see `save_network_pkl`).
"""
from __future__ import annotations

import io
import math
import os
import pathlib
import pickle
import re
from typing import Any, BinaryIO, Union

import torch

from networks import config as C
from networks.errors import CheckpointError, UnknownArchitectureError, UnsafeCheckpointError
from networks.files import atomic_write_bytes
from networks.build import build_checked, load_state, short_repr
from networks.pickles import PersistentRecord, TFNetworkRecord, safe_load
from networks.runs import newest_snapshot

FORMAT = "sg-explorer/1"
NETWORK_KEYS = ("G", "D", "G_ema")


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


def generator_arch(rec: PersistentRecord, key: str = "G") -> str:
    """'stylegan2' | 'stylegan3-t' | 'stylegan3-r' from a Generator record's children and kwargs."""
    synthesis = _children(rec).get("synthesis")
    if rec.class_name != "Generator" or not isinstance(synthesis, PersistentRecord):
        raise UnknownArchitectureError(f"{key}: unknown generator class {rec.class_name!r} "
                                       f"(without a 'synthesis' network)")
    names = set(_children(synthesis))
    if "input" in names:
        kwargs = _init_kwargs(rec)
        kwargs.update(kwargs.get("synthesis_kwargs") or {})
        return "stylegan3-r" if kwargs.get("use_radial_filters") else "stylegan3-t"
    if "b4" in names:
        return "stylegan2"
    raise UnknownArchitectureError(f"{key}: unknown generator architecture: class {rec.class_name!r} with synthesis "
                                   f"class {synthesis.class_name!r} (layers {', '.join(sorted(names)[:4]) or 'none'})")


def network_from_record(rec: Any, key: str) -> torch.nn.Module | None:
    if rec is None:
        return None
    if not isinstance(rec, PersistentRecord):
        raise CheckpointError(f"{key}: expected a network object, found {type(rec).__name__}")
    if rec.class_name == "Generator":
        cfg = C.generator_config_from_nvidia(generator_arch(rec, key), _init_kwargs(rec))
        state = flatten_record_state(rec)
        return load_state(build_checked(cfg, state, key), state, key)
    if rec.class_name == "Discriminator":
        if "b4" not in _children(rec):
            raise UnknownArchitectureError(f"{key}: unknown discriminator architecture: class {rec.class_name!r} "
                                           f"without a 'b4' block")
        cfg = C.discriminator_config_from_nvidia(_init_kwargs(rec))
        state = flatten_record_state(rec)
        return load_state(build_checked(cfg, state, key), state, key)
    if rec.class_name == "AugmentPipe":
        return _augment_pipe(_init_kwargs(rec), flatten_record_state(rec), key)
    raise UnknownArchitectureError(f"{key}: unknown network class {rec.class_name!r}")


def _augment_pipe(kwargs: dict, state: dict, key: str):
    import inspect

    from networks.training.augment import AugmentPipe  # training code: imported only when a file has one
    known = set(inspect.signature(AugmentPipe.__init__).parameters) - {"self"}
    for k, v in kwargs.items():
        if k not in known:
            raise UnknownArchitectureError(f"{key}: AugmentPipe option {k!r} is not supported")
        values = v if isinstance(v, (list, tuple)) else [v]
        if not (0 < len(values) <= 16 and all(type(x) in (int, float, bool) and math.isfinite(x) for x in values)):
            raise CheckpointError(f"{key}: AugmentPipe option {k}={short_repr(v)} is not a number")
    pipe = AugmentPipe(**kwargs)
    own = pipe.state_dict()
    with torch.no_grad():
        for k, t in own.items():
            v = state.get(k)
            # NVIDIA's pipe keeps other filter buffers (Hz_geom, ...): only same-named, same-shaped ones carry over.
            if isinstance(v, torch.Tensor) and tuple(v.shape) == tuple(t.shape):
                if not torch.isfinite(v.float()).all():
                    raise CheckpointError(f"{key}: {k} holds non-finite values")
                t.copy_(v)
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
    from networks import tf_convert, tf_progressive
    if len(data) != 3 or not all(isinstance(x, TFNetworkRecord) for x in data):
        raise CheckpointError("not a TensorFlow StyleGAN pickle: expected a tuple (G, D, Gs) of networks")
    tf_g, tf_d, tf_gs = data
    arch = tf_progressive.tf_arch(tf_gs)
    if arch != "stylegan2":
        return _from_tf_progressive(arch, tf_g, tf_d, tf_gs)
    out = {}
    for key, rec in (("G", tf_g), ("G_ema", tf_gs)):
        kwargs, state = tf_convert.convert_tf_generator(rec)
        cfg = C.generator_config_from_nvidia("stylegan2", kwargs)
        out[key] = load_state(build_checked(cfg, state, key), state, key)
    kwargs, state = tf_convert.convert_tf_discriminator(tf_d)
    out["D"] = load_state(build_checked(C.discriminator_config_from_nvidia(kwargs), state, "D"), state, "D")
    return out


def _from_tf_progressive(arch: str, tf_g, tf_d, tf_gs) -> dict:
    """StyleGAN (v1) and ProGAN TF pickles: the same (G, D, Gs) tuple, other layers."""
    from networks import tf_progressive as T
    convert_g, convert_d = ((T.convert_stylegan1_generator, T.convert_stylegan1_discriminator) if arch == "stylegan"
                            else (T.convert_progan_generator, T.convert_progan_discriminator))
    out = {}
    for key, rec in (("G", tf_g), ("D", tf_d), ("G_ema", tf_gs)):
        cfg, state = (convert_d if key == "D" else convert_g)(rec)
        out[key] = load_state(build_checked(cfg, state, key), state, key)
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
    if not isinstance(d["state_dict"], dict):
        raise CheckpointError(f"{key}: malformed network entry (state_dict is not a dict)")
    return load_state(build_checked(cfg, d["state_dict"], key), d["state_dict"], key)


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
        if key == "format":  # what load_network_pkl says a file was; this file is always ours
            continue
        if key in NETWORK_KEYS + ("augment_pipe",) and isinstance(value, torch.nn.Module):
            payload[key] = network_to_dict(value)
        else:
            payload[key] = value
    return atomic_write_bytes(path, pickle.dumps(payload, protocol=4))


# ----------------------------------------------------------------------------------------------
# Entry point


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _open_source(f) -> tuple[BinaryIO, str, bool, str]:
    """(binary stream, name for messages, whether the caller must close it, cached file of a URL or '')."""
    if hasattr(f, "read"):
        return f, os.path.basename(str(getattr(f, "name", "<file>"))), False, ""
    try:
        name = os.fsdecode(f)
    except TypeError:
        raise CheckpointError(f"cannot load a checkpoint from a {type(f).__name__}") from None
    scheme = _URL.match(name)
    if scheme and scheme.group(1).lower() in ("http", "https"):
        from networks.download import open_url
        path = open_url(name)
        try:
            return open(path, "rb"), name, True, str(path)
        except OSError as e:
            raise CheckpointError(f"{path}: cannot open ({e.strerror or e})") from None
    elif scheme:
        raise CheckpointError(f"{name}: only http(s) URLs can be downloaded")
    else:
        path = pathlib.Path(name).expanduser()
        if path.is_dir():
            path = newest_snapshot(path)
        if not path.exists():
            raise CheckpointError(f"{name}: no such file")
    try:
        return open(path, "rb"), path.name, True, ""
    except OSError as e:
        raise CheckpointError(f"{path}: cannot open ({e.strerror or e})") from None


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _reraise_with_name(e: CheckpointError, name: str, note: str = ""):
    """The same error class (and refused global) with the file name in front, on one line."""
    message = f"{name}: " * bool(name) + _one_line(e, 400) + note
    if isinstance(e, UnsafeCheckpointError):
        return UnsafeCheckpointError(message, e.global_name)
    return type(e)(message)


def load_network_pkl(f) -> dict:
    """Reads a checkpoint (path, open binary file, http(s) URL or training-run folder).

    Returns a dict with the networks present in the file among 'G', 'D', 'G_ema'
    (the project's own modules, eval mode, on the CPU), 'augment_pipe' and
    'training_set_kwargs' where present, 'format' ('nvidia-pytorch' | 'nvidia-tensorflow' |
    'sg-explorer'), plus the project's own extra entries (e.g. 'resume'). A URL is downloaded once
    into the cache (`networks.download`); a folder means its newest `network-snapshot-*.pkl`.

    Raises CheckpointError (one line) for anything it cannot read, UnsafeCheckpointError (naming
    the refused global) for a pickle that reaches outside the allow-list, UnknownArchitectureError
    (naming the class) for a network it does not implement.
    """
    stream, base, close, cached = _open_source(f)
    try:
        return _load(stream, os.path.basename(cached) if cached else base)
    except CheckpointError as e:
        if not cached:
            raise
        # A complete download that does not load stays broken until removed from the cache: say where it is.
        where = "" if cached in str(e) else f" ({cached})"
        raise _reraise_with_name(e, base, f"; the downloaded file{where} can be deleted to fetch it again") from None
    finally:
        if close:
            stream.close()


def _load(stream: BinaryIO, base: str) -> dict:
    data = safe_load(stream)
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
        raise _reraise_with_name(e, base) from None
    except Exception as e:  # the file's contents made a constructor fail: a bad checkpoint, not a crash
        raise CheckpointError(f"{base}: malformed checkpoint ({type(e).__name__}: {_one_line(e)})") from e
    if not any(k in out for k in NETWORK_KEYS):
        raise CheckpointError(f"{base}: no networks in this file")
    out["format"] = fmt
    return out


def load_bytes(blob: bytes) -> dict:
    """`load_network_pkl` on an in-memory file (tests, fuzzing)."""
    return load_network_pkl(io.BytesIO(blob))
