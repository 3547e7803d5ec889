"""Errors raised while reading checkpoints. Each carries a one-line, user-facing message."""


class CheckpointError(Exception):
    """The file is not a checkpoint this project can read (truncated, corrupt, unknown layout)."""


class UnsafeCheckpointError(CheckpointError):
    """The pickle references a global outside the allow-list; nothing from it was executed."""

    def __init__(self, message: str, global_name: str | None = None):
        super().__init__(message)
        self.global_name = global_name


class UnknownArchitectureError(CheckpointError):
    """The pickle is well-formed but holds a network class this project does not implement."""


class UnsupportedNetworkError(ValueError):
    """The network loads and runs but lacks what the operation needs (e.g. equivariance metrics of a StyleGAN2)."""
