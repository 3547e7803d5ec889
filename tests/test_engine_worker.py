"""RenderWorker (single-slot mailbox, error recovery) and NetworkCache (one read per file)."""
import time

import numpy as np
import pytest

from explorer.engine import NetworkCache, RenderState, RenderWorker, render
from test_engine_toy import ToyGenerator


def _slow_render(delay):
    def fn(G, state):
        time.sleep(delay)
        return render(G, state)
    return fn


def test_burst_of_submits_renders_few_and_ends_on_the_last_state():
    G = ToyGenerator()
    with RenderWorker(loader=lambda s: G, render_fn=_slow_render(0.1), torch_threads=1) as worker:
        for i in range(10):
            worker.submit(RenderState(x=float(i)))
        result = worker.wait(timeout=30)
        assert result is not None and result.ok
        assert result.state.x == 9.0
        assert worker.renders_done < 10 and worker.renders_done <= 3
        np.testing.assert_array_equal(result.image, render(G, RenderState(x=9.0)).image)
        assert worker.poll() is None  # handed out once


def test_error_state_becomes_one_line_and_the_next_good_state_renders():
    G = ToyGenerator()
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
        assert good.ok and good.image.shape == (32, 32, 3)


def test_unexpected_exception_is_reported_not_raised():
    def boom(G, state):
        raise RuntimeError("kaput\nsecond line")
    with RenderWorker(loader=lambda s: None, render_fn=boom, torch_threads=1) as worker:
        worker.submit(RenderState())
        res = worker.wait(timeout=10)
        assert res.error == "RuntimeError: kaput"


def test_poll_does_not_block_while_rendering():
    G = ToyGenerator()
    with RenderWorker(loader=lambda s: G, render_fn=_slow_render(0.5), torch_threads=1) as worker:
        worker.submit(RenderState())
        t0 = time.perf_counter()
        assert worker.poll() is None
        assert time.perf_counter() - t0 < 0.05
        assert worker.wait(timeout=30).ok


def test_cache_reads_each_file_once():
    reads = []

    def loader(path):
        reads.append(path)
        return {"G": ToyGenerator(), "G_ema": ToyGenerator()}

    cache = NetworkCache(loader=loader)
    a = cache.get("a.pkl", "G_ema", "cpu")
    b = cache.get("a.pkl", "G", "cpu")
    assert a is not b and a is cache.get("a.pkl", "G_ema", "cpu")
    assert reads == ["a.pkl"] and cache.loads == 1
    cache.get("b.pkl")
    cache.get("a.pkl", "G")
    assert reads == ["a.pkl", "b.pkl"]
    from explorer.errors import UserError
    with pytest.raises(UserError):
        cache.get("", "G_ema")


def test_cache_missing_network_is_a_user_error():
    from explorer.errors import UserError
    cache = NetworkCache(loader=lambda p: {"G_ema": ToyGenerator()})
    with pytest.raises(UserError, match="no G network"):
        cache.get("x.pkl", "G")
