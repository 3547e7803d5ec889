"""Hostile-pickle corpus for the security tests.

Pickles are assembled opcode by opcode (`assemble`) so that any global name can be written for any
protocol 0..5, exactly as an attacker would, without needing the target callable to be picklable.
Every payload tries to create a canary file; a safe loader must refuse each one before it runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import marshal
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

PROTOCOLS = range(6)


@dataclasses.dataclass(frozen=True)
class G:
    """A global reference: GLOBAL (protocol < 4) or STACK_GLOBAL."""
    module: str
    name: str


class Call:
    """func(*args) through REDUCE."""

    def __init__(self, func, *args):
        self.func, self.args = func, args


class Build:
    """obj, then BUILD with `state`."""

    def __init__(self, obj, state):
        self.obj, self.state = obj, state


class NewObj:
    """cls.__new__(cls, *args) through NEWOBJ (protocol >= 2; REDUCE before that)."""

    def __init__(self, cls, *args):
        self.cls, self.args = cls, args


class Items:
    """obj, then its items set with SETITEM(S), as pickle writes dict subclasses (EasyDict, OrderedDict)."""

    def __init__(self, obj, items: dict):
        self.obj, self.items = obj, items


class PersId:
    """A persistent id (PERSID / BINPERSID)."""

    def __init__(self, pid):
        self.pid = pid


class Inst:
    """module.name(*args) through the protocol 0/1 INST opcode (the name is inline text, not a GLOBAL)."""

    def __init__(self, module: str, name: str, *args):
        self.module, self.name, self.args = module, name, args


class Obj:
    """cls(*args) through the protocol 1 OBJ opcode."""

    def __init__(self, cls, *args):
        self.cls, self.args = cls, args


class Put:
    """`value`, then stored in memo slot `index` (PUT / BINPUT), left on the stack."""

    def __init__(self, index: int, value):
        self.index, self.value = index, value


class Get:
    """The object in memo slot `index` (GET / BINGET): how a pickle refers to one object twice."""

    def __init__(self, index: int):
        self.index = index


def _emit(x, p: int, out: list):
    e = lambda v: _emit(v, p, out)  # noqa: E731
    if x is None:
        out.append(b"N")
    elif x is True or x is False:
        out.append((b"\x88" if x else b"\x89") if p >= 2 else (b"I01\n" if x else b"I00\n"))
    elif isinstance(x, int):
        if p >= 1 and -2**31 <= x < 2**31:
            out.append(b"J" + struct.pack("<i", x))
        else:
            out.append(b"L%d\n" % x)
    elif isinstance(x, float):
        out.append(b"G" + struct.pack(">d", x) if p >= 1 else b"F" + repr(x).encode() + b"\n")
    elif isinstance(x, str):
        if p == 0:
            s = x.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a").replace("\r", "\\u000d")
            out.append(b"V" + s.encode("raw-unicode-escape") + b"\n")
        else:
            b = x.encode("utf-8", "surrogatepass")
            out.append(b"X" + struct.pack("<I", len(b)) + b)
    elif isinstance(x, bytes):
        if p >= 3:
            out.append(b"B" + struct.pack("<I", len(x)) + x)
        else:  # what Python itself writes for bytes before protocol 3
            e(Call(G("_codecs", "encode"), x.decode("latin1"), "latin1"))
    elif isinstance(x, tuple):
        out.append(b"(")
        for v in x:
            e(v)
        out.append(b"t")
    elif isinstance(x, list):
        out.append(b"(" if p == 0 else b"](")
        for v in x:
            e(v)
        out.append(b"l" if p == 0 else b"e")
    elif isinstance(x, dict):
        out.append(b"(" if p == 0 else b"}(")
        for k, v in x.items():
            e(k)
            e(v)
        out.append(b"d" if p == 0 else b"u")
    elif isinstance(x, G):
        if p >= 4:
            e(x.module)
            e(x.name)
            out.append(b"\x93")
        else:
            out.append(b"c" + x.module.encode() + b"\n" + x.name.encode() + b"\n")
    elif isinstance(x, Call):
        e(x.func)
        e(tuple(x.args))
        out.append(b"R")
    elif isinstance(x, NewObj):
        if p >= 2:
            e(x.cls)
            e(tuple(x.args))
            out.append(b"\x81")
        else:
            e(Call(x.cls, *x.args))
    elif isinstance(x, Build):
        e(x.obj)
        e(x.state)
        out.append(b"b")
    elif isinstance(x, Items):
        e(x.obj)
        out.append(b"" if p == 0 else b"(")
        for k, v in x.items.items():
            e(k)
            e(v)
            out.append(b"s" if p == 0 else b"")
        out.append(b"" if p == 0 else b"u")
    elif isinstance(x, Inst):
        out.append(b"(")
        for v in x.args:
            e(v)
        out.append(b"i" + x.module.encode() + b"\n" + x.name.encode() + b"\n")
    elif isinstance(x, Obj):
        out.append(b"(")
        e(x.cls)
        for v in x.args:
            e(v)
        out.append(b"o")
    elif isinstance(x, Put):
        e(x.value)
        out.append(b"p%d\n" % x.index if p == 0 else b"q" + bytes([x.index]))
    elif isinstance(x, Get):
        out.append(b"g%d\n" % x.index if p == 0 else b"h" + bytes([x.index]))
    elif isinstance(x, PersId):
        if p == 0:
            out.append(b"P" + str(x.pid).encode("ascii") + b"\n")
        else:
            e(x.pid)
            out.append(b"Q")
    else:
        raise TypeError(f"cannot assemble {type(x).__name__}")


def assemble(tree, protocol: int) -> bytes:
    """A pickle of `tree` for `protocol` (0..5), written opcode by opcode."""
    out = [b"\x80" + bytes([protocol])] if protocol >= 2 else []
    _emit(tree, protocol, out)
    out.append(b".")
    return b"".join(out)


# ------------------------------------------------------------------------------------------------
# Wrappers for the places a payload can hide

def legacy_torch_stream(main: bytes, keys: bytes | None = None, info: bytes | None = None,
                        data: bytes = b"") -> bytes:
    """A legacy torch.save byte string around a given main pickle (protocol 2 headers, as torch writes)."""
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    info = info or pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return head + info + main + (keys or pickle.dumps([], protocol=2)) + data


def storage_pid(stype=G("torch", "FloatStorage"), key="0", numel=1):
    return PersId(("storage", stype, key, "cpu", numel))


def tensor_from_stream(stream: bytes):
    """A tensor pickled the way torch does it: _rebuild_tensor_v2(_load_from_bytes(stream), ...)."""
    return Call(G("torch._utils", "_rebuild_tensor_v2"), Call(G("torch.storage", "_load_from_bytes"), stream),
                0, (1,), (1,), False, Call(G("collections", "OrderedDict")))


def persistent(meta):
    return Call(G("torch_utils.persistence", "_reconstruct_persistent_obj"), meta)


def module_meta(state=None, src="# nothing\n", init_kwargs=None, class_name="Generator"):
    state = dict(state or {})
    state.setdefault("_parameters", {})
    state.setdefault("_modules", {})
    state.setdefault("_init_args", ())
    state.setdefault("_init_kwargs", init_kwargs if init_kwargs is not None else {})
    return {"type": "class", "version": 6, "module_src": src, "class_name": class_name, "state": state}


def tf_network(state_extra=None, src="# nothing\n"):
    state = {"version": 4, "name": "G", "static_kwargs": {}, "components": {}, "build_module_src": src,
             "build_func_name": "G_main", "variables": []}
    state.update(state_extra or {})
    return Build(NewObj(G("dnnlib.tflib.network", "Network")), state)


def np_array(dtype_spec: str, shape, raw, dtype_state=None):
    dtype = Build(Call(G("numpy", "dtype"), dtype_spec, False, True),
                  dtype_state or (3, "|", None, None, None, -1, -1, 63))
    return Build(Call(G("numpy.core.multiarray", "_reconstruct"), G("numpy", "ndarray"), (0,), b"b"),
                 (1, tuple(shape), dtype, False, raw))


def zip_torch(data_pkl: bytes, entries: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        for k, v in (entries or {}).items():
            zf.writestr(f"archive/data/{k}", v)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# NVIDIA-format writer: records from `safe_load` back into a pickle shaped like NVIDIA's files, so tests
# can make the variants real checkpoints come in (only G_ema, extra keys, an augment pipe, other classes).

def _never_called(*args):
    raise AssertionError("a stand-in for NVIDIA's code was called")


class _Persistent:
    def __init__(self, meta):
        self.meta = meta

    def __reduce__(self):
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)


@contextlib.contextmanager
def nvidia_modules(live: bool = False):
    """Stand-in modules named like NVIDIA's (torch_utils.persistence, dnnlib.util, dnnlib.tflib.network):
    for pickle to write their global names, or, with live=True, for the plain unpickler to read files that
    use them (the persistence function then just returns its meta dict), as the corpus' control does."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "dnnlib.tflib", "dnnlib.tflib.network")
    made = {name: types.ModuleType(name) for name in names}
    code = (lambda meta: meta).__code__ if live else _never_called.__code__
    fn = types.FunctionType(code, {}, "_reconstruct_persistent_obj")
    fn.__module__, fn.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"
    made["torch_utils.persistence"]._reconstruct_persistent_obj = fn
    made["dnnlib.util"].EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    made["dnnlib.tflib.network"].Network = type("Network", (), {"__module__": "dnnlib.tflib.network",
                                                                "__setstate__": lambda self, st: None})
    for name in names:
        if "." in name:
            parent, child = name.rsplit(".", 1)
            setattr(made[parent], child, made[name])
    saved = {name: sys.modules.get(name) for name in made}
    sys.modules.update(made)
    try:
        yield made
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def nvidia_pickle(obj, protocol: int = 4, module_src: str = "# source omitted\n") -> bytes:
    """Pickles `obj` with every PersistentRecord written as NVIDIA's persistence REDUCE (meta dict)
    and every `_init_kwargs` dict as a dnnlib.util.EasyDict; tensors and numpy values as torch / numpy
    pickle them. `module_src` is what each network embeds as its source."""
    from networks.pickles import PersistentRecord

    with nvidia_modules() as mods:
        easydict = mods["dnnlib.util"].EasyDict

        def convert(x, key=None):
            if isinstance(x, PersistentRecord):
                return _Persistent({"type": "class", "version": 6, "module_src": module_src,
                                    "class_name": x.class_name, "state": convert(x.state)})
            if isinstance(x, dict):
                out = type(x)((k, convert(v, k)) for k, v in x.items())
                return easydict(out) if key == "_init_kwargs" else out
            if isinstance(x, list):
                return [convert(v) for v in x]
            if isinstance(x, tuple):
                return tuple(convert(v) for v in x)
            return x

        return pickle.dumps(convert(obj), protocol=protocol)


