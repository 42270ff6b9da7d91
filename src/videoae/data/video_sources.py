"""Where the frames of video files come from: finding the files a data PATH names, and decoding
them, resampled and converted to a frame shape (:class:`ContainerFrames`). Clips of them are
:mod:`videoae.data.video_clips`; a cache of their frames is :mod:`videoae.data.clip_cache`."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from videoae.data.video_containers import (
    CONTAINER_SUFFIXES,
    VideoInfo,
    check_utf8_name,
    decode_frames,
    is_container,
    printable,
    probe,
    resampled_frames,
)
from videoae.errors import InvalidInputError

LIST_SUFFIX = ".txt"
GLOB_CHARACTERS = "*?["
SUPPORTED = " ".join(CONTAINER_SUFFIXES)


def videos_below(folder: Path, limit: int | None = None) -> list[Path]:
    """The video files in ``folder`` and below (hidden ones skipped), at most ``limit`` of them."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and is_container(name):
                found.append(Path(root) / name)
                if limit is not None and len(found) >= limit:
                    return found
    return found


def _listed_videos(list_file: Path) -> list[Path]:
    try:
        lines = list_file.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInputError(f"{printable(list_file)}: not UTF-8 text; save the list of videos as UTF-8, one path per line") from None
    videos = []
    for number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry) if Path(entry).is_absolute() else list_file.parent / entry
        if not path.is_file():
            raise InvalidInputError(f"{printable(list_file)} line {number}: {entry}: no such video file; fix the list or restore the file")
        if not is_container(path):
            raise InvalidInputError(f"{printable(list_file)} line {number}: {entry}: not a video file ({SUPPORTED})")
        videos.append(path)
    return videos


def find_videos(spec: str | os.PathLike[str]) -> list[Path]:
    """The video files a data PATH names, sorted by path: a folder (searched recursively, hidden
    files skipped), a glob (``**`` crosses folders), a ``.txt`` list (one path per line, relative to
    the list's folder, ``#`` comments) or one video file.

    Raises:
        InvalidInputError: nothing found, a listed file is missing, or a name is not UTF-8.
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        videos = videos_below(path)
        where = f"{printable(path)}: no video files ({SUPPORTED}) in this folder or below"
    elif path.suffix.lower() == LIST_SUFFIX and path.is_file():
        videos = _listed_videos(path)
        where = f"{printable(path)}: lists no videos"
    elif any(c in text for c in GLOB_CHARACTERS) and not path.exists():
        videos = sorted(Path(p) for p in glob.glob(text, recursive=True) if is_container(p) and Path(p).is_file())
        where = f"{text}: the pattern matches no video files ({SUPPORTED})"
    elif is_container(path):
        videos = [path]
        where = ""
    elif not path.exists():
        raise InvalidInputError(f"{printable(path)}: no such file or folder; check the path")
    else:
        raise InvalidInputError(f"{printable(path)}: not a video file ({SUPPORTED}), a folder, a glob or a .txt list of videos")
    if not videos:
        raise InvalidInputError(f"{where}; give a folder of videos, a glob such as 'clips/**/*.mp4' or a .txt list")
    for video in videos:
        check_utf8_name(video)  # refused by name, never skipped silently
    return sorted(videos, key=lambda p: os.fsencode(p))


# -- where frames come from -------------------------------------------------------------------------

_PROBED: dict[tuple[str, int, int], VideoInfo] = {}


def _probe_once(path: Path) -> VideoInfo:
    """:func:`probe`, remembered per file version: the training and held-out sets probe once."""
    stat = path.stat()
    key = (os.fspath(path.absolute()), stat.st_size, stat.st_mtime_ns)
    if key not in _PROBED:
        _PROBED[key] = probe(path)
    return _PROBED[key]


class ContainerFrames:
    """Frames decoded from video files, resampled to ``fps`` and converted to ``frame_shape``.

    Args:
        paths: the video files.
        frame_shape: (channels, height, width) of the frames handed out; channels 1 or 3.
        fps: resample every video to this rate; 0 or None keeps each video's frames.
    """

    def __init__(self, paths: Sequence[Path], *, frame_shape: tuple[int, int, int], fps: float | None = None) -> None:
        self.frame_shape = check_frame_shape(frame_shape)
        self.fps = float(fps or 0.0)
        self.infos = [_probe_once(Path(p)) for p in paths]
        self.frame_maps = [resampled_frames(info, self.fps) for info in self.infos]
        self.names = [os.fspath(info.path) for info in self.infos]

    def __len__(self) -> int:
        return len(self.infos)

    def num_frames(self, video: int) -> int:
        return len(self.frame_maps[video])

    def frames(self, video: int, indices: np.ndarray) -> np.ndarray:
        """uint8 (n, C, H, W): the frames ``indices`` (after resampling) of ``video``."""
        channels, height, width = self.frame_shape
        return decode_frames(self.infos[video], self.frame_maps[video][indices], channels=channels, size=(height, width))

    def source_frame(self, video: int, index: int) -> tuple[int, float]:
        """The stored frame that frame ``index`` (after resampling) shows, and its time in seconds."""
        stored = int(self.frame_maps[video][index])
        return stored, float(self.infos[video].times[stored])


def check_frame_shape(frame_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(channels, height, width)`` with 1 (grayscale) or 3 (RGB) channels, or InvalidInputError."""
    shape = tuple(int(s) for s in frame_shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise InvalidInputError(f"video frames are read as (channels, height, width) with 1 or 3 channels, got {list(frame_shape)}")
    return shape  # type: ignore[return-value]
