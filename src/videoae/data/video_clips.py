"""Folders of video files as clips: the training data of ``--set data=PATH`` and what eval and
features score.

A data PATH names videos in one of these ways (:func:`find_videos`):

- a folder, searched recursively for ``.mp4 .mkv .webm .avi .mov`` files (hidden ones skipped);
- a glob pattern (``"clips/**/*.mp4"``, ``**`` crossing folders);
- a ``.txt`` file listing one video per line (relative to the list's folder; ``#`` comments);
- one video file;
- a clip cache written by ``videoae data cache`` (:mod:`videoae.data.clip_cache`).

Videos are ordered by path, and a clip is named by (video, first frame): clip ``i`` is the same
frames whatever the number of workers or processes, so a resumed run sees exactly the data it
would have seen. A clip is ``num_frames`` frames ``frame_step`` apart, counted after the optional
resampling to ``fps`` (:func:`~videoae.data.video_containers.resampled_frames`); its frames are
converted to ``frame_shape`` (grayscale or RGB by its channels; resized to cover, centre-cropped).
Videos too short for one clip are skipped, and their count logged once. Decoding happens where the
clip is asked for, i.e. in the DataLoader's worker processes, seeking to the clip.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from videoae.data.clip_cache import ClipCache, is_clip_cache
from videoae.data.video_containers import is_container, printable
from videoae.data.video_sources import GLOB_CHARACTERS, LIST_SUFFIX, ContainerFrames, check_frame_shape, find_videos, videos_below
from videoae.errors import InvalidInputError
from videoae.validation import check_int

logger = logging.getLogger(__name__)

# The held-out videos are drawn by this fixed stream, not the run's seed: runs with different
# seeds are then scored on the same videos.
HELDOUT_SEED = 20150216
SKIPPED_NAMES_SHOWN = 3


def is_video_collection(spec: str | os.PathLike[str]) -> bool:
    """Whether a data PATH names video files or a clip cache (see the module docstring), rather than
    an array file, a GIF or a folder of frames (:func:`~videoae.data.video_io.read_videos`)."""
    text = os.fspath(spec)
    path = Path(text)
    if any(c in text for c in GLOB_CHARACTERS) and not path.exists():
        return True
    if path.is_dir():
        return is_clip_cache(path) or any(videos_below(path, limit=1))
    return path.suffix.lower() == LIST_SUFFIX or is_container(path)


def video_frames(spec: str | os.PathLike[str], *, frame_shape: Sequence[int], fps: float | None = None):
    """The frames a data PATH names: a clip cache as it is stored, or its videos decoded."""
    if Path(spec).is_dir() and is_clip_cache(Path(spec)):
        return ClipCache(spec, frame_shape=check_frame_shape(frame_shape), fps=fps)
    return ContainerFrames(find_videos(spec), frame_shape=check_frame_shape(frame_shape), fps=fps)


# -- clips ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipOrigin:
    """Where a clip comes from: its file, its first frame in the file and that frame's time."""

    file: str
    first_frame: int
    time_s: float


class VideoClips(Dataset):
    """Clips of ``num_frames`` frames from some of the videos of a frame source, indexed by (video,
    first frame) in path order; items are uint8 ``(T, C, H, W)`` tensors.

    Args:
        frames: a :class:`ContainerFrames` or :class:`~videoae.data.clip_cache.ClipCache`.
        videos: which of its videos to cut (default all), e.g. the training side of a split.
        num_frames: frames per clip.
        frame_step: take every ``frame_step``-th frame.
        clip_stride: first frames of consecutive clips of a video lie this far apart (1: every frame
            starts a clip, for training; ``num_frames * frame_step``: clips that do not overlap).
    """

    def __init__(self, frames, videos: Sequence[int] | None = None, *, num_frames: int, frame_step: int = 1, clip_stride: int = 1) -> None:
        self.source = frames
        self.num_frames = check_int("num_frames", num_frames, 1)
        self.frame_step = check_int("frame_step", frame_step, 1)
        self.clip_stride = check_int("clip_stride", clip_stride, 1)
        self.span = (self.num_frames - 1) * self.frame_step + 1  # frames a clip covers
        chosen = range(len(frames)) if videos is None else videos
        self.videos = [v for v in chosen if frames.num_frames(v) >= self.span]
        self.skipped = [frames.names[v] for v in chosen if frames.num_frames(v) < self.span]
        counts = [(frames.num_frames(v) - self.span) // self.clip_stride + 1 for v in self.videos]
        self._starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(video of the frame source, first frame) of clip ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"clip {index} out of range for {len(self)} clips")
        slot = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self.videos[slot], int(index - self._starts[slot]) * self.clip_stride

    def clip(self, index: int) -> np.ndarray:
        """uint8 (T, C, H, W) frames of clip ``index``."""
        video, first = self.locate(index)
        return self.source.frames(video, np.arange(first, first + self.span, self.frame_step))

    def origin(self, index: int) -> ClipOrigin:
        video, first = self.locate(index)
        stored, seconds = self.source.source_frame(video, first)
        return ClipOrigin(self.source.names[video], stored, seconds)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.clip(int(index)))

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        # in order of (video, first frame), so clips of one video reuse its open container
        order = sorted(range(len(indices)), key=lambda k: self.locate(int(indices[k])))
        clips: list[torch.Tensor | None] = [None] * len(indices)
        for k in order:
            clips[k] = self[int(indices[k])]
        return clips  # type: ignore[return-value]

    def load(self, indices: Sequence[int]) -> np.ndarray:
        """uint8 (n, T, C, H, W) of the clips ``indices``, in the process that asks."""
        return (
            np.stack([self.clip(int(i)) for i in indices])
            if len(indices)
            else np.empty((0, self.num_frames, *self.source.frame_shape), np.uint8)
        )

    def describe_skipped(self) -> str | None:
        """One line on the videos too short for a clip, or None if there are none."""
        if not self.skipped:
            return None
        names = ", ".join(Path(n).name for n in self.skipped[:SKIPPED_NAMES_SHOWN])
        more = f" and {len(self.skipped) - SKIPPED_NAMES_SHOWN} more" if len(self.skipped) > SKIPPED_NAMES_SHOWN else ""
        step = f" ({self.num_frames} frames {self.frame_step} apart)" if self.frame_step > 1 else ""
        return f"skipped {len(self.skipped)} video(s) shorter than a clip of {self.span} frames{step}: {names}{more}"


