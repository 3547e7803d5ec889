"""The two default models shipped in assets/: they load safely, are what the README says, and their progress
pictures are what their G_ema draws."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from networks import load_network_pkl
from networks.training.snapshot import fakes_grid

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MODELS = [("default-sg3t.pkl", "stylegan3-t"), ("default-sg2.pkl", "stylegan2")]


@pytest.mark.parametrize("name,arch", MODELS)
def test_shipped_model(name, arch):
    path = ASSETS / name
    assert path.stat().st_size < 25 * 2 ** 20
    data = load_network_pkl(str(path))
    assert {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"} <= set(data)
    assert "resume" not in data                                   # shipped without optimiser state
    G = data["G_ema"].eval()
    assert (G.arch, G.img_resolution, G.img_channels, G.c_dim) == (arch, 32, 3, 0)
    assert data["provenance"]["kimg"] > 0
    with torch.no_grad():
        grid = fakes_grid(G)
        logits = data["D"](G(torch.randn(4, G.z_dim), None), None)
    # One uint8 level allowed: the PNG was drawn on the machine that trained the model, and float sums taken in
    # another order (another CPU's SIMD width, thread split or BLAS kernel) move a few values across a rounding
    # boundary (5 of 98,304 for StyleGAN3-T on one 2-core machine). A wrong network misses by tens of levels.
    shipped = np.asarray(Image.open(path.with_name(path.stem + "-fakes.png"))).astype(np.int16)
    diff = np.abs(shipped - grid.astype(np.int16))
    assert shipped.shape == grid.shape and diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert grid.shape == (4 * 32, 8 * 32, 3) and grid.std() > 20  # images, not a flat colour
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()


def test_the_command_opens_the_stylegan3_t_model():
    import explorer.commands.gui as gui_cmd
    assert gui_cmd.DEFAULT_CHECKPOINT == ASSETS / "default-sg3t.pkl" and gui_cmd.DEFAULT_CHECKPOINT.is_file()
