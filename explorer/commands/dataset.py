"""`sg-explorer dataset`: images of any common format -> a zip of square RGB PNGs for training.

Output layout: `00000/img00000000.png`, ... (1000 per folder) plus `dataset.json`
{"labels": [[name, label], ...] | null}. Labels come from a `dataset.json` at the source root
that maps source paths (relative, '/'-separated) to labels. Unreadable images are skipped with a
warning that names them; the zip is written atomically (temp file in the same folder, fsync, rename).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from explorer.errors import UserError
from networks.files import atomic_open

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
TRANSFORMS = ("none", "center-crop", "center-crop-wide")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, help="folder or zip of images (any common format)")
    parser.add_argument("--dest", required=True, help="output .zip")
    parser.add_argument("--resolution", required=True, help="WxH, e.g. 64x64 (or 64); the output is square")
    parser.add_argument("--transform", choices=TRANSFORMS, default="none",
                        help="none = resize; center-crop = square crop then resize; "
                             "center-crop-wide = crop to WxH, then pad to a WxW square")
    parser.add_argument("--max-images", type=int, default=None, help="stop after this many images")


@dataclass(frozen=True)
class BuildOptions:
    source: str
    dest: str
    width: int
    height: int
    transform: str = "none"
    max_images: Optional[int] = None


@dataclass
class BuildSummary:
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source name, reason)
    num_classes: Optional[int] = None


def parse_resolution(text: str) -> tuple[int, int]:
    """'64x64' | '64' -> (width, height) in pixels."""
    parts = text.lower().split("x")
    try:
        if len(parts) == 1:
            w = h = int(parts[0])
        elif len(parts) == 2:
            w, h = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise UserError(f"--resolution must look like 64x64, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise UserError(f"--resolution must be positive, got {text!r}")
    return w, h


def _check_geometry(opts: BuildOptions) -> None:
    side = opts.width
    if opts.transform != "center-crop-wide" and opts.width != opts.height:
        raise UserError(f"--resolution {opts.width}x{opts.height} is not square "
                        "(only --transform center-crop-wide allows W > H)")
    if opts.transform == "center-crop-wide" and opts.height > opts.width:
        raise UserError("--transform center-crop-wide needs W >= H")
    if side < 4 or side & (side - 1):
        raise UserError(f"--resolution: the side must be a power of two >= 4, got {side}")


# ---------------------------------------------------------------------------------- sources
def _iter_source(source: str) -> tuple[list[str], Callable[[str], bytes], Callable[[], None]]:
    """(sorted image names, read(name) -> bytes, close())."""
    if os.path.isdir(source):
        names = []
        for root, _dirs, files in os.walk(source):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), source).replace(os.sep, "/")
                names.append(rel)

        def read(name: str) -> bytes:
            with open(os.path.join(source, name), "rb") as fh:
                return fh.read()
        return sorted(names), read, lambda: None
    if os.path.isfile(source):
        try:
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as e:
            raise UserError(f"--source {source}: not a folder or a readable zip ({e})") from None
        return sorted(n for n in zf.namelist() if not n.endswith("/")), zf.read, zf.close
    raise UserError(f"--source {source}: no such folder or zip")


def _source_labels(names: list[str], read: Callable[[str], bytes]) -> Optional[dict]:
    if "dataset.json" not in names:
        return None
    try:
        meta = json.loads(read("dataset.json"))
        pairs = meta.get("labels")
        if pairs is None:
            return None
        return {str(n).replace("\\", "/"): lab for n, lab in pairs}
    except (ValueError, AttributeError, TypeError) as e:
        raise UserError(f"--source: dataset.json is not {{\"labels\": [[name, label], ...]}} ({e})") from None


# ---------------------------------------------------------------------------------- images
def transform_image(img, opts: BuildOptions):
    """PIL image (any mode) -> RGB PIL image of opts.width x opts.width (square)."""
    from PIL import Image
    img = img.convert("RGB")
    w, h = img.size
    if opts.transform == "center-crop":
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    elif opts.transform == "center-crop-wide":
        # Crop to the target aspect, keeping the full width where the source is wider.
        target = opts.width / opts.height
        if w / h > target:
            cw, ch = round(h * target), h
        else:
            cw, ch = w, round(w / target)
        img = img.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
        img = img.resize((opts.width, opts.height), Image.LANCZOS)
        canvas = Image.new("RGB", (opts.width, opts.width))
        canvas.paste(img, (0, (opts.width - opts.height) // 2))
        return canvas
    if img.size != (opts.width, opts.width):
        img = img.resize((opts.width, opts.width), Image.LANCZOS)
    return img


def _encode_png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _decode(data: bytes):
    from PIL import Image
    img = Image.open(io.BytesIO(data))
    img.load()  # Decode now so truncated files fail here, not later.
    return img


def _write_atomic_zip(dest: str, entries: Iterator[tuple[str, bytes]]) -> None:
    with atomic_open(dest) as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            zf.writestr(name, data)


def build_dataset(opts: BuildOptions, warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                  progress: bool = True) -> BuildSummary:
    """Converts opts.source into the zip opts.dest. Raises UserError when nothing usable is found."""
    _check_geometry(opts)
    names, read, close = _iter_source(opts.source)
    summary = BuildSummary()
    try:
        labels_in = _source_labels(names, read)
        images = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)
                  and not os.path.basename(n).startswith(".")]
        if not images:
            raise UserError(f"--source {opts.source}: no image files found")
        labels_out: list = []

        def entries() -> Iterator[tuple[str, bytes]]:
            from tqdm import tqdm
            for name in tqdm(images, desc="images", unit="img", disable=not progress, leave=False):
                if opts.max_images is not None and summary.written >= opts.max_images:
                    break
                if labels_in is not None and name not in labels_in:
                    summary.skipped.append((name, "no label in dataset.json"))
                    warn(f"warning: skipped {name}: no label in dataset.json")
                    continue
                try:
                    img = transform_image(_decode(read(name)), opts)
                except Exception as e:  # Any decoder failure: the file is unusable, not the run.
                    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                    summary.skipped.append((name, reason))
                    warn(f"warning: skipped {name}: {reason}")
                    continue
                idx = summary.written
                out_name = f"{idx // 1000:05d}/img{idx:08d}.png"
                yield out_name, _encode_png(img)
                if labels_in is not None:
                    labels_out.append([out_name, labels_in[name]])
                summary.written += 1
            if summary.written == 0:
                raise UserError(f"--source {opts.source}: no readable images "
                                f"({len(summary.skipped)} skipped); nothing written")
            meta = {"labels": labels_out if labels_in is not None else None}
            yield "dataset.json", json.dumps(meta).encode()

        _write_atomic_zip(opts.dest, entries())
    finally:
        close()
    if labels_in is not None:
        ints = [lab for _, lab in labels_out if isinstance(lab, int)]
        summary.num_classes = (max(ints) + 1) if ints and len(ints) == len(labels_out) else None
    return summary


def run(args: argparse.Namespace) -> int:
    width, height = parse_resolution(args.resolution)
    if args.max_images is not None and args.max_images <= 0:
        raise UserError("--max-images must be positive")
    opts = BuildOptions(source=args.source, dest=args.dest, width=width, height=height,
                        transform=args.transform, max_images=args.max_images)
    summary = build_dataset(opts, progress=sys.stderr.isatty())
    extra = f", {summary.num_classes} classes" if summary.num_classes else ""
    print(f"wrote {summary.written} images ({width}x{width}{extra}) to {args.dest}; "
          f"{len(summary.skipped)} skipped")
    return 0
