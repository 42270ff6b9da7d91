"""A clip cache: videos decoded once, at a model's frame shape, into uint8 shards that training
memory-maps (``videoae data cache PATH -o CACHE``; then ``--set data=CACHE``).

A cache is a folder::

    CACHE/clips.json          version, frame shape, fps, and per video: file, shard, offset, frames
    CACHE/frames_00000.npy    uint8 (F, C, H, W): the frames of whole videos, one after the other
    CACHE/origins.npy         float64 (total frames, 2): each frame's stored frame number and time (s)

Its frames are exactly what decoding the videos gives (:class:`~videoae.data.video_clips.ContainerFrames`
with the same shape and rate), in the same order, so training from the cache and from the folder
see the same clips. The folder is written beside its destination and renamed into place at the
end: an interrupted run leaves no half cache, and an existing folder is never replaced.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from videoae.errors import InvalidInputError

logger = logging.getLogger(__name__)

CACHE_INDEX = "clips.json"
ORIGINS_FILE = "origins.npy"
CACHE_VERSION = 1
SHARD_BYTES = 2**28  # 256 MiB of frames per shard file
DECODE_CHUNK_FRAMES = 256  # frames decoded and written at once: bounded memory for long videos


def shard_name(index: int) -> str:
    return f"frames_{index:05d}.npy"


def is_clip_cache(folder: Path) -> bool:
    """Whether ``folder`` holds a clip cache (its index file)."""
    return (Path(folder) / CACHE_INDEX).is_file()


def _plan_shards(lengths: Sequence[int], frame_bytes: int, shard_bytes: int) -> list[tuple[int, int]]:
    """(shard, offset) of each video: whole videos fill a shard until it holds ``shard_bytes``."""
    placement, shard, used = [], 0, 0
    for length in lengths:
        if used and (used + length) * frame_bytes > shard_bytes:
            shard, used = shard + 1, 0
        placement.append((shard, used))
        used += length
    return placement


def write_clip_cache(
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    frame_shape: tuple[int, int, int],
    fps: float | None = None,
    shard_bytes: int = SHARD_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> dict:
    """Decode every video of a data PATH once into a clip cache at ``output``.

    Args:
        data: a folder, glob, ``.txt`` list or video file (:func:`~videoae.data.video_clips.find_videos`).
        output: the cache folder to create; it must not exist yet (or be empty).
        frame_shape: (channels, height, width) of the model that will train on it.
        fps: resample every video to this rate (0 or None: each video's own frames).
        shard_bytes: the most bytes of frames per shard file (a video is never split).
        on_progress: called with the number of frames just written.

    Returns:
        The cache's index (what ``clips.json`` holds).
    """
    from videoae.data.video_sources import ContainerFrames, check_frame_shape, find_videos

    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InvalidInputError(f"-o {output}: already exists; give a new folder for the cache (an existing one is never replaced)")
    frames = ContainerFrames(find_videos(data), frame_shape=check_frame_shape(frame_shape), fps=fps)
    lengths = [frames.num_frames(v) for v in range(len(frames))]
    frame_bytes = math.prod(frames.frame_shape)
    placement = _plan_shards(lengths, frame_bytes, shard_bytes)
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.with_name(f".{output.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    scratch.mkdir()
    try:
        origins = np.lib.format.open_memmap(scratch / ORIGINS_FILE, mode="w+", dtype=np.float64, shape=(sum(lengths), 2))
        shards: dict[int, np.memmap] = {}
        for shard in sorted({s for s, _ in placement}):
            size = sum(n for n, (s, _) in zip(lengths, placement) if s == shard)
            shards[shard] = np.lib.format.open_memmap(
                scratch / shard_name(shard), mode="w+", dtype=np.uint8, shape=(size, *frames.frame_shape)
            )
        first = 0
        for video, (length, (shard, offset)) in enumerate(zip(lengths, placement)):
            for start in range(0, length, DECODE_CHUNK_FRAMES):
                stop = min(length, start + DECODE_CHUNK_FRAMES)
                shards[shard][offset + start : offset + stop] = frames.frames(video, np.arange(start, stop))
                if on_progress is not None:
                    on_progress(stop - start)
            origins[first : first + length] = [frames.source_frame(video, i) for i in range(length)]
            first += length
        for array in (*shards.values(), origins):
            array.flush()
        del shards, origins
        index = {
            "version": CACHE_VERSION,
            "frame_shape": list(frames.frame_shape),
            "fps": frames.fps,
            "videos": [
                {"file": name, "shard": shard, "offset": offset, "num_frames": length}
                for name, length, (shard, offset) in zip(frames.names, lengths, placement)
            ],
        }
        (scratch / CACHE_INDEX).write_text(json.dumps(index, indent=1))
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(scratch, output)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    logger.info("cached %d frames of %d videos in %s", sum(lengths), len(lengths), output)
    return index


class ClipCache:
    """The frames of a clip cache, memory-mapped; the same interface as
    :class:`~videoae.data.video_clips.ContainerFrames`.

    Args:
        path: the cache folder.
        frame_shape: (channels, height, width) the caller needs; must be the cache's.
        fps: the frame rate the caller needs (0 or None: the videos' own); must be the cache's.
    """

    def __init__(self, path: str | os.PathLike[str], *, frame_shape: tuple[int, int, int], fps: float | None = None) -> None:
        self.path = Path(path)
        try:
            index = json.loads((self.path / CACHE_INDEX).read_text(encoding="utf-8"))
            self.frame_shape = tuple(int(s) for s in index["frame_shape"])
            self.fps = float(index["fps"])
            videos = index["videos"]
            self.names = [str(v["file"]) for v in videos]
            self._placement = [(int(v["shard"]), int(v["offset"]), int(v["num_frames"])) for v in videos]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InvalidInputError(f"{self.path}: damaged clip cache ({err}); make it again with videoae data cache") from None
        wanted_fps = float(fps or 0.0)
        if tuple(frame_shape) != self.frame_shape or wanted_fps != self.fps:
            raise InvalidInputError(
                f"{self.path}: cached frames are {list(self.frame_shape)} at fps {self.fps:g} (0: as recorded) but "
                f"{list(frame_shape)} at fps {wanted_fps:g} are needed; make a cache for them: videoae data cache VIDEOS -o NEW_CACHE "
                f"--channels {frame_shape[0]} --size {frame_shape[1]} {frame_shape[2]}" + (f" --fps {wanted_fps:g}" if wanted_fps else "")
            )
        firsts = np.cumsum([0] + [n for _, _, n in self._placement])
        self._first_origin = firsts[:-1]
        self._mapped: dict[str, np.ndarray] = {}
        for shard in sorted({s for s, _, _ in self._placement}):
            self._array(shard_name(shard))  # a missing or damaged shard fails here, not in a worker

    def _array(self, name: str) -> np.ndarray:
        if name not in self._mapped:
            try:
                self._mapped[name] = np.load(self.path / name, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise InvalidInputError(
                    f"{self.path / name}: missing or damaged ({err}); make the cache again with videoae data cache"
                ) from None
        return self._mapped[name]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_mapped"] = {}  # workers map the files themselves
        return state

    def __len__(self) -> int:
        return len(self._placement)

    def num_frames(self, video: int) -> int:
        return self._placement[video][2]

    def frames(self, video: int, indices: np.ndarray) -> np.ndarray:
        """uint8 (n, C, H, W): frames ``indices`` of ``video``, read from the memory map."""
        shard, offset, _ = self._placement[video]
        return np.array(self._array(shard_name(shard))[offset + np.asarray(indices)])

    def source_frame(self, video: int, index: int) -> tuple[int, float]:
        stored, seconds = self._array(ORIGINS_FILE)[self._first_origin[video] + index]
        return int(stored), float(seconds)
