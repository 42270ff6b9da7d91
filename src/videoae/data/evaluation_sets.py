"""The videos a trained model is scored on: the embedded test set, the standard file, or a user's own.

:func:`evaluation_data` names the data once (``"embedded"``, ``"standard"``, ``"standard-test"`` or
a path) and hands back an :class:`EvaluationData` that loads a block of sequences at a time, so that
10,000 clips of 110 frames (a 100-frame rollout) never sit in memory at once.

- ``embedded``: the first N sequences of the embedded test set (seed
  :data:`~videoae.data.moving_mnist.EMBEDDED_TEST_SEED`, the bundled held-out "test" digits),
  generated with as many frames as asked for: a sequence's first 20 frames are the same bytes as in
  :func:`~videoae.data.moving_mnist.embedded_test_set`, whatever its length. With ``num_digits`` 1 or
  3 the same stream gives the paper's out-of-domain sequences.
- ``standard``: ``mnist_test_seq.npy`` (10,000 sequences of 20 frames), memory-mapped;
  ``standard-test`` its last 1,000 sequences (the seed notebook's test split).
- video files (a folder searched recursively, a glob, a ``.txt`` list, one ``.mp4``..., or a clip
  cache; :mod:`videoae.data.video_clips`): clips of ``num_frames`` that do not overlap, in path
  order, their frames fitted to ``frame_size`` (resized to cover, centre-cropped); each clip's file,
  first frame and time are :meth:`EvaluationData.origin`.
- any other string: a file or folder :func:`~videoae.data.video_io.read_videos` reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from videoae.data.moving_mnist import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_NUM_DIGITS,
    DEFAULT_NUM_FRAMES,
    EMBEDDED_TEST_SEED,
    EMBEDDED_TEST_SIZE,
    generate,
)
from videoae.data.video_clips import is_video_collection
from videoae.errors import InvalidInputError
from videoae.validation import check_int

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
STANDARD = "standard"
STANDARD_TEST = "standard-test"  # the seed notebook's split: the file's last 1,000 sequences
DATA_SOURCES = (EMBEDDED, STANDARD, STANDARD_TEST)
EMBEDDED_DIGITS = "test"  # the bundled digits never used for training
DEFAULT_BLOCK_SEQUENCES = 1000  # sequences loaded at once: 80 MB of uint8 64x64 frames at 20 frames


# The named sets in words, for progress displays and messages; a path is named as given.
SOURCE_NAMES = {"embedded": "the embedded test set", "standard": "the standard test set", "standard-test": "the standard test split"}


def source_name(source: str) -> str:
    """A data source as people read it: ``the embedded test set``, or the path itself."""
    return SOURCE_NAMES.get(source, source)


@dataclass(frozen=True)
class EvaluationData:
    """A named set of videos, loaded a block of sequences at a time.

    Attributes:
        source: ``"embedded"``, ``"standard"``, ``"standard-test"`` or the path read.
        num_sequences: sequences in the set.
        num_frames: frames per sequence (all sequences have the same count).
        frame_size: (height, width) of a frame.
        num_digits: digits per sequence (None for a user's own videos).
        details: more JSON-able facts about the data (seed, layout, original frame size, ...).
    """

    source: str
    num_sequences: int
    num_frames: int
    frame_size: tuple[int, int]
    num_digits: int | None
    details: dict = field(default_factory=dict)
    _load: Callable[[int, int], np.ndarray] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _origin: Callable[[int], object] | None = field(default=None, repr=False, compare=False)

    def origin(self, index: int):
        """Where sequence ``index`` comes from (file, first frame, time in seconds) for clips of
        video files; None for other data, whose sequences are numbered as stored."""
        return None if self._origin is None else self._origin(index)

    def load(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Sequences ``[start, stop)``: uint8 (n, T, H, W) in 0-255 or float32 in [0, 1]."""
        stop = self.num_sequences if stop is None else min(stop, self.num_sequences)
        if not 0 <= start < stop:
            raise InvalidInputError(f"no sequences in [{start}, {stop}) of {self.num_sequences}")
        return self._load(start, stop)

    def blocks(self, block_sequences: int = DEFAULT_BLOCK_SEQUENCES) -> Iterator[np.ndarray]:
        """Every sequence, in order, ``block_sequences`` at a time."""
        block_sequences = check_int("block_sequences", block_sequences, 1)
        from videoae.data.video_io import max_video_values

        # long sequences come fewer at a time, so that a block stays within the video size limit
        per_sequence = self.num_frames * self.frame_size[0] * self.frame_size[1]
        block_sequences = max(1, min(block_sequences, max_video_values() // per_sequence))
        for start in range(0, self.num_sequences, block_sequences):
            yield self.load(start, start + block_sequences)

    def describe(self) -> dict:
        """What the data is, for a JSON record."""
        return {
            "source": self.source,
            "num_sequences": self.num_sequences,
            "num_digits": self.num_digits,
            "frame_size": list(self.frame_size),
            **self.details,
        }


def _frames_to_keep(available: int, num_frames: int | None, allow_fewer: bool, name: str) -> int:
    if num_frames is None or (allow_fewer and num_frames > available):
        return available
    if num_frames > available:
        raise InvalidInputError(f"{name} has {available} frames per sequence but {num_frames} are asked for; ask for at most {available}")
    return num_frames


def _sequences_to_keep(available: int, num_sequences: int | None, name: str) -> int:
    if num_sequences is None:
        return available
    if num_sequences > available:
        raise InvalidInputError(f"{name} holds {available} sequences but {num_sequences} are asked for; ask for at most {available}")
    return num_sequences


def _embedded(num_frames: int | None, num_sequences: int | None, num_digits: int | None) -> EvaluationData:
    frames = DEFAULT_NUM_FRAMES if num_frames is None else num_frames
    digits = DEFAULT_NUM_DIGITS if num_digits is None else check_int("num_digits", num_digits, 1)
    from videoae.data.video_io import check_video_size

    count = EMBEDDED_TEST_SIZE if num_sequences is None else num_sequences
    check_video_size((frames, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE), f"the embedded test set at {frames:,} frames per sequence")

    def load(start: int, stop: int) -> np.ndarray:
        return generate(stop - start, seed=EMBEDDED_TEST_SEED, start=start, digits=EMBEDDED_DIGITS, num_digits=digits, num_frames=frames)

    details = {"num_frames": frames, "seed": EMBEDDED_TEST_SEED, "digits": f"bundled MNIST {EMBEDDED_DIGITS} digits"}
    return EvaluationData(EMBEDDED, count, frames, (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE), digits, details, load)


def _standard(spec: str, num_frames: int | None, num_sequences: int | None, allow_fewer: bool, root: str | Path | None) -> EvaluationData:
    from videoae.data.standard_test_set import load_standard_test_set

    sequences = load_standard_test_set(root, split="test" if spec == STANDARD_TEST else None)  # (N, 20, 64, 64), memory-mapped
    name = "the standard test set" if spec == STANDARD else "the standard test set's last 1,000 sequences"
    frames = _frames_to_keep(sequences.shape[1], num_frames, allow_fewer, name)
    count = _sequences_to_keep(len(sequences), num_sequences, name)
    details = {"num_frames": frames, "file": "mnist_test_seq.npy"}
    if spec == STANDARD_TEST:
        details["subset"] = "the last sequences of the file (the seed notebook's test split)"
    return EvaluationData(
        spec, count, frames, tuple(sequences.shape[2:]), DEFAULT_NUM_DIGITS, details, lambda a, b: np.asarray(sequences[a:b, :frames])
    )


def _user_videos(
    path: str, num_frames: int | None, num_sequences: int | None, allow_fewer: bool, layout: str | None, frame_size: tuple[int, int] | None
) -> EvaluationData:
    from videoae.data.video_io import DEFAULT_LAYOUT, read_videos

    videos = read_videos(path, layout=layout)  # float32 (N, T, H, W)
    layout = layout or DEFAULT_LAYOUT  # read once with the doubt's warning, not twice
    original = tuple(videos.shape[2:])
    if frame_size is not None and tuple(frame_size) != original:
        videos = read_videos(path, layout=layout, frame_size=frame_size)
    frames = _frames_to_keep(videos.shape[1], num_frames, allow_fewer, str(path))
    count = _sequences_to_keep(len(videos), num_sequences, str(path))
    videos = videos[:count, :frames]
    details: dict = {"num_frames": frames, "layout": layout}
    if tuple(videos.shape[2:]) != original:
        details["resized_from"] = list(original)
    return EvaluationData(str(path), count, frames, tuple(videos.shape[2:]), None, details, lambda a, b: videos[a:b])


def _video_clips(
    spec: str, num_frames: int | None, num_sequences: int | None, frame_size: tuple[int, int] | None, channels: int
) -> EvaluationData:
    from videoae.data.video_clips import VideoClips, video_frames

    if frame_size is None or num_frames is None:
        raise InvalidInputError(f"{spec}: clips of video files need a frame size and a number of frames (the model's)")
    frames = video_frames(spec, frame_shape=(channels, *frame_size))
    clips = VideoClips(frames, num_frames=num_frames, clip_stride=num_frames)
    if len(clips) == 0:
        raise InvalidInputError(f"{spec}: no video has the {num_frames} frames a clip needs; give longer videos or fewer frames")
    count = _sequences_to_keep(len(clips), num_sequences, f"{spec} (clips of {num_frames} frames)")
    details = {"num_frames": num_frames, "num_videos": len(clips.videos), "channels": channels, "skipped_short_videos": len(clips.skipped)}

    def load(start: int, stop: int) -> np.ndarray:
        block = clips.load(range(start, stop))  # (n, T, C, H, W)
        return block[:, :, 0] if channels == 1 else block

    return EvaluationData(spec, count, num_frames, tuple(frame_size), None, details, load, clips.origin)


def evaluation_data(
    spec: str = EMBEDDED,
    *,
    num_frames: int | None = None,
    num_sequences: int | None = None,
    num_digits: int | None = None,
    allow_fewer_frames: bool = False,
    layout: str | None = None,
    frame_size: tuple[int, int] | None = None,
    root: str | Path | None = None,
    channels: int = 1,
) -> EvaluationData:
    """Resolve the name of an evaluation set (see the module docstring) to its videos.

    Args:
        spec: ``"embedded"``, ``"standard"``, ``"standard-test"`` or a path to videos.
        num_frames: frames per sequence wanted: generated for ``embedded`` (default 20); the first
            ``num_frames`` of a file (default all of them).
        num_sequences: the first N sequences (default all; 10,000 for ``embedded``).
        num_digits: digits per sequence, for ``embedded`` only (default 2).
        allow_fewer_frames: a file with fewer than ``num_frames`` frames gives all it has instead of
            an error.
        layout: axis order of a stored batch, as :func:`~videoae.data.video_io.read_videos` (None:
            frames first, with a warning where that looks wrong).
        frame_size: (height, width) to resize a file's frames to; None keeps them.
        root: data folder of the standard test set (default ``$VIDEOAE_DATA_DIR`` or ``~/.cache/videoae``).
        channels: 1 (grayscale) or 3 (RGB), for clips of video files.

    Returns:
        The data; nothing but a file's frames is loaded until :meth:`EvaluationData.load`.
    """
    if not isinstance(spec, (str, Path)) or not str(spec):
        raise InvalidInputError(f"data must be one of {', '.join(DATA_SOURCES)} or a path to videos, got {spec!r}")
    if num_frames is not None:
        num_frames = check_int("num_frames", num_frames, 1)
    if num_sequences is not None:
        num_sequences = check_int("num_sequences", num_sequences, 1)
    spec = str(spec)
    if spec == EMBEDDED:
        if frame_size is not None:
            raise InvalidInputError(
                "the embedded test set is generated at 64x64 and cannot be resized; evaluate a model of that frame size"
            )
        data = _embedded(num_frames, num_sequences, num_digits)
    elif num_digits is not None:
        raise InvalidInputError(f"num_digits only applies to the generated embedded test set, not to {spec}")
    elif spec in (STANDARD, STANDARD_TEST):
        if frame_size is not None:
            raise InvalidInputError("the standard test set has 64x64 frames and is not resized; evaluate a model of that frame size")
        data = _standard(spec, num_frames, num_sequences, allow_fewer_frames, root)
    elif is_video_collection(spec):
        data = _video_clips(spec, num_frames, num_sequences, frame_size, channels)
    else:
        data = _user_videos(spec, num_frames, num_sequences, allow_fewer_frames, layout, frame_size)
    logger.debug("evaluation data %s: %d sequences of %d frames", data.source, data.num_sequences, data.num_frames)
    return data
