"""sg-explorer networks: StyleGAN2 / StyleGAN3 architectures, ops and safe checkpoint I/O.

    from networks import load_network_pkl
    G = load_network_pkl("network.pkl")["G_ema"]
    img = G(z, c, truncation_psi=0.7, noise_mode="const")     # [N, 3, H, W] in about [-1, 1]
"""
from networks import threads as _threads  # noqa: F401  first: the OpenMP policy must be set before torch loads
from networks.errors import CheckpointError, UnknownArchitectureError, UnsafeCheckpointError
from networks.config import DiscriminatorConfig, MappingConfig, StyleGAN2Config, StyleGAN3Config
from networks.config import (ProGANConfig, ProGANDiscriminatorConfig, StyleGAN1Config,
                             StyleGAN1DiscriminatorConfig)


def __getattr__(name):
    # Checkpoint I/O pulls in torch and the architectures: import it on first use only.
    if name in ("load_network_pkl", "save_network_pkl"):
        from networks import checkpoint
        return getattr(checkpoint, name)
    if name in ("build_generator", "build_discriminator", "build_network"):
        from networks import build
        return getattr(build, name)
    raise AttributeError(f"module 'networks' has no attribute {name!r}")


__all__ = [
    "load_network_pkl", "save_network_pkl", "build_generator", "build_discriminator", "build_network",
    "CheckpointError", "UnsafeCheckpointError", "UnknownArchitectureError",
    "StyleGAN2Config", "StyleGAN3Config", "DiscriminatorConfig", "MappingConfig",
    "StyleGAN1Config", "StyleGAN1DiscriminatorConfig", "ProGANConfig", "ProGANDiscriminatorConfig",
]
