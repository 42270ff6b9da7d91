"""Videos shown inline in a notebook: ``videoae.show(x)``.

:func:`show` turns a video, a batch of videos, a model's output or a
:class:`~videoae.evaluation.predict.Prediction` into an :class:`Animation`. Its HTML
representation (Jupyter's ``_repr_html_`` protocol) is an animated GIF in an ``<img>`` whose source
is a data URI: no JavaScript and no widget, so it plays in Jupyter, JupyterLab, VS Code, Colab and
in a notebook viewer that shows saved outputs (GitHub's), and it stays in the saved notebook.
:meth:`Animation.save` writes the same GIF (or an MP4), which videoae's readers read back.

What is shown:

- a video ``(T, H, W)`` or ``(T, C, H, W)`` (C 1 or 3), or ``(T, H, W, 3)``: as it is;
- a batch ``(B, T, H, W)`` or ``(B, T, C, H, W)``: the videos side by side in a grid, playing together;
- a Prediction, or a model's output (``model(inputs, future)``'s dict, or a dict of ``inputs``,
  ``truth``, ``reconstruction``, ``prediction``): input | ground truth | reconstruction | prediction
  in labelled columns, one row per video (:func:`~videoae.reporting.comparison.comparison_panels`);
- a path: the video file, GIF, ``.npy`` or folder of frames it names.

Arrays may be NumPy or torch (any device), uint8 in 0-255 or floats in [0, 1]. A 4-D array whose
second axis is 1 or 3 is read as one video ``(T, C, H, W)``: give a batch of 1- or 3-frame videos
as ``(B, T, 1, H, W)``.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from videoae.data.pixels import to_uint8
from videoae.data.video_io import read_videos
from videoae.data.video_writers import GIF_TIME_UNIT_MS, gif_bytes, write_gif, write_mp4
from videoae.errors import InvalidInputError
from videoae.reporting.comparison import DEFAULT_FRAME_MS, MAX_SCALE, comparison_panels
from videoae.reporting.frames import sequence_grid, to_numpy
from videoae.validation import check_int

COLOUR_CHANNELS = 3
GREY_CHANNELS = 1
# A small animation is shown at twice its pixels (crisp, not resampled): a 64-pixel Moving MNIST
# frame is a thumbnail on today's screens. Wider ones are shown as they are.
DEFAULT_ZOOM = 2
ZOOM_BELOW_PX = 320
MAX_ZOOM = 8
# A notebook keeps its outputs in the page and the file: beyond this many pixel values (about 20
# frames of 1,800 x 1,800) an animation is refused with what to show instead.
MAX_SHOWN_VALUES = 2**26
# The names of the panels a comparison takes, and the other names a model's output gives them.
PANEL_KEYS = {"inputs": "inputs", "input": "inputs", "truth": "truth", "reconstruction": "reconstruction", "prediction": "prediction"}
SAVE_SUFFIXES = (".gif", ".mp4")
WHAT_SHOW_TAKES = (
    "show() takes a video (T, H, W) or (T, C, H, W), a batch (B, T, H, W) or (B, T, C, H, W), "
    "a Prediction, a model's output (a dict with reconstruction and/or prediction) or a video's path"
)


@dataclass(frozen=True, eq=False)
class Animation:
    """Frames that play inline in a notebook and save as a GIF or an MP4.

    Attributes:
        frames: uint8 ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB: exactly the GIF's frames.
        frame_ms: display time of each frame (the GIF stores it in steps of 10 ms).
        title: shown above the animation, or None.
        zoom: the HTML shows each pixel as ``zoom`` x ``zoom`` screen pixels (the GIF keeps its size).
    """

    frames: np.ndarray
    frame_ms: int = DEFAULT_FRAME_MS
    title: str | None = None
    zoom: int = 1
    _gif: list[bytes] = field(default_factory=list, init=False, repr=False)

    @property
    def num_frames(self) -> int:
        """How many frames the animation has."""
        return int(self.frames.shape[0])

    def gif(self) -> bytes:
        """The animation as a GIF file's bytes (encoded once, then kept)."""
        if not self._gif:
            self._gif.append(gif_bytes(self.frames, frame_ms=self.frame_ms))
        return self._gif[0]

    def _repr_html_(self) -> str:
        height, width = self.frames.shape[1:3]
        source = "data:image/gif;base64," + base64.b64encode(self.gif()).decode("ascii")
        alt = html.escape(self.title or f"an animation of {self.num_frames} frames", quote=True)
        # pixelated: an enlarged frame keeps crisp pixels instead of being blurred by smoothing
        image = (
            f'<img src="{source}" width="{width * self.zoom}" height="{height * self.zoom}" alt="{alt}" '
            'style="image-rendering: pixelated; image-rendering: crisp-edges">'
        )
        if not self.title:
            return image
        return f'<figure style="margin: 0"><figcaption>{html.escape(self.title)}</figcaption>{image}</figure>'

    def __repr__(self) -> str:
        height, width = self.frames.shape[1:3]
        kind = "RGB " if self.frames.ndim == 4 else ""
        title = f", {self.title!r}" if self.title else ""
        return f"Animation({self.num_frames} {kind}frames of {width}x{height}, {self.frame_ms} ms each{title})"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the animation, atomically: a ``.gif`` (the frames exactly, looping) or an ``.mp4``
        (H.264, needs PyAV). ``videoae predict``, ``eval --data`` and ``read_videos`` read either.

        Returns:
            The path written.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".gif":
            return write_gif(path, self.frames, frame_ms=self.frame_ms)
        if suffix == ".mp4":
            return write_mp4(path, self.frames, fps=1000 / self.frame_ms)
        raise InvalidInputError(f"{path}: give a file name ending in {' or '.join(SAVE_SUFFIXES)} to save an animation")


