"""Pictures of sequences: grids of videos as frames, tables of frames, PNG files.

Every function takes frames as uint8 (0..255) or floats in [0, 1] and returns uint8 arrays, so the
results go straight to :func:`save_png` or a GIF writer. Comparisons of a model's outputs with the
truth live in :mod:`videoae.reporting.comparison`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from videoae.atomic import write_atomically
from videoae.data.pixels import UINT8_MAX, to_uint8
from videoae.errors import InvalidInputError
from videoae.validation import check_int

logger = logging.getLogger(__name__)

DEFAULT_PADDING = 2
# Grey rather than black or white separates tiles of dark-background digits without looking like data.
DEFAULT_PAD_VALUE = 128


def to_numpy(values: object) -> np.ndarray:
    """A NumPy view of an array or a tensor (any device; bfloat16 and half become float32).

    Tensors are recognised by their ``detach`` method, so torch is not imported here.
    """
    if hasattr(values, "detach"):
        tensor = values.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()  # NumPy has no bfloat16
        return tensor.numpy()
    return np.asarray(values)


def _check_videos(videos: np.ndarray) -> np.ndarray:
    array = to_uint8(videos)
    if array.ndim != 4 or min(array.shape) < 1:
        raise InvalidInputError(f"videos must be a non-empty array (N, T, H, W), got shape {array.shape}")
    return array


def _check_layout(padding: int, pad_value: int) -> None:
    check_int("padding", padding, 0)
    if isinstance(pad_value, bool) or not isinstance(pad_value, int) or not 0 <= pad_value <= UINT8_MAX:
        raise InvalidInputError(f"pad_value must be an integer in 0..255, got {pad_value!r}")


def tile(images: np.ndarray, *, columns: int, padding: int = DEFAULT_PADDING, pad_value: int = DEFAULT_PAD_VALUE) -> np.ndarray:
    """Tile images (..., N, H, W) row-major into (..., H', W') with ``columns`` per row.

    Leading axes (e.g. time) are kept, so one call tiles every frame of a batch of videos.
    """
    images = to_uint8(images)
    if images.ndim < 3 or min(images.shape[-3:]) < 1:
        raise InvalidInputError(f"images must be a non-empty array (..., N, H, W), got shape {images.shape}")
    _check_layout(padding, pad_value)
    columns = check_int("columns", columns, 1)
    *lead, count, height, width = images.shape
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    cell_h, cell_w = height + padding, width + padding
    out = np.full((*lead, rows * cell_h + padding, columns * cell_w + padding), pad_value, dtype=np.uint8)
    for k in range(count):
        top = padding + (k // columns) * cell_h
        left = padding + (k % columns) * cell_w
        out[..., top : top + height, left : left + width] = images[..., k, :, :]
    return out


def sequence_grid(
    videos: np.ndarray,
    *,
    columns: int | None = None,
    padding: int = DEFAULT_PADDING,
    pad_value: int = DEFAULT_PAD_VALUE,
) -> np.ndarray:
    """A grid of videos played together: frame t shows frame t of every video.

    Args:
        videos: (N, T, H, W), uint8 or floats in [0, 1].
        columns: videos per row; default about sqrt(N).
        padding: pixels between and around tiles.
        pad_value: grey level of the padding.

    Returns:
        uint8 (T, H', W').
    """
    videos = _check_videos(videos)
    if columns is None:
        columns = math.ceil(math.sqrt(len(videos)))
    return tile(videos.transpose(1, 0, 2, 3), columns=columns, padding=padding, pad_value=pad_value)


def frame_table(videos: np.ndarray, *, padding: int = DEFAULT_PADDING, pad_value: int = DEFAULT_PAD_VALUE) -> np.ndarray:
    """One row per video, one column per frame: a still picture of whole sequences.

    Args:
        videos: (N, T, H, W), uint8 or floats in [0, 1].
        padding: pixels between and around tiles.
        pad_value: grey level of the padding.

    Returns:
        uint8 (H', W').
    """
    videos = _check_videos(videos)
    num_videos, num_frames, height, width = videos.shape
    flat = videos.reshape(num_videos * num_frames, height, width)
    return tile(flat, columns=num_frames, padding=padding, pad_value=pad_value)


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write a grey image (H, W) or an RGB one (H, W, 3) as PNG, atomically (nothing is left behind
    on failure), creating the folder.

    Args:
        path: destination file.
        image: (H, W) or (H, W, 3), uint8 or floats in [0, 1].

    Returns:
        The path written.
    """
    from PIL import Image

    image = to_uint8(image)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)) or min(image.shape) < 1:
        raise InvalidInputError(f"a PNG image must be a non-empty array (H, W) or (H, W, 3), got shape {image.shape}")
    picture = Image.fromarray(np.ascontiguousarray(image))
    path = write_atomically(path, lambda stream: picture.save(stream, format="PNG", optimize=True))
    logger.debug("wrote %s (%dx%d)", path, image.shape[1], image.shape[0])
    return path
