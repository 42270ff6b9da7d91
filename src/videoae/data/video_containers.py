"""Video containers (``.mp4 .mkv .webm .avi .mov``) read through PyAV, a frame or a clip at a time.

PyAV (``pip install "videoae[video]"``) bundles FFmpeg with its H.264, VP9, AV1, MPEG-4, MJPEG
and FFV1 decoders. :func:`probe` reads a file's packets (no decoding) to learn each frame's
timestamp, so frame ``i`` of a video is its ``i``-th frame in presentation order, exactly, for
constant and variable frame rates alike; :func:`decode_frames` seeks to the keyframe before the
first frame asked for and decodes only up to the last, so memory is bounded by the clip.

Frames are converted to a target ``(channels, height, width)`` in one place,
:func:`convert_frame`: grayscale (FFmpeg's luma, full range) or RGB; the frame is resized (area
filter) so that it covers the target, i.e. its short side matches for a square target, then the
middle of it is cropped. The aspect ratio is never changed.
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from videoae.errors import InvalidInputError, MissingDependencyError

logger = logging.getLogger(__name__)

CONTAINER_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
CHANNEL_FORMATS = {1: "gray", 3: "rgb24"}  # what FFmpeg converts each frame to
RESIZE_FILTER = "AREA"  # averages when shrinking, so no aliasing
INSTALL_HINT = 'pip install "videoae[video]" (or pip install av)'
# Open containers each DataLoader worker keeps, so consecutive clips of a video skip re-parsing it.
OPEN_CONTAINERS = 8


def import_av() -> ModuleType:
    """PyAV, imported on first use; a one-line error naming the install command when missing."""
    try:
        import av
    except ImportError as err:
        raise MissingDependencyError(f"reading {'/'.join(CONTAINER_SUFFIXES)} files needs PyAV: {INSTALL_HINT} ({err})") from None
    av.logging.set_level(av.logging.PANIC)  # damaged files get one line from videoae, not FFmpeg's log
    return av


def is_container(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a video container videoae reads with PyAV (by its suffix)."""
    return Path(path).suffix.lower() in CONTAINER_SUFFIXES


def printable(path: str | os.PathLike[str]) -> str:
    """A path as text that any terminal prints: bytes that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_utf8_name(path: str | os.PathLike[str]) -> None:
    """Refuse a path whose name is not valid UTF-8 (it could not be printed, logged or listed)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"{printable(path)}: the file name is not valid UTF-8; rename it (e.g. convmv -f latin1 -t utf-8 --notest FILE)"
        ) from None


