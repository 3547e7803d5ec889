"""Writes inception_reference.npz: pytorch-fid's own FID Inception, given seeded weights, on two images.

Run with pytorch-fid (0.3.0) and torchvision installed, NOT in the project's venv (a throwaway venv):
    python tests/data/metrics/make_reference.py
The weights come from `seeded_state(shapes, seed)` below (numpy's RandomState, stable across versions), so a
test can rebuild them without pytorch-fid; the file keeps the weight names and shapes of pytorch-fid's
network, its features of the two images, and the images themselves (uint8).
"""
from __future__ import annotations

import pathlib

import numpy as np

SEED = 2015
OUT = pathlib.Path(__file__).with_name("inception_reference.npz")


def seeded_state(shapes: dict, seed: int = SEED) -> dict:
    """name -> float32 array for each (name, shape), in sorted name order: He-scaled convs, BN near identity."""
    rnd = np.random.RandomState(seed)
    out = {}
    for name in sorted(shapes):
        shape = tuple(shapes[name])
        if name.endswith("conv.weight"):
            fan_in = int(np.prod(shape[1:]))
            v = rnd.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        elif name.endswith(("bn.weight", "bn.running_var")):
            v = rnd.uniform(0.8, 1.2, shape)
        elif name.endswith(("bn.bias", "bn.running_mean")):
            v = rnd.standard_normal(shape) * 0.1
        else:   # fc
            v = rnd.standard_normal(shape) * 0.01
        out[name] = v.astype(np.float32)
    return out


def images() -> list:
    """Two uint8 RGB images [H, W, 3] of different, non-299 sizes (one not square)."""
    rnd = np.random.RandomState(7)
    return [rnd.randint(0, 256, (48, 48, 3)).astype(np.uint8), rnd.randint(0, 256, (37, 53, 3)).astype(np.uint8)]


def main() -> None:
    import torch
    import pytorch_fid.inception as pf
    shapes = {k: tuple(v.shape) for k, v in pf.fid_inception_v3.__globals__["_inception_v3"](
        num_classes=1008, aux_logits=False, weights=None).state_dict().items() if not k.endswith("num_batches_tracked")}
    state = {k: torch.from_numpy(v) for k, v in seeded_state(shapes).items()}
    pf.load_state_dict_from_url = lambda *a, **k: state   # the FID weights' download, replaced by ours
    net = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True,
                         use_fid_inception=True).eval()
    feats = []
    with torch.no_grad():
        for im in images():
            x = torch.from_numpy(im).permute(2, 0, 1)[None].double().div(255).float()   # pytorch-fid's [0, 1]
            feats.append(net(x)[0].flatten(1)[0].numpy())
    names = sorted(shapes)
    imgs = images()
    np.savez_compressed(OUT, features=np.stack(feats), names=np.array(names),
                        shapes=np.array([",".join(map(str, shapes[n])) for n in names]),
                        image0=imgs[0], image1=imgs[1])
    print(OUT, np.stack(feats).mean(), np.stack(feats).std())


if __name__ == "__main__":
    main()
