"""Allow-list unpickler: checkpoint bytes -> plain records. Nothing from the file is ever executed.

A pickle is a small program: its GLOBAL opcodes import any name and REDUCE calls it. This module
runs that program against a fixed table (`_ALLOWED`) that maps each permitted `module.name` to a
constructor written here; every other global raises `UnsafeCheckpointError`. The constructors
check their arguments and return inert data: tensors, numpy arrays, dicts, and the records below.

Formats read by `safe_load`:
  * NVIDIA PyTorch network pickles (stylegan2-ada-pytorch, stylegan3): persistence objects become
    `PersistentRecord`s; their embedded `module_src` is hashed, never run.
  * Legacy TensorFlow pickles (stylegan2, stylegan2-ada): `Network` objects become `TFNetworkRecord`s.
  * Plain pickles of data (the project's own checkpoints), including tensors pickled by torch's
    standard reduce (`torch.storage._load_from_bytes` holding a nested legacy `torch.save` stream).
  * `torch.save` files, zip and legacy layout, under the same rules.

Two more doors of the pickle machine are shut: persistent ids are accepted only inside torch's own
storage streams and only in the `('storage', type, key, location, numel)` shape, and BUILD (which
would call an object's `__setstate__` or write its `__dict__`) is accepted only on the inert
placeholder classes defined here.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import os
import pickle
import pickletools
import re
import zipfile
from typing import Any, Callable, Optional

import numpy as np
import torch

from networks.errors import CheckpointError, UnknownArchitectureError, UnsafeCheckpointError

__all__ = ["safe_load", "PersistentRecord", "TFNetworkRecord", "ALLOWED_GLOBALS"]


@dataclasses.dataclass
class PersistentRecord:
    """One `torch_utils.persistence` object: a torch.nn.Module's class name and its `__dict__`.

    state: `_parameters` / `_buffers` (OrderedDict name -> tensor or None), `_modules`
    (OrderedDict name -> PersistentRecord), `_init_args` (tuple), `_init_kwargs` (plain dict,
    nested) and the remaining attributes (ints, floats, lists, numpy values, hook dicts).
    module_src_hash: sha256 hex digest of the embedded source; the source itself is dropped.
    """
    class_name: str
    state: dict
    module_src_hash: str


@dataclasses.dataclass
class TFNetworkRecord:
    """One `dnnlib.tflib.network.Network` of a legacy TensorFlow pickle.

    variables: TF variable name (e.g. '4x4/Conv/weight') -> numpy array, in file order.
    components: sub-network name ('mapping', 'synthesis') -> TFNetworkRecord.
    """
    name: str
    version: int
    static_kwargs: dict
    components: dict
    variables: dict
    build_func_name: str


# ------------------------------------------------------------------------------------------------
# Placeholders. BUILD is allowed on these classes only; each one stores its state and nothing else.

class _Placeholder:
    state: Any = None

    def __setstate__(self, state):
        self.state = state


class _TFNetworkStub(_Placeholder):
    """Stands in for dnnlib.tflib.network.Network until `_finalize` turns it into a TFNetworkRecord."""


class _ODict(collections.OrderedDict):
    """collections.OrderedDict with BUILD refused (the real one would accept attribute writes)."""


class _EasyDict(dict):
    """dnnlib.util.EasyDict: read as a plain dict."""


class _Storage:
    """A torch storage: `data` is a flat tensor of `numel` elements of `dtype`.

    Its bytes may arrive after the tensors that view it (legacy torch.save), so `data` is allocated
    on first use and `fill` copies into it; otherwise `fill` adopts the bytes without a copy.
    """

    def __init__(self, dtype: torch.dtype, numel: int):
        self.dtype, self.numel = dtype, numel
        self.itemsize = torch.empty(0, dtype=dtype).element_size()
        self._data: Optional[torch.Tensor] = None
        self.filled = False

    @property
    def data(self) -> torch.Tensor:
        if self._data is None:
            self._data = torch.empty(self.numel, dtype=self.dtype)
        return self._data

    def fill(self, raw: bytes):
        _check(len(raw) == self.numel * self.itemsize, "torch storage data is truncated")
        flat = torch.frombuffer(bytearray(raw), dtype=self.dtype) if raw else torch.empty(0, dtype=self.dtype)
        if self._data is None:
            self._data = flat
        else:
            self._data.copy_(flat)
        self.filled = True


class _StorageType:
    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype
        self.itemsize = torch.empty(0, dtype=dtype).element_size()


class _NDArrayType:
    """The `numpy.ndarray` global: only ever passed to `_reconstruct`, never called."""


_NDARRAY = _NDArrayType()


def _fail(msg: str):
    raise CheckpointError(msg)


def _check(cond, msg: str):
    if not cond:
        raise CheckpointError(msg)


def _is_int(x) -> bool:
    return type(x) is int


# ------------------------------------------------------------------------------------------------
# numpy

_NP_DTYPE_SPEC = re.compile(r"[biufcUSV]\d{0,9}")


class _DTypeStub(_Placeholder):
    """numpy.dtype(spec, align, copy); BUILD sets its state, after which `value` is a real dtype."""

    def __init__(self, spec):
        if spec in ("O", "O8", "O4"):
            raise UnsafeCheckpointError("checkpoint holds a numpy array of Python objects "
                                        "('numpy.dtype(object)'); refusing to load", "numpy.dtype(object)")
        _check(isinstance(spec, str) and _NP_DTYPE_SPEC.fullmatch(spec), f"unsupported numpy dtype {spec!r}")
        self.spec = spec
        self.value = _safe_dtype(np.dtype(spec))

    def __setstate__(self, state):
        _check(isinstance(state, tuple) and len(state) in (8, 9), "malformed numpy dtype state")
        _version, endian, subdescr, names, fields, elsize = state[:6]
        if names is not None:
            _check(isinstance(names, tuple) and isinstance(fields, dict) and _is_int(elsize),
                   "malformed numpy record dtype")
            formats, offsets = [], []
            for n in names:
                f = fields.get(n) if isinstance(n, str) else None
                _check(isinstance(f, tuple) and len(f) in (2, 3) and isinstance(f[0], _DTypeStub)
                       and _is_int(f[1]), "malformed numpy record dtype field")
                formats.append(f[0].value)
                offsets.append(f[1])
            dt = np.dtype({"names": list(names), "formats": formats, "offsets": offsets, "itemsize": elsize})
        elif subdescr is not None:
            _check(isinstance(subdescr, tuple) and len(subdescr) == 2 and isinstance(subdescr[0], _DTypeStub)
                   and isinstance(subdescr[1], tuple) and all(_is_int(d) and d >= 0 for d in subdescr[1]),
                   "malformed numpy sub-array dtype")
            dt = np.dtype((subdescr[0].value, subdescr[1]))
        else:
            _check(endian in ("<", ">", "|", "="), "malformed numpy dtype byte order")
            dt = self.value.newbyteorder(endian) if endian in "<>" else self.value
        self.value = _safe_dtype(dt)


def _safe_dtype(dt: np.dtype) -> np.dtype:
    if dt.hasobject:
        raise UnsafeCheckpointError("checkpoint holds a numpy dtype containing Python objects "
                                    "('numpy.dtype(object)'); refusing to load", "numpy.dtype(object)")
    return dt


def _np_dtype(spec, align=False, copy=False):
    return _DTypeStub(spec)


def _np_array(shape, dtype, fortran, raw) -> np.ndarray:
    if isinstance(raw, list):
        raise UnsafeCheckpointError("checkpoint holds a numpy array of Python objects "
                                    "('numpy.dtype(object)'); refusing to load", "numpy.dtype(object)")
    _check(isinstance(dtype, _DTypeStub), "numpy array without a dtype")
    _check(isinstance(shape, tuple) and len(shape) <= 64 and all(_is_int(d) and d >= 0 for d in shape),
           "malformed numpy array shape")
    _check(isinstance(raw, (bytes, bytearray)), "numpy array without raw data")
    dt = dtype.value
    count = 1
    for d in shape:
        count *= d
    _check(count * dt.itemsize == len(raw), f"numpy array data is {len(raw)} bytes, shape {shape} "
           f"of {dt} needs {count * dt.itemsize}")
    flat = np.frombuffer(raw, dtype=dt, count=count) if count else np.empty(0, dtype=dt)
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


class _ArrayStub(_Placeholder):
    """numpy.ndarray being rebuilt: `_reconstruct` makes it, BUILD supplies shape, dtype and bytes."""
    value = None

    def __setstate__(self, state):
        _check(isinstance(state, tuple) and len(state) in (4, 5), "malformed numpy array state")
        self.value = _np_array(*state[-4:])


def _np_frombuffer(raw, dtype, shape, order):
    # Protocol 5 pickles of contiguous arrays: the bytes travel in-band as bytes or bytearray.
    _check(order in ("C", "F"), "malformed numpy array order")
    return _np_array(shape, dtype, order == "F", raw)


def _np_reconstruct(cls, shape, typecode):
    _check(cls is _NDARRAY, "numpy _reconstruct of something other than numpy.ndarray")
    return _ArrayStub()


def _np_scalar(dtype, data=None):
    _check(isinstance(dtype, _DTypeStub), "numpy scalar without a dtype")
    _check(isinstance(data, bytes) and len(data) == dtype.value.itemsize, "malformed numpy scalar")
    return np.frombuffer(data, dtype=dtype.value, count=1)[0]


# ------------------------------------------------------------------------------------------------
# torch

def _torch_size(dims=()):
    _check(isinstance(dims, (tuple, list)) and all(_is_int(d) for d in dims), "malformed torch.Size")
    return torch.Size(dims)


def _rebuild_tensor(storage, offset, size, stride, dtype=None) -> torch.Tensor:
    _check(isinstance(storage, _Storage), "tensor without a storage")
    _check(_is_int(offset) and offset >= 0, "malformed tensor offset")
    _check(isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= 64
           and all(_is_int(v) and v >= 0 for v in size + stride), "malformed tensor size/stride")
    flat = storage.data
    if dtype is not None and dtype != flat.dtype:
        _check(isinstance(dtype, torch.dtype), "malformed tensor dtype")
        itemsize = torch.empty(0, dtype=dtype).element_size()
        _check(flat.dtype == torch.uint8 and flat.numel() % itemsize == 0, "tensor dtype does not fit its storage")
        flat = flat.view(dtype)
    if 0 not in size:  # the last element addressed must lie inside the storage
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        _check(last < flat.numel(), f"tensor of size {list(size)} runs past its storage of {flat.numel()} elements")
    else:
        _check(offset <= flat.numel(), "tensor offset past its storage")
    return flat.as_strided(size, stride, offset)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    return _rebuild_tensor(storage, offset, size, stride, dtype)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    # Parameters come back as plain tensors: the loader builds its own modules around them.
    _check(isinstance(data, torch.Tensor), "parameter without a tensor")
    return data


def _load_from_bytes(data):
    _check(isinstance(data, bytes), "torch storage without bytes")
    storage = _load_legacy_torch(data)
    _check(isinstance(storage, _Storage), "torch storage stream does not hold a storage")
    return storage


_STORAGE_TYPES = {
    "torch." + name: _StorageType(name, dtype) for name, dtype in [
        ("FloatStorage", torch.float32), ("DoubleStorage", torch.float64), ("HalfStorage", torch.float16),
        ("BFloat16Storage", torch.bfloat16), ("LongStorage", torch.int64), ("IntStorage", torch.int32),
        ("ShortStorage", torch.int16), ("CharStorage", torch.int8), ("ByteStorage", torch.uint8),
        ("BoolStorage", torch.bool), ("ComplexFloatStorage", torch.complex64),
        ("ComplexDoubleStorage", torch.complex128)]}
_STORAGE_TYPES["torch.storage.UntypedStorage"] = _StorageType("UntypedStorage", torch.uint8)


# ------------------------------------------------------------------------------------------------
# Everything else

def _persistent_obj(meta):
    _check(isinstance(meta, dict) and meta.get("type") == "class", "malformed persistent object")
    name, src, state = meta.get("class_name"), meta.get("module_src"), meta.get("state")
    _check(isinstance(name, str) and isinstance(src, str) and isinstance(state, dict),
           "persistent object without class_name, module_src or state")
    digest = hashlib.sha256(src.encode("utf-8", "surrogatepass")).hexdigest()
    return PersistentRecord(name, state, digest)  # state is cleaned up by _finalize


def _codecs_encode(text, encoding="utf-8"):
    # Protocol 0-2 pickles store bytes as `_codecs.encode(str, 'latin1')`.
    if encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"'_codecs.encode' with encoding {encoding!r} is not allowed", "_codecs.encode")
    _check(isinstance(text, str), "malformed byte string")
    return text.encode("latin1")


def _bytes(*args):
    _check(not args, "builtins.bytes is allowed only for the empty byte string")  # bytes(n) allocates n
    return b""


def _bytearray(data=b""):
    _check(isinstance(data, bytes), "malformed bytearray")
    return bytearray(data)


def _items(items):
    _check(isinstance(items, (list, tuple)), "malformed set")
    return items


def _complex(real=0.0, imag=0.0):
    _check(all(type(v) in (int, float) for v in (real, imag)), "malformed complex number")
    return complex(real, imag)


# 'module.name' -> constructor. The whole surface a checkpoint can reach.
ALLOWED_GLOBALS: dict[str, Callable] = {
    "collections.OrderedDict": _ODict,
    "dnnlib.util.EasyDict": _EasyDict,
    "torch_utils.persistence._reconstruct_persistent_obj": _persistent_obj,
    "dnnlib.tflib.network.Network": _TFNetworkStub,
    "tfutil.Network": _TFNetworkStub,                        # ProGAN (tkarras/progressive_growing_of_gans)
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,   # dtypes without a typed storage (uint16, float8)
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch.storage._load_from_bytes": _load_from_bytes,
    "torch.Size": _torch_size,
    "numpy.core.multiarray._reconstruct": _np_reconstruct,
    "numpy._core.multiarray._reconstruct": _np_reconstruct,
    "numpy.core.multiarray.scalar": _np_scalar,
    "numpy._core.multiarray.scalar": _np_scalar,
    "numpy.core.numeric._frombuffer": _np_frombuffer,
    "numpy._core.numeric._frombuffer": _np_frombuffer,
    "numpy.ndarray": _NDARRAY,
    "numpy.dtype": _np_dtype,
    "_codecs.encode": _codecs_encode,
    "builtins.bytes": _bytes,
    "builtins.bytearray": _bytearray,
    "builtins.set": lambda items=(): set(_items(items)),
    "builtins.frozenset": lambda items=(): frozenset(_items(items)),
    "builtins.complex": _complex,
}
# torch dtypes are plain values (pickled as a bare global, never called).
ALLOWED_GLOBALS.update({f"torch.{n}": getattr(torch, n) for n in dir(torch)
                        if isinstance(getattr(torch, n, None), torch.dtype)})

# The original Theano release of ProGAN pickled its networks as these; their state is Theano's, not TF's.
_THEANO_NETWORKS = ("network.Network", "theano.tensor.sharedvar.TensorSharedVariable")

_MODULE_ALIASES = {"__builtin__": "builtins"}  # Python 2 era names in protocol 0-2 pickles


class _Unpickler(pickle._Unpickler):
    """The pure-Python unpickler with find_class, persistent_load and BUILD locked down.

    The pure-Python machine is used (not the C one) because its BUILD can be replaced and its memo
    is a dict, so a forged memo index cannot make it allocate gigabytes.
    """
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, storages: Optional[Callable] = None):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        full = f"{_MODULE_ALIASES.get(module, module)}.{name}"
        target = ALLOWED_GLOBALS.get(full)
        if target is None and self._storages is not None:
            target = _STORAGE_TYPES.get(full)
        if target is None and full in _THEANO_NETWORKS:
            raise UnknownArchitectureError(f"checkpoint is a Theano-era ProGAN network ('{full}'); only the "
                                           "TensorFlow pickles of ProGAN are supported (nothing from the file was run)")
        if target is None:
            raise UnsafeCheckpointError(f"checkpoint references '{full}', which is not an allowed data type; "
                                        f"refusing to load it (nothing from the file was run)", global_name=full)
        return target

    def persistent_load(self, pid):
        if self._storages is None:
            raise UnsafeCheckpointError("checkpoint uses a persistent id ('persistent_load') outside a torch "
                                        "storage stream; refusing to load it", global_name="persistent_load")
        return self._storages(pid)

    def _build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, _Placeholder):
            kind = "BUILD(%s)" % ("OrderedDict" if isinstance(inst, _ODict) else type(inst).__name__)
            raise UnsafeCheckpointError(f"checkpoint sets the state of an object ('{kind}'); refusing to load it",
                                        global_name=kind)
        inst.__setstate__(state)

    dispatch[pickle.BUILD[0]] = _build


def _unpickle(f, storages=None):
    return _Unpickler(f, storages).load()


# ------------------------------------------------------------------------------------------------
# torch.save streams

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PREFIX = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # pickle of the magic number


def _storage_pid(pid, max_bytes: int):
    """Checks a ('storage', type, key, location, numel[, None]) persistent id; returns (type, key, numel)."""
    _check(isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage", "malformed torch storage id")
    stype, key, location, numel = pid[1:5]
    _check(isinstance(stype, _StorageType) and isinstance(key, str) and isinstance(location, str)
           and _is_int(numel) and numel >= 0 and (len(pid) == 5 or pid[5] is None), "malformed torch storage id")
    nbytes = numel * stype.itemsize
    _check(nbytes <= max_bytes, f"torch storage declares {nbytes} bytes, more than the file holds")
    return stype, key, numel


def _load_legacy_torch(buf: bytes):
    """Legacy (non-zip) torch.save: magic, protocol, sys-info, main pickle, keys, then raw storages."""
    f = io.BytesIO(buf)
    _check(_unpickle(f) == _LEGACY_MAGIC, "not a torch.save stream")
    _check(_unpickle(f) == 1001, "unsupported torch.save protocol version")
    info = _unpickle(f)
    _check(isinstance(info, dict) and info.get("little_endian") is True, "unsupported torch.save byte order")
    storages: dict[str, _Storage] = {}

    def resolve(pid):
        stype, key, numel = _storage_pid(pid, len(buf) - f.tell())
        st = storages.get(key)
        if st is None:
            st = storages[key] = _Storage(stype.dtype, numel)
        _check(st.dtype == stype.dtype and st.numel == numel, "torch storage declared twice differently")
        return st

    result = _unpickle(f, resolve)
    keys = _unpickle(f)
    _check(isinstance(keys, list) and all(isinstance(k, str) for k in keys), "malformed torch storage key list")
    for key in keys:
        st = storages.get(key)
        _check(st is not None and not st.filled, f"unexpected torch storage {key!r}")
        head = f.read(8)
        _check(len(head) == 8 and int.from_bytes(head, "little", signed=True) == st.numel,
               "torch storage size does not match its declaration")
        st.fill(f.read(st.numel * st.itemsize))
    _check(all(st.filled for st in storages.values()), "torch storage data is missing")
    return result


def _load_zip_torch(buf: bytes):
    """Zip torch.save: `<archive>/data.pkl` plus one stored entry `<archive>/data/<key>` per storage."""
    zf = zipfile.ZipFile(io.BytesIO(buf))
    pkls = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
    _check(len(pkls) == 1, "zip file is not a torch.save archive")
    prefix = pkls[0][: -len("data.pkl")]
    if prefix + "byteorder" in zf.namelist():
        _check(zf.read(prefix + "byteorder").strip() == b"little", "unsupported torch.save byte order")
    storages: dict[str, _Storage] = {}

    def resolve(pid):
        stype, key, numel = _storage_pid(pid, len(buf))
        _check(re.fullmatch(r"\w{1,64}", key) is not None, "malformed torch storage key")
        st = storages.get(key)
        if st is None:
            try:
                info = zf.getinfo(f"{prefix}data/{key}")
            except KeyError:
                _fail(f"torch storage {key!r} is missing from the archive")
            st = _Storage(stype.dtype, numel)
            # torch writes storages uncompressed; refusing compression rules out zip bombs.
            _check(info.compress_type == zipfile.ZIP_STORED and info.file_size == numel * st.itemsize,
                   f"torch storage {key!r} has the wrong size")
            with zf.open(info) as entry:
                st.fill(entry.read(info.file_size + 1))
            storages[key] = st
        _check(st.dtype == stype.dtype and st.numel == numel, "torch storage declared twice differently")
        return st

    with zf.open(pkls[0]) as f:
        return _unpickle(io.BytesIO(f.read(len(buf) * 4 + 1024)), resolve)


# ------------------------------------------------------------------------------------------------
# Placeholders -> plain data

_ATOMS = (str, bytes, bytearray, int, float, bool, complex, type(None), torch.Tensor, np.ndarray, np.generic,
          np.dtype, torch.dtype, torch.Size)


def _finalize(obj, seen: dict):
    """Replaces placeholders with real values and dict subclasses with dict / OrderedDict."""
    key = id(obj)
    if key in seen:
        return seen[key]
    if isinstance(obj, _ATOMS):
        return obj
    t = type(obj)
    if t is _ArrayStub or t is _DTypeStub:
        _check(obj.value is not None, "numpy array without data")
        out = seen[key] = obj.value
    elif t is list:
        out = seen[key] = []
        out.extend(_finalize(v, seen) for v in obj)
    elif t in (dict, _EasyDict, _ODict):
        out = seen[key] = collections.OrderedDict() if t is _ODict else {}
        for k, v in dict.items(obj):
            out[_finalize(k, seen)] = _finalize(v, seen)
    elif t in (tuple, set, frozenset):
        out = seen[key] = t(_finalize(v, seen) for v in obj)
    elif t is PersistentRecord:
        out = seen[key] = PersistentRecord(obj.class_name, {}, obj.module_src_hash)
        state = _finalize(obj.state, seen)
        _check(isinstance(state, dict), "persistent object state is not a dict")
        out.state = state
    elif t is _TFNetworkStub:
        out = seen[key] = TFNetworkRecord("", 0, {}, {}, {}, "")
        _fill_tf_record(out, _finalize(obj.state, seen))
    else:
        _fail(f"unexpected {t.__name__} object in checkpoint")
    return out


def _fill_tf_record(rec: TFNetworkRecord, state):
    _check(isinstance(state, dict), "TensorFlow network without a state dict")
    rec.name, rec.version = state.get("name"), state.get("version")
    rec.build_func_name = state.get("build_func_name")
    rec.static_kwargs = state.get("static_kwargs") or {}
    components, variables = state.get("components") or {}, state.get("variables") or []
    _check(isinstance(rec.name, str) and _is_int(rec.version) and isinstance(rec.build_func_name, str)
           and isinstance(rec.static_kwargs, dict), "malformed TensorFlow network state")
    _check(isinstance(components, dict) and all(isinstance(c, TFNetworkRecord) for c in components.values()),
           "malformed TensorFlow network components")
    _check(isinstance(variables, (list, tuple)) and all(
        isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], (np.ndarray, np.generic))
        for v in variables), "malformed TensorFlow network variables")
    rec.components = dict(components)
    rec.variables = {name: np.asarray(value) for name, value in variables}


# ------------------------------------------------------------------------------------------------

_PICKLE_OPCODES = frozenset(op.code.encode("latin1")[0] for op in pickletools.opcodes)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _looks_like_pickle(buf: bytes) -> bool:
    if buf.startswith(b"PK\x03\x04"):
        return True  # zip torch.save
    if buf[:1] == b"\x80":
        return len(buf) > 1 and 2 <= buf[1] <= 5  # PROTO opcode of protocol 2+
    # Protocol 0/1 have no header: start with an opcode and end with STOP.
    return bool(buf) and buf[0] in _PICKLE_OPCODES and buf.rstrip(b"\r\n").endswith(b".")


def safe_load(f) -> object:
    """Reads a pickle or torch.save file (path, binary file object or bytes) into plain data.

    Returns dicts / lists / tuples / scalars, torch tensors (requires_grad False), numpy arrays,
    `PersistentRecord`s and `TFNetworkRecord`s. Raises `UnsafeCheckpointError` for any global
    outside `ALLOWED_GLOBALS` and `CheckpointError` (one line) for anything malformed.
    """
    if isinstance(f, (bytes, bytearray, memoryview)):
        buf, where = bytes(f), "data"
    elif isinstance(f, (str, os.PathLike)):
        try:
            with open(f, "rb") as fh:
                buf = fh.read()
        except OSError as e:
            raise CheckpointError(f"cannot read {os.fspath(f)}: {e.strerror or e}") from e
        where = os.fspath(f)
    else:
        buf, where = f.read(), getattr(f, "name", "data")
        _check(isinstance(buf, bytes), "safe_load needs a binary file")
    if not _looks_like_pickle(buf):
        raise CheckpointError(f"not a pickle file: {where}")
    try:
        if buf.startswith(b"PK\x03\x04"):
            obj = _load_zip_torch(buf)
        elif buf.startswith(_LEGACY_PREFIX):
            obj = _load_legacy_torch(buf)
        else:
            obj = _unpickle(io.BytesIO(buf))
        return _finalize(obj, {})
    except CheckpointError:
        raise
    except RecursionError as e:
        raise CheckpointError(f"corrupt checkpoint {where}: nested too deeply") from e
    except MemoryError as e:
        raise CheckpointError(f"corrupt checkpoint {where}: declares a size too large to load") from e
    except EOFError as e:
        raise CheckpointError(f"truncated checkpoint {where}: unexpected end of data") from e
    except Exception as e:  # any other failure of the pickle machine means a malformed file
        raise CheckpointError(f"corrupt checkpoint {where}: {type(e).__name__}: {_one_line(e)}") from e
