"""Labels drawn into uint8 pictures with Pillow's default font, sized to the tiles they name.

Pillow >= 10.1 with FreeType gives a scalable default font; older Pillow (or one built without
FreeType) has only a fixed bitmap font, whose glyphs are enlarged by whole pixels instead, so labels
stay readable on upscaled tiles either way. Text that does not fit its box is cut, never spilled.
"""

from __future__ import annotations

import functools

import numpy as np

LABEL_FONT_PX = 11  # Pillow's default size; labels at scale s use s times this
MIN_FONT_PX = 7  # below this the default font stops being legible
_BITMAP_FONT_PX = 11  # line height of Pillow's fixed bitmap font
_LINE_SAMPLE = "Agjy|"  # the tallest ascender and lowest descender set one height for every label
_INK = 255
_INK_THRESHOLD = 0  # any antialiased coverage counts as ink when measuring


@functools.lru_cache(maxsize=32)
def _font(size: int) -> tuple[object, int]:
    """Pillow's default font near ``size`` px and the whole factor its glyphs must be enlarged by."""
    from PIL import ImageFont

    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no size argument
        font = ImageFont.load_default()
    if isinstance(font, ImageFont.FreeTypeFont):
        return font, 1
    return font, max(1, round(size / _BITMAP_FONT_PX))


def _draw(text: str, font: object) -> np.ndarray:
    """Coverage (0..255) of ``text`` drawn at the origin of a canvas surely large enough for it."""
    from PIL import Image, ImageDraw

    size = max(_BITMAP_FONT_PX, getattr(font, "size", _BITMAP_FONT_PX))
    # Measuring ink on a roomy canvas works for bitmap and FreeType fonts alike on every Pillow.
    canvas = Image.new("L", ((len(text) + 2) * size, 3 * size), 0)
    ImageDraw.Draw(canvas).text((size, size), text, fill=_INK, font=font)
    return np.asarray(canvas)


@functools.lru_cache(maxsize=32)
def _line_rows(size: int) -> tuple[int, int]:
    """First and past-last canvas rows that any line of text at ``size`` uses."""
    font, _ = _font(size)
    rows = np.flatnonzero((_draw(_LINE_SAMPLE, font) > _INK_THRESHOLD).any(axis=1))
    return int(rows[0]), int(rows[-1]) + 1


@functools.lru_cache(maxsize=256)
def render_text(text: str, size: int = LABEL_FONT_PX) -> np.ndarray:
    """Coverage mask of one line of text: uint8 (line height, ink width), 255 where fully inked.

    Args:
        text: the label; an empty string gives a mask of width 0.
        size: font size in pixels.

    Returns:
        A read-only uint8 array whose height is the same for every text at this size.
    """
    font, enlarge = _font(size)
    top, bottom = _line_rows(size)
    coverage = _draw(text, font)[top:bottom]
    columns = np.flatnonzero((coverage > _INK_THRESHOLD).any(axis=0))
    mask = coverage[:, columns[0] : columns[-1] + 1] if len(columns) else coverage[:, :0]
    if enlarge > 1:
        mask = mask.repeat(enlarge, axis=0).repeat(enlarge, axis=1)
    mask = np.ascontiguousarray(mask)
    mask.flags.writeable = False  # cached: callers share it
    return mask


def line_height(size: int = LABEL_FONT_PX) -> int:
    """Height in pixels of one line of text at ``size``."""
    return render_text("", size).shape[0]


def fit_font_size(texts: list[str], max_width: int, size: int) -> int:
    """The largest font size up to ``size`` at which every text fits in ``max_width`` pixels.

    Returns :data:`MIN_FONT_PX` when even that is too wide (the text is then cut when drawn).
    """
    for candidate in range(size, MIN_FONT_PX - 1, -1):
        if all(render_text(text, candidate).shape[1] <= max_width for text in texts):
            return candidate
    return min(size, MIN_FONT_PX)


def draw_text(
    canvas: np.ndarray,
    text: str,
    box: tuple[int, int, int, int],
    *,
    size: int = LABEL_FONT_PX,
    ink: int = 0,
    align: str = "center",
) -> None:
    """Draw one line of text into a grey uint8 canvas in place, blended over what is there.

    Args:
        canvas: uint8 (H, W), modified in place.
        text: the label.
        box: (top, left, height, width) of the area the text is centred in vertically; it is
            centred horizontally (``align="center"``) or starts at the left edge (``"left"``).
            Ink beyond the box is cut.
        size: font size in pixels.
        ink: grey level of the letters.
        align: ``"center"`` or ``"left"``.
    """
    top, left, height, width = box
    mask = render_text(text, size)
    mask_h, mask_w = mask.shape
    offset_y = (height - mask_h) // 2
    offset_x = (width - mask_w) // 2 if align == "center" else 0
    # Rows/columns of the mask that land inside the box.
    y0, x0 = max(0, -offset_y), max(0, -offset_x)
    y1, x1 = min(mask_h, height - offset_y), min(mask_w, width - offset_x)
    if y1 <= y0 or x1 <= x0:
        return
    alpha = mask[y0:y1, x0:x1].astype(np.float32) / _INK
    rows = slice(top + offset_y + y0, top + offset_y + y1)
    cols = slice(left + offset_x + x0, left + offset_x + x1)
    region = canvas[rows, cols].astype(np.float32)
    canvas[rows, cols] = np.rint(region * (1.0 - alpha) + ink * alpha).astype(np.uint8)
