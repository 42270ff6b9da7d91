"""Pictures of weights: each unit's weights on the pixels as a frame-sized tile.

The paper shows the first LSTM layer's input weights and the readout's output weights of a Moving
MNIST model this way; such tiles reveal which parts of the frame a unit looks at or paints.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import numpy as np

from videoae.errors import InvalidInputError
from videoae.reporting.frames import to_numpy
from videoae.reporting.plots import DPI, new_figure, save_figure
from videoae.validation import check_int

WEIGHT_COLORMAP = "RdBu_r"  # diverging: blue negative, white zero, red positive
WEIGHT_GUTTER_GREY = "0.55"
WEIGHT_GUTTER_PX = 2
WEIGHT_ZOOM = 1.25  # screen pixels per weight at 100 dpi (before the size cap)
WEIGHT_MIN_TILE_PX = 48  # small frames are enlarged by whole pixels to at least this
WEIGHT_MAX_SIDE_INCHES = 14.0
WEIGHT_MIN_FIGSIZE = (5.0, 4.0)  # inches: room for the title and the colour bar's label
_EXTRA_INCHES = (1.6, 0.9)  # room for the colour bar and the title
TITLE_WIDTH_SHARE = 0.95  # of the figure's width; a longer title is wrapped onto more lines


def _weight_tiles(weight: object, frame_shape: tuple[int, int], num_tiles: int) -> tuple[np.ndarray, int]:
    """The first ``num_tiles`` units' weights as (n, H, W) scaled to [-1, 1] each, and the unit count."""
    if (
        not isinstance(frame_shape, (tuple, list))
        or len(frame_shape) != 2
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in frame_shape)
    ):
        raise InvalidInputError(f"frame_shape must be two positive integers (height, width), got {frame_shape!r}")
    num_tiles = check_int("num_tiles", num_tiles, 1)
    height, width = (int(s) for s in frame_shape)
    array = to_numpy(weight)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InvalidInputError(f"weights must be numbers, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[1:] == (height, width):
        array = array.reshape(len(array), -1)
    if array.ndim != 2 or array.shape[1] != height * width or len(array) == 0:
        transposed = array.ndim == 2 and array.shape[0] == height * width
        hint = " (a readout layer's weight is (pixels, units): pass weight.T)" if transposed else ""
        raise InvalidInputError(
            f"weights must be (units, {height * width}) or (units, {height}, {width}) for frame_shape {frame_shape}, "
            f"got {array.shape}{hint}"
        )
    if not np.isfinite(array).all():
        raise InvalidInputError("weights hold NaN or infinite values; the model diverged or the checkpoint is damaged")
    tiles = array[:num_tiles].astype(np.float64).reshape(-1, height, width)
    peak = np.abs(tiles).max(axis=(1, 2), keepdims=True)
    return tiles / np.where(peak > 0, peak, 1.0), len(array)


def plot_weights(
    weight: np.ndarray,
    path: str | os.PathLike[str],
    *,
    frame_shape: tuple[int, int] = (64, 64),
    num_tiles: int = 64,
    title: str | None = None,
) -> Path:
    """Each unit's weights as a frame-sized picture (the paper's input/output weight figures).

    Each tile is scaled by its own largest magnitude, so 0 is white and the unit's strongest weight
    is full red (positive) or blue (negative).

    Args:
        weight: (num_units, H*W) or (num_units, H, W): one row per unit, e.g. an LSTM's input
            weights for one gate, or the transpose of a (pixels, units) readout weight.
        path: destination ``.png``; its folder is created.
        frame_shape: (H, W) of one frame.
        num_tiles: how many units to show, the first ones.
        title: figure title; default says how many units are shown.

    Returns:
        The path written.
    """
    tiles, num_units = _weight_tiles(weight, frame_shape, num_tiles)
    count, height, width = tiles.shape
    enlarge = math.ceil(WEIGHT_MIN_TILE_PX / min(height, width))
    if enlarge > 1:  # in the data, so the gutters stay thin lines however small the frames
        tiles = tiles.repeat(enlarge, axis=1).repeat(enlarge, axis=2)
    tile_h, tile_w = tiles.shape[1:]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_h, cell_w = tile_h + WEIGHT_GUTTER_PX, tile_w + WEIGHT_GUTTER_PX
    mosaic = np.full((rows * cell_h - WEIGHT_GUTTER_PX, columns * cell_w - WEIGHT_GUTTER_PX), np.nan)
    for k, tile in enumerate(tiles):
        top, left = (k // columns) * cell_h, (k % columns) * cell_w
        mosaic[top : top + tile_h, left : left + tile_w] = tile
    zoom = min(WEIGHT_ZOOM, WEIGHT_MAX_SIDE_INCHES * DPI / max(mosaic.shape))
    figsize = (
        max(WEIGHT_MIN_FIGSIZE[0], mosaic.shape[1] * zoom / DPI + _EXTRA_INCHES[0]),
        max(WEIGHT_MIN_FIGSIZE[1], mosaic.shape[0] * zoom / DPI + _EXTRA_INCHES[1]),
    )
    figure = new_figure(figsize)
    axes = figure.subplots()
    from matplotlib import colormaps

    colormap = colormaps[WEIGHT_COLORMAP].with_extremes(bad=WEIGHT_GUTTER_GREY)
    image = axes.imshow(mosaic, cmap=colormap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    axes.set_axis_off()
    figure.colorbar(image, ax=axes, shrink=0.8, label="weight / max |weight| of its unit")
    fit_title(figure, title or f"weights of the first {count} of {num_units} units ({height}x{width} each)")
    return save_figure(figure, path)


def fit_title(figure, text: str) -> None:
    """The figure's title, wrapped where one line would be wider than the figure (few tiles make a narrow one)."""
    title = figure.suptitle(text)
    room = figure.bbox.width * TITLE_WIDTH_SHARE
    width = title.get_window_extent(figure.canvas.get_renderer()).width
    if width > room:  # as few lines as fit, of even length; characters are near enough equal in width to wrap by count
        lines = math.ceil(width / room)
        title.set_text(textwrap.fill(text, max(8, math.ceil(len(text) / lines))))
