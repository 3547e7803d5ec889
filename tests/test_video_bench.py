"""The video bench measures what the issue asks: generation alone vs generation + encoding, for a 2x2 grid of a
64x64 model and a 1x1 256x256 one."""
import pytest

from explorer.video.bench import bench_case, default_cases
from test_video_helpers import SG2, cache  # noqa: F401


def test_bench_case_measures_both_rates(cache):
    r = bench_case("fixture", cache.get(SG2), (2, 1), frames=6, batch=3)
    assert r.frames == 2 * 3 and r.frame_size == (64, 32)
    assert r.gen_fps > 0 and r.total_fps > 0
    assert r.overhead_pct == pytest.approx((r.gen_fps / r.total_fps - 1) * 100)
    assert r.encode_fps > 0 and r.encode_pct == pytest.approx(r.gen_fps / r.encode_fps * 100)
    assert "encoding overhead" in r.line() and "encoding alone" in r.line() and "64x32" in r.line()


def test_default_cases_are_the_issues_two():
    (_, cfg64, grid64), (_, cfg256, grid256) = default_cases(channel_base=4096)
    assert (cfg64.img_resolution, grid64) == (64, (2, 2)) and (cfg256.img_resolution, grid256) == (256, (1, 1))
    assert cfg64.channel_base == cfg256.channel_base == 4096
