"""sg-explorer: the explorer window, its render engine, video export and the command line."""
import networks.threads  # noqa: F401  first: the OpenMP thread policy must be set before anything loads torch