def _damaged(path: Path, err: BaseException | str) -> InvalidInputError:
    detail = str(err)
    if isinstance(err, Exception) and getattr(err, "strerror", None):  # FFmpeg's: its words and its last log line
        log = getattr(err, "log", None)
        detail = err.strerror + (f": {log[2]}" if isinstance(log, tuple) and len(log) == 3 and log[2] else "")
    detail = " ".join(detail.split())
    return InvalidInputError(
        f"{printable(path)}: cannot read this video ({detail}); the file is truncated, damaged or not a video: copy or re-encode it"
    )


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns of a video without decoding it.

    Attributes:
        path: the file.
        height, width: the stored frame size.
        fps: the stream's average frame rate (frames per second).
        times: float64 (num_frames,) presentation time of each frame in seconds, from 0, increasing.
        pts: int64 (num_frames,) the frames' timestamps in the stream's time base (for seeking), or
            None where the container stores none (frames are then decoded from the start).
        codec: the decoder's name.
    """

    path: Path
    height: int
    width: int
    fps: float
    times: np.ndarray
    pts: np.ndarray | None
    codec: str

    @property
    def num_frames(self) -> int:
        return len(self.times)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a container's packets (not its pictures): frame count, timestamps, size and rate.

    Raises:
        InvalidInputError: the file is missing, empty, truncated, damaged, holds no video stream
            (audio only) or is in a format FFmpeg cannot read; one line that names it.
    """
    path = Path(path)
    check_utf8_name(path)
    if not path.exists():
        raise InvalidInputError(f"{printable(path)}: no such file; check the path")
    if not path.is_file():
        raise InvalidInputError(f"{printable(path)}: not a regular file; give a video file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{printable(path)}: the file is empty (0 bytes); copy or write it again")
    av = import_av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = ", ".join(sorted({stream.type for stream in container.streams})) or "none"
                raise InvalidInputError(
                    f"{printable(path)}: holds no video stream (streams: {kinds}); give a file with pictures, not an audio-only file"
                )
            stream = container.streams.video[0]
            declared = int(stream.frames or 0)
            stamps = [packet.pts if packet.pts is not None else packet.dts for packet in container.demux(stream) if packet.size]
            codec = stream.codec_context.name
            height, width = stream.codec_context.height, stream.codec_context.width
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            time_base = stream.time_base
    except InvalidInputError:
        raise
    except (av.error.FFmpegError, OSError, EOFError, ValueError) as err:
        raise _damaged(path, err) from None
    if not stamps:
        raise _damaged(path, "its video stream holds no frames")
    if declared > len(stamps):
        raise _damaged(path, f"its header declares {declared} frames but only {len(stamps)} are stored")
    if min(height, width) < 1:
        raise _damaged(path, f"its frames are {width}x{height}")
    fps = float(rate) if rate else 0.0
    if any(stamp is None for stamp in stamps) or time_base is None:
        pts = None
        times = np.arange(len(stamps), dtype=np.float64) / (fps or 1.0)
    else:
        pts = np.sort(np.asarray(stamps, dtype=np.int64))
        times = (pts - pts[0]).astype(np.float64) * float(Fraction(time_base))
    if fps <= 0:
        fps = (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else 1.0
    return VideoInfo(path, int(height), int(width), fps, times, pts, codec)


def resampled_frames(info: VideoInfo, fps: float | None) -> np.ndarray:
    """Which stored frame shows at each tick of a ``fps`` clock: int64 indices into the video's
    frames (repeated when ``fps`` is above the video's rate, skipped when below); all frames when
    ``fps`` is None or 0."""
    if not fps:
        return np.arange(info.num_frames, dtype=np.int64)
    duration = info.times[-1] + 1.0 / info.fps  # the last frame shows for one frame period
    ticks = np.arange(math.floor(duration * fps + 1e-9), dtype=np.float64) / fps
    # the frame on screen at each tick: the last one that started at or before it
    shown = np.searchsorted(info.times, ticks + 1e-9, side="right") - 1
    return np.clip(shown, 0, info.num_frames - 1).astype(np.int64)


def fitted_size(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """The size a ``height`` x ``width`` frame is resized to before its middle is cropped to
    ``target`` (height, width): the smallest size of the same aspect ratio that covers it."""
    scale = max(target[0] / height, target[1] / width)
    return max(target[0], round(height * scale)), max(target[1], round(width * scale))


# 8-bit planar YUV formats, whose first plane holds the gray levels (luma) as they are
_PLANAR_YUV = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p"})
_JPEG_RANGE = 2  # FFmpeg's AVCOL_RANGE_JPEG: luma spans 0-255; otherwise video range, 16-235
# video-range luma to 0-255, rounded as FFmpeg's gray conversion rounds it (equal on every value)
_VIDEO_TO_FULL_RANGE = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def _gray_from_luma(frame: object, size: tuple[int, int] | None) -> np.ndarray | None:
    """A frame's gray levels read straight from its luma plane, resized with a box filter (an
    area average, as when shrinking with FFmpeg's), or None for other pixel formats. Measured 7x
    faster than FFmpeg's conversion per frame, which made decoding slow training on 2 cores."""
    name = frame.format.name
    if name not in _PLANAR_YUV:
        return None
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    full_range = name.startswith("yuvj") or getattr(frame, "color_range", None) == _JPEG_RANGE  # (older PyAV has no color_range)
    gray = luma.copy() if full_range else _VIDEO_TO_FULL_RANGE[luma]
    if size is None:
        return gray
    height, width = fitted_size(frame.height, frame.width, size)
    if (height, width) != gray.shape:
        shrinking = height <= frame.height and width <= frame.width
        gray = np.asarray(Image.fromarray(gray).resize((width, height), Image.BOX if shrinking else Image.BILINEAR))
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    return gray[top : top + size[0], left : left + size[1]]


def convert_frame(frame: object, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """One decoded PyAV frame as uint8 ``(channels, H, W)``: grayscale or RGB, resized to cover
    ``size`` and centre-cropped to it (the stored size when None)."""
    if channels not in CHANNEL_FORMATS:
        raise InvalidInputError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    if channels == 1 and (gray := _gray_from_luma(frame, size)) is not None:
        return np.ascontiguousarray(gray)[None]  # (1, H, W)
    if size is None:
        pixels = frame.to_ndarray(format=CHANNEL_FORMATS[channels])
    else:
        height, width = fitted_size(frame.height, frame.width, size)
        pixels = frame.to_ndarray(format=CHANNEL_FORMATS[channels], width=width, height=height, interpolation=RESIZE_FILTER)
        top, left = (height - size[0]) // 2, (width - size[1]) // 2
        pixels = pixels[top : top + size[0], left : left + size[1]]
    if channels == 1:
        return np.ascontiguousarray(pixels)[None]  # (1, H, W)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (H, W, 3) -> (3, H, W)


class _OpenContainers:
    """The last few containers this process opened, by path (never shared with forked workers)."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._open: OrderedDict[Path, object] = OrderedDict()

    def get(self, path: Path) -> object:
        if self._pid != os.getpid():  # inherited through fork: the parent's handles are not ours
            self._pid, self._open = os.getpid(), OrderedDict()
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        container = import_av().open(str(path))
        container.streams.video[0].thread_count = 1  # workers decode in parallel already
        self._open[path] = container
        while len(self._open) > OPEN_CONTAINERS:
            self._open.popitem(last=False)[1].close()
        return container

    def drop(self, path: Path) -> None:
        container = self._open.pop(path, None)
        if container is not None:
            container.close()


_CONTAINERS = _OpenContainers()


def decode_frames(info: VideoInfo, indices: np.ndarray, *, channels: int = 1, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode the frames ``indices`` (non-decreasing; repeats allowed) of a probed video.

    Seeks to the keyframe at or before the first frame and decodes up to the last one.

    Returns:
        uint8 ``(len(indices), channels, H, W)``.

    Raises:
        InvalidInputError: the file changed or is damaged where these frames are stored.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0 or indices[0] < 0 or indices[-1] >= info.num_frames or np.any(np.diff(indices) < 0):
        raise InvalidInputError(f"{printable(info.path)}: frames {indices.tolist()} are not in order within its {info.num_frames} frames")
    av = import_av()
    wanted = np.unique(indices)
    found: dict[int, np.ndarray] = {}
    try:
        container = _CONTAINERS.get(info.path)
        stream = container.streams.video[0]
        if info.pts is not None:
            container.seek(int(info.pts[wanted[0]]), stream=stream, backward=True, any_frame=False)
            lookup = {int(p): i for i, p in enumerate(info.pts)}
        else:
            container.seek(0)
        position = -1
        for frame in container.decode(stream):
            position += 1
            index = lookup.get(frame.pts, -1) if info.pts is not None else position
            if index in found or index not in wanted:
                if index > wanted[-1]:
                    break
                continue
            found[index] = convert_frame(frame, channels, size)
            if len(found) == len(wanted):
                break
    except InvalidInputError:
        raise
    except (av.error.FFmpegError, OSError, EOFError, ValueError) as err:
        _CONTAINERS.drop(info.path)
        raise _damaged(info.path, err) from None
    if len(found) != len(wanted):
        _CONTAINERS.drop(info.path)
        missing = [int(i) for i in wanted if int(i) not in found]
        raise _damaged(info.path, f"frames {missing[:3]}{'...' if len(missing) > 3 else ''} could not be decoded")
    return np.stack([found[int(i)] for i in indices])
