"""Shared fixtures and helpers of the video tests (no tests here): fixture checkpoints, decoding every output
format, and comparing frames with single-image renders."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from explorer.engine import NetworkCache

DATA = Path(__file__).resolve().parent / "data" / "nvidia-compat"
SG2 = str(DATA / "sg2-32" / "network.pkl")          # StyleGAN2, 32x32, unconditional, 8 ws
SG3 = str(DATA / "sg3t-32-cond" / "network.pkl")    # StyleGAN3-T, 32x32, 3 classes, 16 ws
SG3R = str(DATA / "sg3r-32" / "network.pkl")        # StyleGAN3-R, 32x32, unconditional


@pytest.fixture(scope="module")
def cache():
    return NetworkCache(max_files=4)


def decode(path) -> np.ndarray:
    """Decoded frames uint8 [N, H, W, 3] of any output format (a folder: its frame_*.png in order)."""
    p = Path(path)
    if p.is_dir():
        return np.stack([iio.imread(f) for f in sorted(p.glob("frame_*.png"))])
    return iio.imread(p, index=None)[..., :3]


def assert_close_image(actual: np.ndarray, expected: np.ndarray, levels: int = 1, fraction: float = 0.01) -> None:
    """Equal up to rounding: a batched synthesis may round a value differently from a one-image render (the
    convolution algorithm depends on the batch), so allow `levels` on at most `fraction` of the values."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
    assert diff.max() <= levels and (diff > 0).mean() <= fraction, (int(diff.max()), float((diff > 0).mean()))


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def leftovers(folder) -> list[str]:
    """Temporary names an export left in a folder."""
    return sorted(p.name for p in Path(folder).iterdir() if ".partial-" in p.name or ".sg-explorer-probe" in p.name)
