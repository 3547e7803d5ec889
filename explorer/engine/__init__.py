"""Render engine: a pure function of an explicit RenderState (no GUI import).

    from explorer.engine import RenderState, render, RenderWorker, NetworkCache
"""
from explorer.engine.cache import NetworkCache
from explorer.engine.renderer import RenderResult, compute_ws, render
from explorer.engine.state import RenderState
from explorer.engine.worker import RenderWorker

__all__ = ["NetworkCache", "RenderResult", "RenderState", "RenderWorker", "compute_ws", "render"]
