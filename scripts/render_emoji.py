"""Render the seven expression emoji from Noto Color Emoji into RGBA PNGs.

Run once (needs Debian's ``fonts-noto-color-emoji``); the PNGs are committed
in ``src/facemoji/assets/emoji/`` so the runtime needs no font:

    apt-get install fonts-noto-color-emoji
    python scripts/render_emoji.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from facemoji.labels import EMOJI_CODEPOINTS

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
OUT = Path(__file__).resolve().parents[1] / "src" / "facemoji" / "assets" / "emoji"


def render(char: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((10, 10), char, font=font, embedded_color=True)
    bbox = canvas.getbbox()
    if bbox is None:
        raise SystemExit(f"font rendered nothing for U+{ord(char):X}")
    glyph = canvas.crop(bbox)
    side = max(glyph.size)  # centre on a square canvas so scaling keeps the aspect
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return square


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--font", default=FONT)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    font = ImageFont.truetype(args.font, 109)  # the bitmap strike size of Noto Color Emoji
    args.out.mkdir(parents=True, exist_ok=True)
    for name, char in EMOJI_CODEPOINTS.items():
        img = render(char, font)
        img.save(args.out / f"{name}.png", optimize=True)
        print(f"{name}: U+{ord(char):X} {img.size}")


if __name__ == "__main__":
    main()
