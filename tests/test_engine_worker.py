"""RenderWorker (single-slot mailbox, render times, error recovery) and NetworkCache (one read per file),
on the sg2-32 fixture checkpoint."""
import threading
import time

import numpy as np
import pytest

import networks
from explorer.engine import NetworkCache, RenderState, RenderWorker, render
from explorer.engine.worker import lower_thread_priority
from explorer.errors import UserError
from test_engine_toy import fixture_path, load

SG2 = str(fixture_path("sg2-32"))


def _slow_render(delay, started=None):
    def fn(G, state):
        if started is not None:
            started.append(state)
        time.sleep(delay)
        return render(G, state)
    return fn


def test_burst_of_submits_renders_few_and_ends_on_the_last_state():
    G = load("sg2-32")
    started = []
    with RenderWorker(loader=lambda s: G, render_fn=_slow_render(0.2, started), torch_threads=1) as worker:
        for i in range(10):
            worker.submit(RenderState(x=float(i)))
        result = worker.wait(timeout=30)
        assert result is not None and result.ok and result.state.x == 9.0
        # One request may have started before the burst ended; every other one was replaced.
        assert len(started) <= 2 and started[-1].x == 9.0
        np.testing.assert_array_equal(result.image, render(G, RenderState(x=9.0)).image)
        assert result.render_ms > 0 and result.serial == 10
        assert worker.poll() is None  # handed out once


def test_results_carry_the_render_time():
    G = load("sg2-32")
    with RenderWorker(loader=lambda s: G, render_fn=_slow_render(0.3), torch_threads=1) as worker:
        worker.submit(RenderState(x=1))
        res = worker.wait(timeout=30)
        assert res.ok and 0 < res.render_ms < 300   # render() times itself, without the sleep around it
        worker.submit(RenderState(x=2, layer="nope"))
        bad = worker.wait(timeout=30)
        assert not bad.ok and bad.render_ms >= 300   # a failed render is timed by the worker, sleep included


def test_error_state_becomes_one_line_and_the_next_good_state_renders():
    G = load("sg2-32")
    with RenderWorker(loader=lambda s: G, torch_threads=1) as worker:
        worker.submit(RenderState(layer="no.such.layer"))
        bad = worker.wait(timeout=30)
        assert bad is not None and not bad.ok and bad.image is None
        assert "no.such.layer" in bad.error and "\n" not in bad.error
        worker.submit(RenderState(class_idx=5))  # unconditional network
        bad = worker.wait(timeout=30)
        assert not bad.ok and "unconditional" in bad.error
        worker.submit(RenderState(x=2))
        good = worker.wait(timeout=30)
        assert good.ok
        np.testing.assert_array_equal(good.image, render(G, RenderState(x=2)).image)


def test_unexpected_exception_is_reported_not_raised():
    def boom(G, state):
        raise RuntimeError("kaput\nsecond line")
    with RenderWorker(loader=lambda s: None, render_fn=boom, torch_threads=1) as worker:
        worker.submit(RenderState())
        res = worker.wait(timeout=10)
        assert res.error == "RuntimeError: kaput"


def test_poll_does_not_block_while_rendering():
    G = load("sg2-32")
    with RenderWorker(loader=lambda s: G, render_fn=_slow_render(0.5), torch_threads=1) as worker:
        worker.submit(RenderState())
        t0 = time.perf_counter()
        assert worker.poll() is None
        assert time.perf_counter() - t0 < 0.05
        assert worker.wait(timeout=30).ok


def _counting_cache():
    reads = []

    def loader(path):
        reads.append(path)
        return networks.load_network_pkl(path)
    return NetworkCache(loader=loader), reads


def g_differs_checkpoint(tmp_path) -> str:
    """The sg2 fixture (whose G equals its G_ema) with G's torgb weights halved, in the project's format."""
    import torch
    data = networks.load_network_pkl(SG2)
    with torch.no_grad():
        data["G"].synthesis.b32.torgb.weight.mul_(0.5)
    path = tmp_path / "g-differs.pkl"
    data.pop("format")   # load_network_pkl reports the source format; saving it back would clobber the marker
    networks.save_network_pkl(path, data)
    return str(path)


