"""The safe unpickler never runs code from a checkpoint.

Every case in the hostile corpus (tests/hostile) tries to create a canary file when unpickled the
ordinary way; safe_load must refuse it with UnsafeCheckpointError naming the offending global, and
the canary must never appear. Code embedded as data (module_src, build_module_src) must load, or be
refused, without running.
"""
import pickle
import pickletools

import pytest

import hostile
from networks.errors import CheckpointError, UnsafeCheckpointError
from networks.pickles import ALLOWED_GLOBALS, PersistentRecord, TFNetworkRecord, safe_load


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    canary, scripts = tmp_path / "canary", tmp_path / "scripts"
    monkeypatch.syspath_prepend(str(scripts))  # so the import-based payloads would find their module
    return canary, hostile.build_corpus(canary, scripts)


def test_corpus_is_live(tmp_path):
    """Control: the plain unpickler does run the payloads, so the canary check below can fail."""
    canary, scripts = tmp_path / "canary", tmp_path / "scripts"
    hostile.write_payload_files(canary, scripts)
    live = {name: tree for name, tree, _ in hostile.payloads(canary, scripts)}
    for name in ("os.system", "builtins.open", "builtins.exec", "subprocess.check_output", "runpy.run_path"):
        for p in hostile.PROTOCOLS:
            pickle.loads(hostile.assemble(live[name], p))
            assert canary.exists(), (name, p)
            canary.unlink()


def test_hostile_corpus_is_refused(corpus):
    canary, cases = corpus
    print(f"hostile corpus: {len(cases)} cases")
    assert len(cases) >= 60
    assert len({c.name for c in cases}) == len(cases)
    failures = []
    for case in cases:
        if not case.data.startswith(b"PK"):
            list(pickletools.genops(case.data))  # well-formed: a refusal is not an accident of bad bytes
        try:
            result = safe_load(case.data)
        except UnsafeCheckpointError as e:
            if not case.unsafe:
                continue
            if e.global_name != case.first_global or case.first_global not in str(e) or "\n" in str(e):
                failures.append(f"{case.name}: refused for {e.global_name!r} ({e})")
        except CheckpointError as e:
            if case.unsafe:
                failures.append(f"{case.name}: CheckpointError instead of UnsafeCheckpointError: {e}")
        else:
            if case.unsafe:
                failures.append(f"{case.name}: loaded as {type(result).__name__}")
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


def test_allow_list_holds_no_callables_that_run_code():
    # The table maps names to this project's own constructors (or inert values such as torch dtypes).
    for name, target in ALLOWED_GLOBALS.items():
        mod = getattr(target, "__module__", "") or ""
        assert mod == "networks.pickles" or type(target).__module__ in ("torch", "networks.pickles"), name
