"""Seeds, seed plane and interpolation paths (explorer.engine.latents)."""
import numpy as np
import pytest

from explorer.engine import latents as L
from explorer.errors import UserError


def test_seed_to_z_matches_nvidia_convention():
    ref = np.load("tests/data/nvidia-compat/sg2-32/expected.npz")
    for seed, z in zip(ref["seeds"], ref["z"]):
        got = L.seed_to_z(int(seed), z.shape[0])
        assert got.dtype == np.float32 and got.shape == z.shape
        np.testing.assert_array_equal(got, z.astype(np.float32))


def test_parse_seeds():
    assert L.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert L.parse_seeds(" 5 ") == [5]
    assert L.parse_seeds("2-2,1") == [2, 1]
    for bad in ["", "a", "3-1", "1,,2", "-1", "1-", "4294967296", "1.5"]:
        with pytest.raises(UserError):
            L.parse_seeds(bad)


def test_seed_plane_weights():
    assert L.seed_plane_weights(3, 0) == [(3, 1.0)]
    assert L.seed_plane_weights(2, 1, step_y=100) == [(102, 1.0)]
    got = dict(L.seed_plane_weights(1.5, 2.25, step_y=100))
    assert got == {201: 0.375, 202: 0.375, 301: 0.125, 302: 0.125}
    assert sum(got.values()) == pytest.approx(1.0)
    # Negative coordinates wrap modulo 2**32, as RandomState needs.
    assert L.seed_plane_weights(-1, 0) == [(2 ** 32 - 1, 1.0)]
    got = dict(L.seed_plane_weights(0.75, -0.5, step_y=10))
    assert got[(0 - 10) % 2 ** 32] == pytest.approx(0.25 * 0.5)
    assert got[1] == pytest.approx(0.75 * 0.5)


def test_lerp_and_slerp_endpoints_and_norm():
    rng = np.random.RandomState(0)
    a, b = rng.randn(64), rng.randn(64)
    np.testing.assert_allclose(L.lerp(a, b, 0.0), a)
    np.testing.assert_allclose(L.lerp(a, b, 1.0), b)
    np.testing.assert_allclose(L.slerp(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(L.slerp(a, b, 1.0), b, atol=1e-5)
    mid = L.slerp(a, b, 0.5)
    # Lerp shrinks the norm at the midpoint; slerp keeps it between the end norms.
    lo, hi = sorted([np.linalg.norm(a), np.linalg.norm(b)])
    assert lo - 1e-4 <= np.linalg.norm(mid) <= hi + 1e-4
    assert np.linalg.norm(L.lerp(a, b, 0.5)) < lo
    np.testing.assert_allclose(L.slerp(a, a, 0.3), a, atol=1e-5)  # parallel: no NaN


@pytest.mark.parametrize("kind", ["linear", "cubic", "slerp"])
@pytest.mark.parametrize("loop", [True, False])
def test_path_passes_through_keys(kind, loop):
    keys = np.random.RandomState(1).randn(5, 16)
    for k in range(5):
        np.testing.assert_allclose(L.sample_path(keys, float(k), kind, loop), keys[k], atol=1e-5)


def test_looping_cubic_path_is_smooth_across_the_wrap():
    keys = np.random.RandomState(2).randn(4, 8)
    ts = np.arange(0, 4, 0.05)
    pts = np.stack([L.sample_path(keys, t, "cubic", loop=True) for t in ts])
    steps = np.diff(np.concatenate([pts, pts[:1]]), axis=0)  # includes last -> first
    norms = np.linalg.norm(steps, axis=1)
    # Second differences (change of velocity) stay small everywhere, also at keys and the wrap: no kinks.
    accel = np.linalg.norm(np.diff(np.concatenate([steps, steps[:1]]), axis=0), axis=1)
    assert accel.max() < 0.25 * norms.max()
    # Linear has kinks at keys: the same measure is much larger there (shows the check can fail).
    lin = np.stack([L.sample_path(keys, t, "linear", loop=True) for t in ts])
    lsteps = np.diff(np.concatenate([lin, lin[:1]]), axis=0)
    laccel = np.linalg.norm(np.diff(np.concatenate([lsteps, lsteps[:1]]), axis=0), axis=1)
    assert laccel.max() > 3 * accel.max()


def test_no_loop_clamps_and_wrap_loops():
    keys = np.arange(3, dtype=np.float64)[:, None]
    assert L.sample_path(keys, 5.0, "linear", loop=False)[0] == 2.0
    assert L.sample_path(keys, 2.5, "linear", loop=True)[0] == pytest.approx(1.0)  # halfway 2 -> 0
    assert L.sample_path(keys, 3.0, "linear", loop=True)[0] == 0.0
    with pytest.raises(ValueError):
        L.sample_path(keys, 0.5, "spline")
