"""Ops of StyleGAN2 / StyleGAN3, each with a plain reference implementation (`impl='ref'`) beside the fast one."""
from networks.ops.impl import current_impl, default_impl, resolve_impl

__all__ = ["current_impl", "default_impl", "resolve_impl"]
