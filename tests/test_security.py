"""The safe unpickler never runs code from a checkpoint.

Every case in the hostile corpus (tests/hostile) tries to create a canary file when unpickled the
ordinary way; safe_load and load_network_pkl must refuse it with UnsafeCheckpointError naming the
offending global, and the canary must never appear. Code embedded as data (module_src,
build_module_src) must load, or be refused, without running.
"""
import collections
import io
import pickle
import pickletools
from pathlib import Path

import pytest
import torch

import hostile
from networks.checkpoint import load_bytes
from networks.errors import CheckpointError, UnsafeCheckpointError
from networks.pickles import ALLOWED_GLOBALS, PersistentRecord, TFNetworkRecord, safe_load

DATA = Path(__file__).parent / "data" / "nvidia-compat"

# The list of hostile kinds -> corpus categories (case name before '/p<protocol>').
REQUIRED = {
    "os.system": ["os.system", "posix.system"],
    "eval": ["builtins.eval", "__builtin__.eval"],
    "exec": ["builtins.exec", "builtins.compile+exec"],
    "subprocess": ["subprocess.Popen", "subprocess.check_output", "subprocess.run"],
    "nested torch.storage._load_from_bytes bytes": [
        "load_from_bytes main", "load_from_bytes storage type", "load_from_bytes keys", "load_from_bytes sysinfo",
        "load_from_bytes nested twice"],
    "numpy object arrays": ["numpy object array", "numpy object array, harmless items",
                            "numpy record with object field", "numpy object scalar"],
    "payloads in persistence state": ["persistent state", "persistent _init_kwargs", "persistent _parameters",
                                      "persistent meta", "persistent child"],
    "code in module_src / build_module_src": ["module_src run by exec", "module_src run by compile",
                                              "build_module_src run by exec"],
    "opcodes other than REDUCE": ["INST opcode", "OBJ opcode", "INST of an allowed name", "BUILD on OrderedDict",
                                  "persistent id in plain pickle"],
}
# Categories whose payload must really run under a plain unpickler (the control): one per kind above.
LIVE = ["os.system", "builtins.eval", "builtins.exec", "subprocess.check_output", "subprocess.run",
        "runpy.run_path", "pickle.loads", "load_from_bytes main", "load_from_bytes nested twice",
        "load_from_bytes sysinfo", "numpy object array", "numpy object scalar", "persistent state",
        "persistent _init_kwargs", "persistent _parameters", "persistent child", "module_src run by exec",
        "module_src run by compile", "build_module_src run by exec", "tf static_kwargs", "tf variables",
        "INST opcode", "OBJ opcode", "INST of an allowed name"]


def category(case) -> str:
    return case.name.rsplit("/", 1)[0]


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    canary, scripts = tmp_path / "canary", tmp_path / "scripts"
    monkeypatch.syspath_prepend(str(scripts))  # so the import-based payloads would find their module
    return canary, hostile.build_corpus(canary, scripts)


def test_corpus_is_live(corpus):
    """Control: the plain unpickler does run the payloads, so the canary check below can fail."""
    canary, cases = corpus
    by_name = {c.name: c for c in cases}
    with hostile.nvidia_modules(live=True):  # NVIDIA's module names exist, as on a machine with their code
        for name in LIVE:
            for p in hostile.PROTOCOLS:
                case = by_name.get(f"{name}/p{p}")
                if case is None:
                    continue
                assert not canary.exists()
                try:
                    pickle.loads(case.data)
                except Exception:
                    pass  # the payload ran before the rest of the structure failed to make sense
                assert canary.exists(), case.name
                canary.unlink()


def test_corpus_covers_every_kind(corpus):
    _, cases = corpus
    protocols = collections.defaultdict(set)
    for c in cases:
        protocols[category(c)].add(int(c.name.rsplit("/p", 1)[1]))
    for kind, names in REQUIRED.items():
        for name in names:
            assert name in protocols, (kind, name)
            # Every protocol 0..5, except where the construct does not exist in protocol 0.
            assert protocols[name] >= set(range(1, 6)), (kind, name, protocols[name])
    assert all(protocols[n] == set(range(6)) for n in ("os.system", "builtins.exec", "module_src run by exec"))