def heldout_split(num_videos: int, fraction: float, source: str) -> tuple[list[int], list[int]]:
    """(training, held-out) video indices: ``fraction`` of the videos (at least one) held out, drawn
    by a fixed stream so that every run on the same videos holds out the same ones."""
    if not 0 < fraction < 1:
        raise InvalidInputError(f"eval_fraction must be between 0 and 1 (exclusive), got {fraction}")
    if num_videos < 2:
        raise InvalidInputError(
            f"{source} holds {num_videos} video: evaluating on held-out videos needs at least 2; add videos or give eval_data=PATH"
        )
    count = min(num_videos - 1, max(1, round(fraction * num_videos)))
    order = np.random.default_rng(HELDOUT_SEED).permutation(num_videos)
    heldout = sorted(int(v) for v in order[:count])
    return [v for v in range(num_videos) if v not in set(heldout)], heldout


@dataclass(frozen=True)
class ClipOptions:
    """How clips are cut from videos for a run (the train config's fields of the same names)."""

    frame_shape: tuple[int, int, int]
    num_frames: int
    frame_step: int = 1
    fps: float = 0.0
    eval_data: str = ""
    eval_fraction: float = 0.1


def training_clips(data: str, options: ClipOptions, *, heldout: bool = False) -> VideoClips:
    """The training clips of data PATH (every frame starts one), or with ``heldout`` the clips that
    evaluation during training scores (not overlapping): from ``options.eval_data``, else from the
    ``options.eval_fraction`` of the videos that training never sees.

    Raises:
        InvalidInputError: no videos, every video too short, fewer than 2 videos to split, or a video
            both in the training and the evaluation data.
    """
    frames = video_frames(data, frame_shape=options.frame_shape, fps=options.fps)
    if options.eval_data:
        if heldout:
            frames = video_frames(options.eval_data, frame_shape=options.frame_shape, fps=options.fps)
        else:
            shared = set(frames.names) & set(video_frames(options.eval_data, frame_shape=options.frame_shape, fps=options.fps).names)
            if shared:
                raise InvalidInputError(
                    f"{printable(sorted(shared)[0])} is both in data and eval_data ({len(shared)} such video(s)); "
                    "held-out videos must not be trained on: give eval_data other videos"
                )
        videos = None
    else:
        train_videos, heldout_videos = heldout_split(len(frames), options.eval_fraction, data)
        videos = heldout_videos if heldout else train_videos
    stride = (options.num_frames - 1) * options.frame_step + 1 if heldout else 1
    clips = VideoClips(frames, videos, num_frames=options.num_frames, frame_step=options.frame_step, clip_stride=stride)
    what = "held-out" if heldout else "training"
    if note := clips.describe_skipped():
        logger.warning("%s %s videos: %s", data if not (heldout and options.eval_data) else options.eval_data, what, note)
    if len(clips) == 0:
        raise InvalidInputError(
            f"no {what} video of {data} is long enough for a clip of {clips.span} frames; "
            "use longer videos, fewer frames per clip or a smaller frame_step"
        )
    logger.info("%s clips: %d from %d videos", what, len(clips), len(clips.videos))
    return clips
