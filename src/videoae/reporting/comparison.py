"""A model's outputs beside the truth: labelled animations (GIF) and still strips (PNG).

Four kinds of panel, always in this order: **input | ground truth | reconstruction | prediction**.
Each is a video ``(T, H, W)`` or a batch ``(N, T, H, W)`` (floats in [0, 1] or uint8; NumPy arrays or
tensors); a panel given as ``None`` is left out. The reconstruction must be in the inputs' natural
order (``CompositeModel.reconstruct`` returns it so), not the decoder's reversed order.

Time runs as in the model: the input and reconstruction play during the first ``T_in`` frames
(``T_in`` = the longer of the two), the ground truth and prediction during the ``T_future`` frames
after them. Outside its time range a panel shows:

- before its range: an empty tile in the gutter grey, with its label greyed;
- after its range: its last frame dimmed to 35 %, with its label greyed, so the last input stays
  visible, faintly, beside the prediction that continues it.

In the still strip, cells outside a panel's range are simply empty.

Colour panels are batches ``(N, T, H, W, 3)``: each channel is laid out as a grey picture would be
and the three are stacked, so labels and gutters stay grey and the result is ``(..., 3)`` RGB.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from videoae.data.pixels import to_uint8
from videoae.data.video_writers import write_gif
from videoae.errors import InvalidInputError
from videoae.reporting.frames import DEFAULT_PAD_VALUE, DEFAULT_PADDING, save_png, to_numpy
from videoae.reporting.text import LABEL_FONT_PX, draw_text, fit_font_size, line_height, render_text
from videoae.validation import is_int

PANEL_LABELS = {
    "input": "input",
    "truth": "ground truth",
    "reconstruction": "reconstruction",
    "prediction": "prediction",
}
# Panels that play during the input frames; the others play during the future frames.
_INPUT_TIME_PANELS = ("input", "reconstruction")
DEFAULT_GIF_SCALE = 2  # 64 px tiles become 128 px, wide enough for the labels at 2x font size
DEFAULT_STRIP_SCALE = 1  # a 20-frame strip of 64 px tiles is already 1.3k px wide
MAX_SCALE = 16
DEFAULT_FRAME_MS = 200
DIM_FACTOR = 0.35  # brightness of a panel's last frame held after its time range
LABEL_BACKGROUND = 255
LABEL_INK = 0
IDLE_LABEL_INK = 170  # a label whose panel is outside its time range
LABEL_MARGIN_PX = 3  # above and below text, and left of row labels, at scale 1
SEQUENCE_GAP_TILES = 0.25  # extra space between the row blocks of consecutive sequences in a strip


def _collect(inputs, truth, reconstruction, prediction) -> dict[str, np.ndarray]:
    """The panels given, as uint8 (N, T, H, W) with one N and one frame size, in display order."""
    given = {"input": inputs, "truth": truth, "reconstruction": reconstruction, "prediction": prediction}
    videos: dict[str, np.ndarray] = {}
    for kind, frames in given.items():
        if frames is None:
            continue
        array = to_numpy(frames)
        if array.ndim == 5 and array.shape[2] == 1:  # (N, T, 1, H, W): a channel axis of one
            array = array[:, :, 0]
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or 0 in array.shape:
            raise InvalidInputError(
                f"{PANEL_LABELS[kind]} must be a non-empty video (T, H, W) or batch (N, T, H, W), got shape {array.shape}"
            )
        videos[kind] = to_uint8(array)
    if not videos:
        raise InvalidInputError("nothing to show: pass at least one of inputs, truth, reconstruction, prediction")
    shapes = {kind: (video.shape[0], *video.shape[2:]) for kind, video in videos.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{PANEL_LABELS[k]} {n} x {h}x{w}" for k, (n, h, w) in shapes.items())
        raise InvalidInputError(f"panels must hold the same number of sequences and frame size; got {described}")
    return videos


def _colour_channels(panels: tuple) -> list[tuple] | None:
    """Each channel's panels (grey pictures to stack), if the panels are RGB batches (N, T, H, W, 3)."""
    arrays = [None if p is None else to_numpy(p) for p in panels]
    if not any(a is not None and a.ndim == 5 and a.shape[-1] == 3 for a in arrays):
        return None
    return [tuple(None if a is None else a[..., c] for a in arrays) for c in range(3)]