def _check_refusal(case, load) -> str | None:
    """None if `load` treats the case as required, else what went wrong."""
    try:
        result = load(case.data)
    except UnsafeCheckpointError as e:
        if not case.unsafe:
            return None
        if e.global_name != case.first_global or case.first_global not in str(e) or "\n" in str(e):
            return f"{case.name}: refused for {e.global_name!r} ({e})"
        return None
    except CheckpointError as e:
        return f"{case.name}: CheckpointError instead of UnsafeCheckpointError: {e}" if case.unsafe else None
    return f"{case.name}: loaded as {type(result).__name__}" if case.unsafe else None


def test_hostile_corpus_is_refused(corpus):
    canary, cases = corpus
    counts = collections.Counter("unsafe" if c.unsafe else "data-only" for c in cases)
    print(f"hostile corpus: {len(cases)} cases ({counts['unsafe']} must be refused, "
          f"{counts['data-only']} hold code only as data), {len({category(c) for c in cases})} kinds")
    assert len(cases) >= 380
    assert len({c.name for c in cases}) == len(cases)
    failures = []
    for case in cases:
        if not case.data.startswith(b"PK"):
            list(pickletools.genops(case.data))  # well-formed: a refusal is not an accident of bad bytes
        for load in (safe_load, load_bytes):   # the allow-list and the public entry point
            problem = _check_refusal(case, load)
            if problem:
                failures.append(f"{load.__name__}: {problem}")
            assert not canary.exists(), f"{case.name} ran its payload"
    assert not failures, "\n".join(failures)


def test_embedded_source_is_data(tmp_path):
    canary = tmp_path / "canary"
    code = f"open({str(canary)!r}, 'w').close()\n"
    for p in hostile.PROTOCOLS:
        rec = safe_load(hostile.assemble(hostile.persistent(hostile.module_meta(src=code)), p))
        assert isinstance(rec, PersistentRecord) and rec.class_name == "Generator"
        assert len(rec.module_src_hash) == 64 and code not in repr(rec)
        tf = safe_load(hostile.assemble(hostile.tf_network(src=code), p))
        assert isinstance(tf, TFNetworkRecord) and tf.build_func_name == "G_main"
        assert not canary.exists()


@pytest.mark.parametrize("name, placeholder", [
    ("sg2-32", "# module source omitted: structure-only reference fixture\n"),
    ("sg2-tf-32", "# build source omitted\n"),
])
def test_real_checkpoint_with_code_in_its_source_loads_without_running_it(tmp_path, name, placeholder):
    """NVIDIA's real files embed their Python source: it must be read as text and never run."""
    canary = tmp_path / "canary"
    code = f"import os\nos.system('touch {canary}')\nopen({str(canary)!r}, 'w').close()\n"
    data = hostile.rewrite_strings((DATA / name / "network.pkl").read_bytes(), {placeholder: code})
    with hostile.nvidia_modules(live=True):
        pickle.loads(data)  # still a well-formed pickle (the stand-ins do not run module source either)
    nets = load_bytes(data)
    assert {"G", "D", "G_ema"} <= set(nets) and not canary.exists()
    ref = load_bytes((DATA / name / "network.pkl").read_bytes())
    for k, v in ref["G_ema"].state_dict().items():
        assert torch.equal(nets["G_ema"].state_dict()[k], v), k


def test_unsafe_error_reaches_the_caller_with_the_global(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(hostile.assemble({"G_ema": hostile.Call(hostile.G("os", "system"), "true")}, 4))
    from networks import load_network_pkl
    with pytest.raises(UnsafeCheckpointError) as e:
        load_network_pkl(path)
    assert e.value.global_name == "os.system" and "os.system" in str(e.value)
    with pytest.raises(UnsafeCheckpointError):
        load_network_pkl(io.BytesIO(path.read_bytes()))


def test_allow_list_holds_no_callables_that_run_code():
    # The table maps names to this project's own constructors (or inert values such as torch dtypes).
    for name, target in ALLOWED_GLOBALS.items():
        mod = getattr(target, "__module__", "") or ""
        assert mod == "networks.pickles" or type(target).__module__ in ("torch", "networks.pickles"), name