def _picture_layout(array: np.ndarray, *, batch: bool) -> np.ndarray:
    """A video (or a batch, ``batch=True``) in the layout of pictures: (..., T, H, W) grey or
    (..., T, H, W, 3) RGB; a channel axis of 1 or 3 before the frame's sides is moved or dropped."""
    channel_axis = 2 if batch else 1
    if array.ndim == channel_axis + 3 and array.shape[channel_axis] in (GREY_CHANNELS, COLOUR_CHANNELS):
        array = np.moveaxis(array, channel_axis, -1)  # (..., T, H, W, C)
        return array[..., 0] if array.shape[-1] == GREY_CHANNELS else array
    return array


def _check_size(shape: tuple[int, ...]) -> None:
    """Refuse an animation too large for a notebook's page (before it is drawn, where possible)."""
    count = math.prod(shape)
    if count > MAX_SHOWN_VALUES:
        raise InvalidInputError(
            f"an animation of shape {tuple(shape)} holds {count:,} pixel values, more than a notebook shows well "
            f"({MAX_SHOWN_VALUES:,}); show fewer videos (videos[:16]), fewer frames or smaller ones"
        )


def _frames_of_array(array: np.ndarray, columns: int | None, scale: int) -> np.ndarray:
    """The frames that show an array: one video as it is, a batch as a grid."""
    shape_error = InvalidInputError(f"{WHAT_SHOW_TAKES}; got an array of shape {array.shape}")
    if array.ndim < 3 or 0 in array.shape:
        raise shape_error
    _check_size((*array.shape, scale, scale))  # a grid holds about as many pixels as its videos
    channels_first = array.ndim == 4 and array.shape[1] in (GREY_CHANNELS, COLOUR_CHANNELS)
    if array.ndim == 3 or channels_first or (array.ndim == 4 and array.shape[-1] == COLOUR_CHANNELS):
        frames = to_uint8(_picture_layout(array, batch=False))  # (T, H, W) or (T, H, W, 3)
    elif array.ndim in (4, 5):
        videos = to_uint8(_picture_layout(array, batch=True))  # (B, T, H, W) or (B, T, H, W, 3)
        if videos.ndim == 4:
            frames = sequence_grid(videos, columns=columns)
        elif videos.shape[-1] == COLOUR_CHANNELS:  # each colour channel laid out as a grey grid, then stacked
            frames = np.stack([sequence_grid(videos[..., c], columns=columns) for c in range(COLOUR_CHANNELS)], axis=-1)
        else:
            raise shape_error
    else:
        raise shape_error
    return frames.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else frames


