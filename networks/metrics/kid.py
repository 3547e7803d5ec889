"""Kernel Inception Distance (Binkowski et al. 2018), as NVIDIA's kernel_inception_distance computes it.

Unbiased MMD^2 with the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over `num_subsets` random
subsets of m = min(N_a, N_b, max_subset_size) rows of each set (drawn without replacement).
"""
from __future__ import annotations

import numpy as np


def kid(features_gen: np.ndarray, features_real: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
        seed: int = 0) -> float:
    """KID of [N, D] generated against [M, D] real features."""
    x_all = np.asarray(features_gen, dtype=np.float64)
    y_all = np.asarray(features_real, dtype=np.float64)
    d = x_all.shape[1]
    m = min(x_all.shape[0], y_all.shape[0], max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 images in each set")
    rnd = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = x_all[rnd.choice(x_all.shape[0], m, replace=False)]
        y = y_all[rnd.choice(y_all.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)
