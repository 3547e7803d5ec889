"""Device selection shared by every command and the GUI."""
from __future__ import annotations

import torch

from explorer.errors import UserError


def resolve_device(name: str | None) -> torch.device:
    """'cpu' | 'cuda' | 'cuda:N' | None (= cuda when available, else cpu) -> torch.device."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (use cpu or cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device {name!r} (use cpu or cuda)")
    return device
