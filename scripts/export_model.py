#!/usr/bin/env python3
"""Turns a training snapshot into a shippable checkpoint: G, D, G_ema, augment pipe and data set settings,
without the resume state (optimiser moments, RNG states), which is most of a snapshot's size.

    python scripts/export_model.py RUN_DIR_OR_SNAPSHOT --dest assets/default-sg3t.pkl

Writes DEST and DEST's name with -fakes.png (the seeds 0..31 grid of G_ema, as the training run draws it);
a run folder means its newest snapshot. The result still fine-tunes (`sg-explorer train --resume DEST`).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from networks import CheckpointError, load_network_pkl, save_network_pkl  # noqa: E402
from networks.files import save_png  # noqa: E402
from networks.training.snapshot import fakes_grid  # noqa: E402

KEEP = ("G", "D", "G_ema", "augment_pipe", "training_set_kwargs")


def fakes_path(dest: str) -> str:
    root, _ = os.path.splitext(dest)
    return root + "-fakes.png"


def export(source: str, dest: str) -> dict:
    data = load_network_pkl(source)
    resume = data.get("resume") or {}
    out = {k: data[k] for k in KEEP if data.get(k) is not None}
    out["provenance"] = {
        "kimg": resume.get("counters", {}).get("cur_nimg", 0) / 1000,
        "options": resume.get("options"),
        "source": os.path.basename(source.rstrip("/")),
    }
    save_network_pkl(dest, out)
    save_png(fakes_path(dest), fakes_grid(out["G_ema"].eval()))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", help="network-snapshot-*.pkl or a training run folder")
    p.add_argument("--dest", required=True, help="output .pkl")
    args = p.parse_args(argv)
    try:
        out = export(args.source, args.dest)
    except CheckpointError as e:
        print(f"export_model: error: {e}", file=sys.stderr)
        return 1
    size = os.path.getsize(args.dest) / 2 ** 20
    print(f"{args.dest}: {out['G_ema'].arch} {out['G_ema'].img_resolution}px at {out['provenance']['kimg']:g} kimg, "
          f"{size:.1f} MB; {fakes_path(args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
