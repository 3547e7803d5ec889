#!/usr/bin/env python3
"""Renders every colour emoji of a font (Debian's fonts-noto-color-emoji, SIL Open Font Licence 1.1) to PNGs.

    apt-get install fonts-noto-color-emoji
    python scripts/emoji_images.py --outdir data/emoji-png
    sg-explorer dataset --source data/emoji-png --dest data/emoji-64.zip --resolution 64x64

Each image is one glyph, centred on a white square of --size pixels: the single-code-point emoji of the
emoji blocks, their five skin tones where the font has a combined glyph for them, and the flags
(regional-indicator pairs). A code point the font lacks renders nothing and is skipped.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
BITMAP_SIZE = 109  # the only size a CBDT bitmap font like Noto Color Emoji renders at
BLOCKS = [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
          (0x2600, 0x27BF)]
SKIN_TONES = [0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF]
REGIONS = "AD AE AR AT AU BE BR CA CH CL CN CO CZ DE DK EG ES FI FR GB GR HU ID IE IL IN IS IT JP KE KR MX " \
          "NG NL NO NZ PE PH PK PL PT RO RU SA SE SG TH TR UA US VN ZA".split()


def render(font: ImageFont.FreeTypeFont, text: str) -> Image.Image | None:
    """The glyph(s) of `text` as RGBA, cropped to their ink; None when nothing is drawn or it is several glyphs."""
    left, top, right, bottom = font.getbbox(text)
    if right - left <= 0 or bottom - top <= 0 or right - left > 1.5 * BITMAP_SIZE:
        return None  # empty, or the font drew a sequence as separate glyphs side by side
    im = Image.new("RGBA", (right, bottom), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((0, 0), text, font=font, embedded_color=True)
    alpha = np.asarray(im)[..., 3]
    if alpha.max() == 0:
        return None
    return im.crop(im.getbbox())


def on_white(glyph: Image.Image, size: int) -> Image.Image:
    """The glyph scaled to fit 90% of a white size x size square, centred."""
    scale = 0.9 * size / max(glyph.size)
    w, h = max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))
    glyph = glyph.resize((w, h), Image.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    canvas.alpha_composite(glyph, ((size - w) // 2, (size - h) // 2))
    return canvas.convert("RGB")


def emoji_texts(font: ImageFont.FreeTypeFont):
    """(name, text) of every emoji to render."""
    for lo, hi in BLOCKS:
        for cp in range(lo, hi + 1):
            if cp in SKIN_TONES:
                continue
            yield f"u{cp:05x}", chr(cp)
            base = render(font, chr(cp))
            if base is not None and 0x1F300 <= cp:
                for tone in SKIN_TONES:
                    yield f"u{cp:05x}_{tone:05x}", chr(cp) + chr(tone)
    for code in REGIONS:
        yield f"flag_{code.lower()}", "".join(chr(0x1F1E6 + ord(ch) - ord("A")) for ch in code)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--font", default=FONT, help=f"colour emoji font (default {FONT})")
    p.add_argument("--outdir", required=True)
    p.add_argument("--size", type=int, default=128, help="output image size in pixels")
    args = p.parse_args(argv)
    if not os.path.isfile(args.font):
        print(f"emoji_images: error: {args.font}: no such font (apt-get install fonts-noto-color-emoji)",
              file=sys.stderr)
        return 1
    font = ImageFont.truetype(args.font, BITMAP_SIZE)
    os.makedirs(args.outdir, exist_ok=True)
    seen, count = set(), 0
    for name, text in emoji_texts(font):
        glyph = render(font, text)
        if glyph is None:
            continue
        key = glyph.tobytes()
        if key in seen:  # a skin tone the font does not combine renders like its base
            continue
        seen.add(key)
        on_white(glyph, args.size).save(os.path.join(args.outdir, f"{name}.png"))
        count += 1
    print(f"{count} emoji -> {args.outdir}")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
