"""Improved precision and recall (Kynkaanniemi et al. 2019), NVIDIA's k = 3 manifold estimate.

A set's manifold: the union of balls around its features with radius the distance to the k-th nearest
other member. Precision: the share of generated features inside the real manifold; recall: the share of
real features inside the generated one. (NVIDIA measures these on VGG16 features; here they use the same
feature network as FID.)
"""
from __future__ import annotations

import torch


def _radii(f: torch.Tensor, k: int, rows: int) -> torch.Tensor:
    out = [torch.cdist(f[i:i + rows], f).kthvalue(k + 1, dim=1).values for i in range(0, len(f), rows)]
    return torch.cat(out)   # k + 1: the nearest one is the point itself


def _coverage(manifold: torch.Tensor, radii: torch.Tensor, probes: torch.Tensor, rows: int) -> float:
    inside = [(torch.cdist(probes[i:i + rows], manifold) <= radii[None]).any(dim=1)
              for i in range(0, len(probes), rows)]
    return float(torch.cat(inside).double().mean())


def precision_recall(features_real, features_gen, k: int = 3, rows: int = 1024,
                     device="cpu") -> tuple[float, float]:
    """(precision, recall) of [N, D] generated features against [M, D] real ones (Euclidean distances, float32)."""
    real = torch.as_tensor(features_real, dtype=torch.float32, device=device)
    gen = torch.as_tensor(features_gen, dtype=torch.float32, device=device)
    if min(len(real), len(gen)) <= k:
        raise ValueError(f"precision/recall need more than {k} images in each set")
    precision = _coverage(real, _radii(real, k, rows), gen, rows)
    recall = _coverage(gen, _radii(gen, k, rows), real, rows)
    return precision, recall