def test_worker_switches_g_ema_and_g_without_reading_the_file_again(tmp_path):
    path = g_differs_checkpoint(tmp_path)
    cache, reads = _counting_cache()
    data = networks.load_network_pkl(path)
    with RenderWorker(cache, torch_threads=1) as worker:
        images = {}
        for which in ("G_ema", "G", "G_ema", "G"):
            worker.submit(RenderState(checkpoint=path, which=which, x=3))
            res = worker.wait(timeout=60)
            assert res.ok, res.error
            images.setdefault(which, res.image)
            np.testing.assert_array_equal(res.image, images[which])
    assert reads == [path] and cache.loads == 1
    for which in ("G_ema", "G"):
        np.testing.assert_array_equal(images[which], render(data[which].eval(), RenderState(x=3)).image)
    assert not np.array_equal(images["G_ema"], images["G"])


def test_unavailable_device_is_a_one_line_error_and_cpu_renders_again(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    cache, reads = _counting_cache()
    with RenderWorker(cache, torch_threads=1) as worker:
        worker.submit(RenderState(checkpoint=SG2, device="cuda"))
        bad = worker.wait(timeout=60)
        assert not bad.ok and "CUDA is not available" in bad.error and "\n" not in bad.error
        worker.submit(RenderState(checkpoint=SG2, device="cpu"))
        assert worker.wait(timeout=60).ok
    assert cache.loads <= 1


def test_cache_reads_each_file_once_and_keeps_the_newest_files():
    cache, reads = _counting_cache()
    sg3 = str(fixture_path("sg3t-32-cond"))
    a = cache.get(SG2, "G_ema", "cpu")
    b = cache.get(SG2, "G", "cpu")
    assert a is not b and a is cache.get(SG2, "G_ema", "cpu")
    assert reads == [SG2]
    cache.get(sg3)
    cache.get(SG2, "G")
    assert reads == [SG2, sg3]
    with pytest.raises(UserError):
        cache.get("", "G_ema")
    small = NetworkCache(loader=cache._loader, max_files=1)
    small.get(SG2)
    small.get(sg3)
    small.get(SG2)
    assert reads[-3:] == [SG2, sg3, SG2]    # with room for one file, going back reads it again


def test_cache_device_copies_without_reading_the_file_again():
    """A network asked for on another device is a copy of the loaded one ('meta' stands in for a GPU here)."""
    cache, reads = _counting_cache()
    cpu = cache.get(SG2, "G_ema", "cpu")
    other = cache.get(SG2, "G_ema", "meta")
    assert other is not cpu and next(other.parameters()).device.type == "meta"
    assert next(cpu.parameters()).device.type == "cpu"              # the CPU network is left where it was
    assert cache.get(SG2, "G_ema", "meta") is other and cache.get(SG2, "G_ema", "cpu") is cpu
    assert reads == [SG2]


def test_cache_concurrent_first_requests_read_once():
    cache, reads = _counting_cache()
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(SG2))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == [SG2] and len({id(g) for g in got}) == 1


def test_cache_missing_network_is_a_user_error():
    cache = NetworkCache(loader=lambda p: {"G_ema": load("sg2-32")})
    with pytest.raises(UserError, match="no G network"):
        cache.get("x.pkl", "G")


def test_worker_thread_runs_at_lower_priority():
    import os
    seen = []

    def probe(G, state):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return render(G, state)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    G = load("sg2-32")
    with RenderWorker(loader=lambda s: G, render_fn=probe, torch_threads=1, nice=3) as worker:
        worker.submit(RenderState())
        assert worker.wait(timeout=30).ok
    assert seen == [min(19, base + 3)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base   # only the worker's thread
    assert lower_thread_priority(0) is False