def _timeline(videos: dict[str, np.ndarray]) -> tuple[dict[str, int], int]:
    """Start frame of each panel and the total number of frames shown."""
    num_input = max((v.shape[1] for k, v in videos.items() if k in _INPUT_TIME_PANELS), default=0)
    num_future = max((v.shape[1] for k, v in videos.items() if k not in _INPUT_TIME_PANELS), default=0)
    starts = {kind: 0 if kind in _INPUT_TIME_PANELS else num_input for kind in videos}
    return starts, num_input + num_future


def _check_scale(scale: int) -> int:
    if not is_int(scale) or not 1 <= scale <= MAX_SCALE:
        raise InvalidInputError(f"scale must be an integer from 1 to {MAX_SCALE}, got {scale!r}")
    return int(scale)


def _upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the last two axes: pixels stay crisp squares."""
    return frames.repeat(scale, axis=-2).repeat(scale, axis=-1) if scale > 1 else frames


def _timed_frames(video: np.ndarray, start: int, total: int) -> np.ndarray:
    """(N, total, H, W): blank before ``start``, the video, then its last frame dimmed."""
    length = video.shape[1]
    out = np.full((video.shape[0], total, *video.shape[2:]), DEFAULT_PAD_VALUE, dtype=np.uint8)
    out[:, start : start + length] = video
    held = np.rint(video[:, -1].astype(np.float32) * DIM_FACTOR).astype(np.uint8)
    out[:, start + length :] = held[:, None]
    return out


def comparison_panels(
    inputs: np.ndarray | None,
    truth: np.ndarray | None = None,
    reconstruction: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    *,
    labels: bool = True,
    scale: int = DEFAULT_GIF_SCALE,
) -> np.ndarray:
    """An animation with one column per panel (input | ground truth | reconstruction | prediction).

    See the module docstring for the time alignment and what a panel shows outside its time range.

    Args:
        inputs: the model's input frames, (T_in, H, W) or (N, T_in, H, W), or None.
        truth: the real future frames, or None.
        reconstruction: the reconstructed input frames, in natural order, or None.
        prediction: the predicted future frames, or None.
        labels: write each panel's name above its column.
        scale: tiles are enlarged by this whole factor (and the labels with them).

    Returns:
        uint8 (T_in + T_future, H', W'), one row of tiles per sequence ((..., 3) for colour panels).
    """
    if channels := _colour_channels((inputs, truth, reconstruction, prediction)):
        return np.stack([comparison_panels(*panels, labels=labels, scale=scale) for panels in channels], axis=-1)
    videos = _collect(inputs, truth, reconstruction, prediction)
    scale = _check_scale(scale)
    starts, total = _timeline(videos)
    num_seq, _, height, width = next(iter(videos.values())).shape
    tile_h, tile_w, gap = height * scale, width * scale, DEFAULT_PADDING * scale
    margin = LABEL_MARGIN_PX * scale
    font_px = fit_font_size([PANEL_LABELS[k] for k in videos], tile_w - margin, LABEL_FONT_PX * scale)
    band = line_height(font_px) + 2 * margin if labels else 0
    out = np.full(
        (total, band + num_seq * (tile_h + gap) + gap, len(videos) * (tile_w + gap) + gap),
        DEFAULT_PAD_VALUE,
        dtype=np.uint8,
    )
    out[:, :band] = LABEL_BACKGROUND
    for column, (kind, video) in enumerate(videos.items()):
        left = gap + column * (tile_w + gap)
        frames = _upscale(_timed_frames(video, starts[kind], total), scale)  # (N, total, H', W')
        for n in range(num_seq):
            top = band + gap + n * (tile_h + gap)
            out[:, top : top + tile_h, left : left + tile_w] = frames[n]
        if labels:
            frame_index = np.arange(total)
            active = (frame_index >= starts[kind]) & (frame_index < starts[kind] + video.shape[1])
            for ink, when in ((LABEL_INK, active), (IDLE_LABEL_INK, ~active)):
                label = np.full((band, tile_w), LABEL_BACKGROUND, dtype=np.uint8)
                draw_text(label, PANEL_LABELS[kind], (0, 0, band, tile_w), size=font_px, ink=ink)
                out[when, :band, left : left + tile_w] = label
    return out


def comparison_strip(
    inputs: np.ndarray | None,
    truth: np.ndarray | None = None,
    reconstruction: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    *,
    labels: bool = True,
    scale: int = DEFAULT_STRIP_SCALE,
) -> np.ndarray:
    """A still picture: one row per panel, one column per frame, panel names on the left.

    Columns are aligned in time as in :func:`comparison_panels`, numbered from 1 along the top;
    each sequence gets its own block of rows.

    Args:
        inputs, truth, reconstruction, prediction: as for :func:`comparison_panels`.
        labels: write panel names on the left and frame numbers on top.
        scale: tiles are enlarged by this whole factor (and the labels with them).

    Returns:
        uint8 (H', W') ((H', W', 3) for colour panels).
    """
    if channels := _colour_channels((inputs, truth, reconstruction, prediction)):
        return np.stack([comparison_strip(*panels, labels=labels, scale=scale) for panels in channels], axis=-1)
    videos = _collect(inputs, truth, reconstruction, prediction)
    scale = _check_scale(scale)
    starts, total = _timeline(videos)
    num_seq, _, height, width = next(iter(videos.values())).shape
    tile_h, tile_w, gap = height * scale, width * scale, DEFAULT_PADDING * scale
    margin = LABEL_MARGIN_PX * scale
    font_px = LABEL_FONT_PX * scale
    names = [PANEL_LABELS[kind] for kind in videos]
    label_w = max(render_text(name, font_px).shape[1] for name in names) + 3 * margin if labels else 0
    number_px = fit_font_size([str(total)], tile_w, font_px)
    header = line_height(number_px) + 2 * margin if labels else 0
    block_h = len(videos) * (tile_h + gap)
    block_gap = round(SEQUENCE_GAP_TILES * tile_h)
    out = np.full(
        (header + gap + num_seq * block_h + (num_seq - 1) * block_gap, label_w + gap + total * (tile_w + gap)),
        DEFAULT_PAD_VALUE,
        dtype=np.uint8,
    )
    out[:header] = LABEL_BACKGROUND
    out[:, :label_w] = LABEL_BACKGROUND
    for t in range(total) if labels else ():
        box = (0, label_w + gap + t * (tile_w + gap), header, tile_w)
        draw_text(out, str(t + 1), box, size=number_px, ink=LABEL_INK)
    for n in range(num_seq):
        for row, (kind, video) in enumerate(videos.items()):
            top = header + gap + n * (block_h + block_gap) + row * (tile_h + gap)
            frames = _upscale(video[n], scale)  # (T, H', W')
            for t, frame in enumerate(frames):
                left = label_w + gap + (starts[kind] + t) * (tile_w + gap)
                out[top : top + tile_h, left : left + tile_w] = frame
            if labels:
                box = (top, margin, tile_h, label_w - margin)
                draw_text(out, PANEL_LABELS[kind], box, size=font_px, ink=LABEL_INK, align="left")
    return out


def save_comparison_gif(
    path: str | os.PathLike[str],
    inputs: np.ndarray | None,
    truth: np.ndarray | None = None,
    reconstruction: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    *,
    labels: bool = True,
    scale: int = DEFAULT_GIF_SCALE,
    frame_ms: int = DEFAULT_FRAME_MS,
) -> Path:
    """Write :func:`comparison_panels` as an endlessly looping GIF, atomically.

    Args:
        path: destination ending in ``.gif``; its folder is created.
        inputs, truth, reconstruction, prediction, labels, scale: as for :func:`comparison_panels`.
        frame_ms: display time of each frame (GIF rounds it to 10 ms).

    Returns:
        The path written.
    """
    frames = comparison_panels(inputs, truth, reconstruction, prediction, labels=labels, scale=scale)
    return write_gif(path, frames, frame_ms=frame_ms)


def save_comparison_png(
    path: str | os.PathLike[str],
    inputs: np.ndarray | None,
    truth: np.ndarray | None = None,
    reconstruction: np.ndarray | None = None,
    prediction: np.ndarray | None = None,
    *,
    labels: bool = True,
    scale: int = DEFAULT_STRIP_SCALE,
) -> Path:
    """Write :func:`comparison_strip` as a PNG, atomically.

    Args:
        path: destination file; its folder is created.
        inputs, truth, reconstruction, prediction, labels, scale: as for :func:`comparison_strip`.

    Returns:
        The path written.
    """
    return save_png(path, comparison_strip(inputs, truth, reconstruction, prediction, labels=labels, scale=scale))