def rewrite_strings(data: bytes, mapping: dict) -> bytes:
    """`data` with every pickled string equal to a key of `mapping` replaced by its value.

    FRAME opcodes (protocol 4+) are dropped, since their lengths would no longer hold; frames are
    optional, so the result is still a valid pickle of the same objects.
    """
    import pickletools

    ops = list(pickletools.genops(data))
    out, count = [], 0
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        if op.name == "FRAME":
            continue
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8") and arg in mapping:
            b = mapping[arg].encode("utf-8", "surrogatepass")
            out.append(b"X" + struct.pack("<I", len(b)) + b)
            count += 1
        else:
            out.append(data[pos:end])
    if not count:
        raise ValueError("none of the strings occur in the pickle")
    return b"".join(out)


# ------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    name: str
    data: bytes
    unsafe: bool = True                 # must raise UnsafeCheckpointError (else: must load or raise CheckpointError)
    first_global: str | None = None     # the global the loader must name when refusing


def payloads(canary: Path, scripts: Path):
    """(name, tree, first_global): each tree, if evaluated by a normal unpickler, creates `canary`."""
    c = str(canary)
    touch = f"touch '{c}'"
    py = f"open({c!r}, 'w').close()"
    code = marshal.dumps(compile(py, "<payload>", "exec"))
    inner = assemble(Call(G("posix", "system"), touch), 2)
    return [
        ("os.system", Call(G("os", "system"), touch), "os.system"),
        ("posix.system", Call(G("posix", "system"), touch), "posix.system"),
        ("nt.system", Call(G("nt", "system"), touch), "nt.system"),
        ("os.popen", Call(G("os", "popen"), touch), "os.popen"),
        ("builtins.eval", Call(G("builtins", "eval"), py), "builtins.eval"),
        ("__builtin__.eval", Call(G("__builtin__", "eval"), py), "builtins.eval"),
        ("builtins.exec", Call(G("builtins", "exec"), py), "builtins.exec"),
        ("builtins.compile+exec", Call(G("builtins", "exec"), Call(G("builtins", "compile"), py, "x", "exec")),
         "builtins.exec"),
        ("builtins.open", Call(G("builtins", "open"), c, "w"), "builtins.open"),
        ("io.open", Call(G("io", "open"), c, "w"), "io.open"),
        ("builtins.getattr", Call(Call(G("builtins", "getattr"), Call(G("builtins", "__import__"), "os"), "system"),
                                  touch), "builtins.getattr"),
        ("builtins.__import__", [Call(G("builtins", "__import__"), "os"), Call(G("os", "system"), touch)],
         "builtins.__import__"),
        ("subprocess.Popen", Call(G("subprocess", "Popen"), ["touch", c]), "subprocess.Popen"),
        ("subprocess.check_output", Call(G("subprocess", "check_output"), ["touch", c]), "subprocess.check_output"),
        ("subprocess.run", Call(G("subprocess", "run"), ["touch", c]), "subprocess.run"),
        ("runpy.run_path", Call(G("runpy", "run_path"), str(scripts / "payload_script.py")), "runpy.run_path"),
        ("runpy.run_module", Call(G("runpy", "run_module"), "payload_module"), "runpy.run_module"),
        ("importlib.import_module", Call(G("importlib", "import_module"), "payload_module"),
         "importlib.import_module"),
        ("pickle.loads", Call(G("pickle", "loads"), inner), "pickle.loads"),
        ("_pickle.loads", Call(G("_pickle", "loads"), inner), "_pickle.loads"),
        ("marshal+FunctionType", Call(Call(G("types", "FunctionType"), Call(G("marshal", "loads"), code), {})),
         "types.FunctionType"),
        ("marshal.loads", [Call(G("marshal", "loads"), code)], "marshal.loads"),
        ("functools.partial", Call(Call(G("functools", "partial"), G("os", "system"), touch)), "functools.partial"),
        ("operator.methodcaller", Call(Call(G("operator", "methodcaller"), "system", touch),
                                       Call(G("importlib", "import_module"), "os")), "operator.methodcaller"),
        ("timeit.timeit", Call(G("timeit", "timeit"), py, "pass", None, 1), "timeit.timeit"),
        ("copyreg._reconstructor", Call(G("copyreg", "_reconstructor"), G("subprocess", "Popen"), G("subprocess", "Popen"),
                                        ["touch", c]), "copyreg._reconstructor"),
        ("torch.load", Call(G("torch", "load"), str(scripts / "payload.pt")), "torch.load"),
        ("torch.serialization.load", Call(G("torch.serialization", "load"), str(scripts / "payload.pt")),
         "torch.serialization.load"),
        ("torch.jit.load", Call(G("torch.jit", "load"), str(scripts / "payload.pt")), "torch.jit.load"),
        ("torch._utils._rebuild_parameter_with_state",
         Call(G("torch._utils", "_rebuild_parameter_with_state"), None, False, None, {}),
         "torch._utils._rebuild_parameter_with_state"),
        ("numpy.load", Call(G("numpy", "load"), str(scripts / "payload.npy"), None, True), "numpy.load"),
        ("numpy.frombuffer(object)", Call(G("numpy", "frombuffer"), b"\0" * 8, "O"), "numpy.frombuffer"),
        ("numpy.testing runstring", Call(G("numpy.testing._private.utils", "runstring"), py, {}),
         "numpy.testing._private.utils.runstring"),
    ]


