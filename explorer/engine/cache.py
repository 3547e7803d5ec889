"""NetworkCache: each checkpoint file is read once; G / G_ema and device copies come from memory."""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Callable, Optional

import torch

from explorer.errors import UserError


def _default_loader(path: str) -> dict:
    import networks  # imported lazily: the engine must import without the networks package being complete
    return networks.load_network_pkl(path)


class NetworkCache:
    """get(path, which, device) -> generator in eval mode.

    The file's dict (both G and G_ema) is kept for the `max_files` most recently used paths; a network moved to
    another device is a copy kept beside the CPU one, so switching G/G_ema or device never reads the file again.
    Thread-safe: concurrent first requests for one file load it once.
    """

    def __init__(self, loader: Optional[Callable[[str], dict]] = None, max_files: int = 2):
        self._loader = loader or _default_loader
        self._max_files = max_files
        self._files: "OrderedDict[str, dict]" = OrderedDict()
        self._copies: dict = {}
        self._lock = threading.Lock()
        self.loads = 0  # files read so far (tests check that switching never reloads)

    def _file(self, path: str) -> dict:
        if path in self._files:
            self._files.move_to_end(path)
            return self._files[path]
        data = self._loader(path)
        self.loads += 1
        self._files[path] = data
        while len(self._files) > self._max_files:
            old, _ = self._files.popitem(last=False)
            self._copies = {k: v for k, v in self._copies.items() if k[0] != old}
        return data

    def get(self, path: str, which: str = "G_ema", device: str = "cpu"):
        if not path:
            raise UserError("no checkpoint loaded")
        if which not in ("G_ema", "G"):
            raise UserError(f"which must be 'G_ema' or 'G', not {which!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise UserError("CUDA is not available on this machine; use device 'cpu'")
        with self._lock:
            data = self._file(path)
            net = data.get(which)
            if net is None:
                raise UserError(f"{path} holds no {which} network (it has: "
                                f"{', '.join(k for k in ('G_ema', 'G') if data.get(k) is not None) or 'none'})")
            key = (path, which, device)
            if key not in self._copies:
                on_device = net if _device_of(net) == torch.device(device) else copy.deepcopy(net).to(device)
                self._copies[key] = on_device.eval().requires_grad_(False)
            return self._copies[key]

    def data(self, path: str) -> dict:
        """The whole loaded dict of a file (loads it if needed)."""
        with self._lock:
            return self._file(path)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
            self._copies.clear()


def _device_of(net) -> torch.device:
    for p in net.parameters():
        return p.device
    for b in net.buffers():
        return b.device
    return torch.device("cpu")
