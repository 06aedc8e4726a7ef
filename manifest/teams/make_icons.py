"""Draws the Teams app icons with Pillow: ``color.png`` (192x192, full colour) and
``outline.png`` (32x32, white on transparent, as Teams requires). Run it after changing the
design: ``python manifest/teams/make_icons.py``."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BRAND = (37, 99, 235, 255)  # the blue of the colour icon's background
WHITE = (255, 255, 255, 255)


def _switchboard(draw: ImageDraw.ImageDraw, size: int, colour: tuple[int, int, int, int]) -> None:
    """Three patch cords between two rows of jacks: a telephone switchboard."""
    unit = size / 32
    width = max(1, round(2 * unit))
    left, right, top, bottom = 9 * unit, 23 * unit, 9 * unit, 23 * unit
    for x in (left, size / 2, right):
        for y in (top, bottom):
            r = 2.5 * unit
            draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=width)
    draw.line((left, top, right, bottom), fill=colour, width=width)
    draw.line((size / 2, top, left, bottom), fill=colour, width=width)
    draw.line((right, top, size / 2, bottom), fill=colour, width=width)


def colour_icon(size: int = 192) -> Image.Image:
    image = Image.new("RGBA", (size, size), BRAND)
    _switchboard(ImageDraw.Draw(image), size, WHITE)
    return image


def outline_icon(size: int = 32) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    _switchboard(ImageDraw.Draw(image), size, WHITE)
    return image


if __name__ == "__main__":
    colour_icon().save(HERE / "color.png")
    outline_icon().save(HERE / "outline.png")
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")
