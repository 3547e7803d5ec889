"""`sg-explorer metrics PKL --metrics fid,kid --data DATASET`: NVIDIA's calc_metrics for this project.

fid / kid / pr: all images of --data against --num generated ones (NVIDIA's fid50k_full, kid50k_full,
pr50k3_full), or, with `none` in place of PKL, the image set --ref against --data. eqt / eqt_frac / eqr:
StyleGAN3 equivariance in dB over --num images. One line per metric, or one JSON object with --json.
"""
from __future__ import annotations

import json
import math

from explorer.errors import UserError

EPILOG = ("The feature network is pytorch-fid's FID Inception (pt_inception-2015-12-05-6726825d.pth, a plain "
          "state dict): --feature-net FILE, or fetched once into the download cache when online. pr uses its "
          "features, not NVIDIA's VGG16, so its values do not compare with NVIDIA's. Data-set features are "
          "cached by content: a second run against the same data reads no image.")


def add_arguments(parser) -> None:
    from networks.metrics.registry import DESCRIPTIONS
    parser.epilog = EPILOG
    parser.add_argument("pkl", metavar="PKL",
                        help="checkpoint (path, URL or run folder), or 'none' to compare --ref with --data")
    parser.add_argument("--metrics", required=True, metavar="LIST",
                        help="comma list of: " + "; ".join(f"{k} = {v}" for k, v in DESCRIPTIONS.items()))
    parser.add_argument("--data", default=None, metavar="DATASET",
                        help="real images (zip or folder): all of them are the reference of fid / kid / pr; "
                             "their labels condition a conditional generator")
    parser.add_argument("--ref", default=None, metavar="IMAGES",
                        help="with PKL 'none': the image set (zip or folder) measured against --data")
    parser.add_argument("--num", type=int, default=50000, metavar="N",
                        help="generated images per metric (default 50000, NVIDIA's; fewer for a quick look)")
    parser.add_argument("--feature-net", default=None, metavar="FILE",
                        help="pt_inception-2015-12-05-6726825d.pth (default: the download cache)")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"], help="which generator (default G_ema)")
    parser.add_argument("--seed", type=int, default=0, help="seed of z, labels, noise and KID subsets (default 0)")
    parser.add_argument("--device", default=None, metavar="cpu|cuda", help="torch device (default cuda if present)")
    parser.add_argument("--json", action="store_true", help="print one JSON object {metric: value}")


def _device(text):
    import torch
    if text is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UserError(f"--device {text!r}: not a torch device (cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {text}: CUDA is not available here")
    return str(device)


def _generator(args):
    from networks import load_network_pkl
    if args.pkl.lower() == "none":
        return None
    data = load_network_pkl(args.pkl)
    G = data.get(args.net)
    if G is None and args.net == "G_ema":
        G = data.get("G")   # a checkpoint without an EMA copy
    if G is None:
        raise UserError(f"{args.pkl}: no generator {args.net}")
    return G


def _line(key: str, value: float) -> str:
    unit = " dB" if key in ("eqt", "eqt_frac", "eqr") else ""
    return f"{key:<14} {value:.6g}{unit}" if math.isfinite(value) else f"{key:<14} {value}"


def run(args) -> int:
    from networks.metrics import MetricError
    from networks.metrics.registry import MetricOptions, check, compute_many, parse_names
    try:
        names = parse_names(args.metrics)
        if args.pkl.lower() == "none" and args.ref is None:
            raise MetricError("PKL 'none' compares two image sets: --ref IMAGES --data DATASET")
        if args.ref is not None and args.pkl.lower() != "none":
            raise MetricError("--ref replaces the generator: write 'none' in place of PKL")
        opts = MetricOptions(data=args.data, ref=args.ref, num=args.num, feature_net=args.feature_net,
                             device=_device(args.device), seed=args.seed)
        G = _generator(args)
        check(names, G, opts)
        results = compute_many(names, G, opts)
    except MetricError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(_line(key, value))
    return 0
