"""Frechet Inception Distance (Heusel et al. 2017), as NVIDIA's frechet_inception_distance computes it.

FID = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 sqrtm(S_1 S_2)), Gaussians fitted to the feature sets in float64 with
NVIDIA's covariance (sums / N - mean mean^T: divided by N, where pytorch-fid's np.cov divides by N - 1); the real
part of scipy's sqrtm (rounding leaves tiny imaginary parts).
"""
from __future__ import annotations

import numpy as np


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """features [N, D] -> (mean [D], covariance [D, D]) in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 1:
        raise ValueError(f"features must be [N, D] with N >= 1, got {list(f.shape)}")
    mean = f.mean(axis=0)
    return mean, f.T @ f / len(f) - np.outer(mean, mean)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance of the Gaussians N(mu1, sigma1) and N(mu2, sigma2)."""
    import warnings
    import scipy.linalg
    m = float(np.square(np.asarray(mu1) - np.asarray(mu2)).sum())
    with warnings.catch_warnings():   # fewer images than dimensions: singular, expected, the result still holds
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        s = scipy.linalg.sqrtm(np.dot(sigma1, sigma2))
    return float(np.real(m + np.trace(sigma1 + sigma2 - s * 2)))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets [N, D], [M, D]."""
    return frechet_distance(*gaussian(features_a), *gaussian(features_b))