def write_payload_files(canary: Path, scripts: Path):
    """Files some payloads reference (a script, a module, a .pt and a .npy that would create the canary)."""
    scripts.mkdir(parents=True, exist_ok=True)
    py = f"open({str(canary)!r}, 'w').close()\n"
    (scripts / "payload_script.py").write_text(py)
    (scripts / "payload_module.py").write_text(py)
    evil = assemble(Call(G("builtins", "exec"), py), 2)
    (scripts / "payload.pt").write_bytes(evil)
    # A .npy whose object array, read with allow_pickle, is this pickle.
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header + " " * (118 - len(header)) + "\n"
    (scripts / "payload.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
                                          + evil)


def build_corpus(canary: Path, scripts: Path) -> list[Case]:
    """Every payload at every protocol, then the placements (where inside a real-looking file it hides)."""
    write_payload_files(canary, scripts)
    touch = f"touch '{canary}'"
    system = Call(G("os", "system"), touch)
    cases = []
    for p in PROTOCOLS:
        for name, tree, first in payloads(canary, scripts):
            cases.append(Case(f"{name}/p{p}", assemble(tree, p), first_global=first))

    def place(name, tree_fn, first="os.system", unsafe=True, wrap=None, protocols=PROTOCOLS):
        for p in protocols:
            data = assemble(tree_fn(p), p)
            cases.append(Case(f"{name}/p{p}", wrap(data) if wrap else data, unsafe, first if unsafe else None))

    place("in dict", lambda p: {"G_ema": {"x": [1, 2, system]}})
    place("in OrderedDict", lambda p: Items(Call(G("collections", "OrderedDict")), {"a": system}))
    place("persistent state", lambda p: {"G": persistent(module_meta({"w_dim": system}))})
    place("persistent _init_kwargs", lambda p: {"G": persistent(module_meta(init_kwargs=Items(
        NewObj(G("dnnlib.util", "EasyDict")), {"mapping_kwargs": {"num_layers": system}})))})
    place("persistent _parameters", lambda p: persistent(module_meta({"_parameters": {"weight": system}})))
    place("persistent meta", lambda p: {"G": persistent(system)})
    place("persistent child", lambda p: persistent(module_meta({"_modules": {"mapping": persistent(
        module_meta({"x": system}, class_name="MappingNetwork"))}})))
    # Inside the nested legacy torch.save byte string of a tensor.
    place("load_from_bytes main", lambda p: {"w": tensor_from_stream(legacy_torch_stream(assemble(system, p)))})
    place("load_from_bytes storage type", lambda p: {"w": tensor_from_stream(legacy_torch_stream(
        assemble(storage_pid(stype=G("os", "system")), p)))}, protocols=range(1, 6))
    place("load_from_bytes keys", lambda p: {"w": tensor_from_stream(legacy_torch_stream(
        assemble(storage_pid(), 2), keys=assemble([system], p)))})
    place("load_from_bytes sysinfo", lambda p: {"w": tensor_from_stream(legacy_torch_stream(
        assemble(storage_pid(), 2), info=assemble({"little_endian": system}, p)))})
    place("load_from_bytes nested twice", lambda p: {"w": tensor_from_stream(legacy_torch_stream(
        assemble(tensor_from_stream(legacy_torch_stream(assemble(system, p))), p)))})
    # numpy object arrays: numpy's own loader would unpickle (and so call) the items.
    place("numpy object array", lambda p: np_array("O8", (1,), [system]), "numpy.dtype(object)")
    place("numpy object array, harmless items", lambda p: np_array("O8", (2,), [1, "a"]), "numpy.dtype(object)")
    place("numpy record with object field", lambda p: np_array("V16", (1,), b"\0" * 16, (
        3, "|", None, ("a",), {"a": (Build(Call(G("numpy", "dtype"), "O8", False, True),
                                           (3, "|", None, None, None, -1, -1, 63)), 0)}, 16, 8, 63)),
          "numpy.dtype(object)")
    place("numpy object scalar", lambda p: Call(G("numpy.core.multiarray", "scalar"), Build(
        Call(G("numpy", "dtype"), "O8", False, True), (3, "|", None, None, None, -1, -1, 63)), system),
          "numpy.dtype(object)")
    # Legacy TensorFlow networks.
    place("tf static_kwargs", lambda p: (tf_network({"static_kwargs": {"resolution": system}}),))
    place("tf variables", lambda p: tf_network({"variables": [("dlatent_avg", system)]}))
    place("tf components", lambda p: tf_network({"components": {"mapping": tf_network({"name": system})}}))
    place("tf state is payload", lambda p: Build(NewObj(G("dnnlib.tflib.network", "Network")), system))
    # torch.save files.
    place("zip torch.save data.pkl", lambda p: {"w": system}, wrap=zip_torch)
    place("zip torch.save storage type", lambda p: {"w": Call(G("torch._utils", "_rebuild_tensor_v2"),
          storage_pid(stype=G("os", "system")), 0, (1,), (1,), False, None)}, wrap=zip_torch,
          protocols=range(1, 6))
    place("legacy torch.save main", lambda p: {"w": system}, wrap=legacy_torch_stream)
    # Doors other than globals.
    place("BUILD on OrderedDict", lambda p: Build(Call(G("collections", "OrderedDict")), {"keys": 1}),
          "BUILD(OrderedDict)")
    place("BUILD on tensor", lambda p: Build(tensor_from_stream(legacy_torch_stream(
        assemble(storage_pid(), 2), keys=pickle.dumps(["0"], 2), data=struct.pack("<q", 1) + b"\0" * 4)),
        (None, 0, (1,), (1,))), "BUILD(Tensor)")
    # Old opcodes that instantiate a class without REDUCE: every protocol's unpickler still runs them.
    place("INST opcode", lambda p: {"G_ema": Inst("os", "system", touch)})
    place("OBJ opcode", lambda p: {"G_ema": Obj(G("os", "system"), touch)})
    place("INST of an allowed name", lambda p: Inst("torch_utils.persistence", "_reconstruct_persistent_obj",
                                                  Call(G("subprocess", "run"), ["touch", str(canary)])),
          "subprocess.run")
    place("persistent id in plain pickle", lambda p: PersId("0" if p == 0 else ("storage", 1)), "persistent_load")
    place("_codecs.encode rot13", lambda p: Call(G("_codecs", "encode"), "abc", "rot13"), "_codecs.encode")
    # Code in module_src / build_module_src: data only; must load (or be refused) without running.
    code = f"open({str(canary)!r}, 'w').close()\n"
    place("module_src", lambda p: {"G": persistent(module_meta(src=code))}, unsafe=False)
    place("build_module_src", lambda p: (tf_network(src=code),), unsafe=False)
    # ... and the same source handed to exec / compile+exec by the pickle itself (memo reference).
    place("module_src run by exec", lambda p: {"G": persistent(module_meta(src=Put(1, code))),
                                               "x": Call(G("builtins", "exec"), Get(1))}, "builtins.exec")
    place("build_module_src run by exec", lambda p: (tf_network(src=Put(1, code)), Call(G("builtins", "exec"), Get(1))),
          "builtins.exec")
    place("module_src run by compile", lambda p: {"G": persistent(module_meta(src=Put(1, code))), "x": Call(
        G("builtins", "exec"), Call(G("builtins", "compile"), Get(1), "<src>", "exec"))}, "builtins.exec")
    return cases
