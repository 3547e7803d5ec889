"""Multi-process training: process group setup (spawn or torchrun) and gradient averaging.

gloo on CPU, NCCL on CUDA. Every process holds full copies of G, D and G_ema; after each phase the
gradients (plus the phase's loss statistics) are summed with one all_reduce and divided by the world
size, so the parameters stay bit-identical across processes. Rank 0 alone writes files.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    device: str = "cpu"           # 'cpu' or 'cuda:<local rank>'

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_process_group(rank: int, world: int, device_kind: str, init_method: str | None = None) -> DistInfo:
    """Joins the group (env:// under torchrun, or init_method); returns this process's DistInfo."""
    if device_kind == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank)) % max(torch.cuda.device_count(), 1)
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
        backend = "nccl"
    else:
        device, backend = "cpu", "gloo"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method=init_method or "env://", rank=rank, world_size=world)
    return DistInfo(rank=rank, world=world, device=device)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copies rank 0's parameters and buffers to every process."""
    if not info.active:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: Sequence[torch.nn.Parameter], extras: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Averages .grad of params across processes in one all_reduce, together with `extras` [K] (summed
    then divided by world as well). Missing grads count as zeros; non-finite grads become finite (as
    fp16 overflow can make them) and are clamped to +-1e5. Returns the averaged extras."""
    grads = [p.grad.flatten() if p.grad is not None else torch.zeros(p.numel(), device=p.device) for p in params]
    flat = torch.cat(grads + [extras.to(grads[0].device if grads else extras.device, torch.float32)])
    if info.active:
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= info.world
    n = flat.numel() - extras.numel()
    g = torch.nan_to_num(flat[:n], nan=0.0, posinf=1e5, neginf=-1e5)
    offset = 0
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        p.grad.copy_(g[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    return flat[n:].cpu()


def _spawn_entry(rank: int, world: int, device_kind: str, port: int, fn: Callable, args: tuple) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    os.environ["RANK"], os.environ["WORLD_SIZE"] = str(rank), str(world)
    os.environ["LOCAL_RANK"] = str(rank)
    if "OMP_NUM_THREADS" not in os.environ:  # an explicit setting wins (e.g. two runs sharing a machine)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    info = init_process_group(rank, world, device_kind)
    try:
        fn(info, *args)
    finally:
        shutdown()


def launch(fn: Callable, args: Iterable, nproc: int, device_kind: str) -> None:
    """Runs fn(DistInfo, *args) in this process (nproc 1 or under torchrun) or in nproc spawned ones."""
    args = tuple(args)
    if under_torchrun():
        info = init_process_group(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), device_kind)
        try:
            fn(info, *args)
        finally:
            shutdown()
        return
    if nproc <= 1:
        device = "cuda" if device_kind == "cuda" else "cpu"
        fn(DistInfo(0, 1, device), *args)
        return
    import torch.multiprocessing as mp
    mp.spawn(_spawn_entry, args=(nproc, device_kind, free_port(), fn, args), nprocs=nproc, join=True)