def _comparison_frames(panels: Mapping[str, object], labels: bool, scale: int) -> np.ndarray:
    """The labelled columns of a model's outputs beside its inputs and the truth."""
    given = {}
    for key, value in panels.items():
        if key in PANEL_KEYS and value is not None:
            array = to_numpy(value)
            given[PANEL_KEYS[key]] = _picture_layout(array, batch=array.ndim == 5)
    if not given:
        raise InvalidInputError(f"{WHAT_SHOW_TAKES}; this mapping has none of {', '.join(sorted(set(PANEL_KEYS)))}")
    return comparison_panels(**{"inputs": None, **given}, labels=labels, scale=scale)


def show(
    video: object,
    *,
    title: str | None = None,
    frame_ms: int = DEFAULT_FRAME_MS,
    columns: int | None = None,
    labels: bool = True,
    scale: int = 1,
    zoom: int | None = None,
) -> Animation:
    """An animation of ``video`` that plays inline in a notebook (see the module docstring for
    what it takes and shows); ``.save(path)`` writes it as a GIF.

    Args:
        video: a video, a batch of videos, a Prediction, a model's output, or a video's path.
        title: a caption shown above it.
        frame_ms: display time of each frame, from 10 ms (GIF steps of 10 ms).
        columns: videos per row of a batch's grid; default about the square root of the batch.
        labels: name the columns of a comparison.
        scale: enlarge the frames in the GIF itself by this whole factor (a saved file bigger on
            every screen); the display's ``zoom`` costs nothing in the notebook's size.
        zoom: show each pixel as ``zoom`` x ``zoom`` screen pixels; default 2 for an animation
            narrower than 320 pixels, else 1. It changes the display, not the GIF.

    Returns:
        An :class:`Animation`.

    Raises:
        InvalidInputError: what was given is not a video, batch or output of a model (the message
            says what ``show`` takes).
    """
    frame_ms = check_int("frame_ms", frame_ms, GIF_TIME_UNIT_MS)
    scale = check_int("scale", scale, 1)
    if scale > MAX_SCALE:
        raise InvalidInputError(f"scale must be from 1 to {MAX_SCALE}, got {scale}")
    if zoom is not None:
        zoom = check_int("zoom", zoom, 1)
        if zoom > MAX_ZOOM:
            raise InvalidInputError(f"zoom must be from 1 to {MAX_ZOOM}, got {zoom}")
    if columns is not None:
        columns = check_int("columns", columns, 1)
    if isinstance(video, (str, os.PathLike)):
        video = read_videos(video)
        video = video[0] if len(video) == 1 else video
    if callable(getattr(video, "panels", None)):  # a Prediction
        frames = _comparison_frames(video.panels(), labels, scale)
    elif isinstance(video, Mapping):
        frames = _comparison_frames(video, labels, scale)
    elif hasattr(video, "shape") or isinstance(video, (list, tuple)):
        frames = _frames_of_array(to_numpy(video), columns, scale)
    else:
        raise InvalidInputError(f"{WHAT_SHOW_TAKES}; got a {type(video).__name__}")
    _check_size(frames.shape)
    if zoom is None:
        zoom = DEFAULT_ZOOM if frames.shape[2] < ZOOM_BELOW_PX else 1
    return Animation(frames=frames, frame_ms=frame_ms, title=title, zoom=zoom)
