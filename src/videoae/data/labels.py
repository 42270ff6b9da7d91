"""Labels of videos, for a classifier: read from a file or given as an array, checked with one-line errors.

Two kinds of task, told apart by the labels' shape:

- ``single_label``: one class per video, integer classes (N,) in ``0 .. K-1`` (softmax,
  cross-entropy, scored by accuracy): what a user's own labelled videos usually are.
- ``multi_label``: several classes per video, multi-hot 0/1 (N, K) (one sigmoid per class, binary
  cross-entropy, scored by mean average precision): which digit classes a Moving MNIST sequence shows.

Files: ``.npy`` with (N,) integer classes or (N, K) multi-hot 0/1 values; ``.csv`` / ``.txt`` with one
label per line, an integer class or a class name (names are numbered in sorted order). Row i
labels video i.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videoae.errors import InvalidInputError
from videoae.validation import quote

logger = logging.getLogger(__name__)

SINGLE_LABEL, MULTI_LABEL = "single_label", "multi_label"
TASKS = (SINGLE_LABEL, MULTI_LABEL)
LABEL_SUFFIXES = (".npy", ".csv", ".txt")
# A class index past this is a typo or the wrong file, and would size a head (and a one-hot) by it.
MAX_CLASSES = 10_000
MAX_LABEL_FILE_BYTES = 2**28  # a text file of labels is a few bytes a video
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class Labels:
    """Checked labels of N videos.

    Attributes:
        targets: int64 (N,) classes for ``single_label``, float32 (N, K) 0/1 for ``multi_label``.
        task: ``"single_label"`` or ``"multi_label"``.
        num_classes: K.
        class_names: the names of classes 0 .. K-1 where the file gave names, else None.
    """

    targets: np.ndarray
    task: str
    num_classes: int
    class_names: tuple[str, ...] | None = None


def check_labels(targets: np.ndarray, num_videos: int, source: str = "labels", *, num_classes: int | None = None) -> Labels:
    """Check labels given as an array and say what task they make.

    Args:
        targets: (N,) integer classes, or (N, K) multi-hot 0/1 values (any numeric or bool dtype).
        num_videos: N, the number of videos they label.
        source: how messages name the labels (a file name).
        num_classes: K for integer classes (default: the largest class + 1).

    Returns:
        The labels, as int64 classes or float32 multi-hot.

    Raises:
        InvalidInputError: one line saying what is wrong and what to do.
    """
    array = np.asarray(targets)
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"{source}: labels must be numbers, got an array of {array.dtype}; give integer classes or 0/1 values")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # a column of classes
    if array.ndim not in (1, 2):
        raise InvalidInputError(f"{source}: labels must be (N,) classes or (N, K) multi-hot 0/1 values, got shape {array.shape}")
    if len(array) != num_videos:
        raise InvalidInputError(
            f"{source}: holds {len(array):,} labels but there are {num_videos:,} videos; give one label per video, in the videos' order"
        )
    if array.dtype.kind == "f":
        for bad, what in ((~np.isfinite(array), "NaN or infinite"), (array != np.round(array), "not a whole number")):
            if bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InvalidInputError(
                    f"{source}: label {_position(where)} is {quote(array[where].item())}, {what}; give integer classes or 0/1 values"
                )
    if array.ndim == 2:
        return _multi_hot(array, source)
    return _classes(array, source, num_classes)


def _multi_hot(array: np.ndarray, source: str) -> Labels:
    if array.shape[1] > MAX_CLASSES:
        raise InvalidInputError(f"{source}: {array.shape[1]:,} classes (columns); at most {MAX_CLASSES:,} are supported")
    outside = (array != 0) & (array != 1)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        raise InvalidInputError(
            f"{source}: multi-hot labels must be 0 or 1, but row {row} column {column} is {quote(array[row, column].tolist())}; "
            "for one class per video save integer classes of shape (N,)"
        )
    present = array.any(axis=0)
    if present.sum() < 1:
        raise InvalidInputError(f"{source}: no video has any class (every value is 0); give at least one positive label")
    if array.all():
        raise InvalidInputError(f"{source}: every video has every class (every value is 1): nothing to learn; check the file")
    return Labels(array.astype(np.float32), MULTI_LABEL, int(array.shape[1]))


def _classes(array: np.ndarray, source: str, num_classes: int | None) -> Labels:
    if (array < 0).any():
        row = int(np.argmax(array < 0))
        raise InvalidInputError(f"{source}: label {row} is {quote(array[row].item())}, a negative class; number classes 0 .. K-1")
    limit = MAX_CLASSES if num_classes is None else num_classes
    if (array >= limit).any():
        row = int(np.argmax(array >= limit))
        raise InvalidInputError(
            f"{source}: label {row} is class {quote(array[row].item())}; classes must be below {limit:,}: number them 0 .. K-1"
        )
    classes = array.astype(np.int64)
    if len(np.unique(classes)) < 2:
        raise InvalidInputError(f"{source}: every video is class {classes[0]}; a classifier needs videos of at least two classes")
    return Labels(classes, SINGLE_LABEL, int(classes.max()) + 1 if num_classes is None else num_classes)


def _position(where: tuple[int, ...]) -> str:
    return str(where[0]) if len(where) == 1 else f"{where[0]} (column {where[1]})"


def read_labels(path: str | Path, num_videos: int) -> Labels:
    """Read and check the labels of ``num_videos`` videos from a ``.npy``, ``.csv`` or ``.txt`` file.

    Raises:
        InvalidInputError: the file is missing, unreadable or its labels are wrong (one line each).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LABEL_SUFFIXES:
        raise InvalidInputError(f"labels {path}: give a {', '.join(LABEL_SUFFIXES)} file (one label per video)")
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise InvalidInputError(f"labels {path} {what}; give the labels file")
    if suffix == ".npy":
        with open(path, "rb") as handle:
            if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
                raise InvalidInputError(f"labels {path}: not a NumPy .npy file; save the labels with numpy.save")
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            reason = "it holds Python objects, which are never unpickled" if "pickle" in str(err).lower() else str(err).splitlines()[0]
            raise InvalidInputError(f"labels {path}: cannot read this NumPy file ({reason}); save the labels with numpy.save") from None
        return check_labels(array, num_videos, f"labels {path}")
    return _read_text_labels(path, num_videos)


def _read_text_labels(path: Path, num_videos: int) -> Labels:
    if path.stat().st_size > MAX_LABEL_FILE_BYTES:
        raise InvalidInputError(f"labels {path}: {path.stat().st_size:,} bytes is too large for a file of one label per line")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as err:
        raise InvalidInputError(f"labels {path}: cannot read it as UTF-8 text ({err}); save one label per line as plain text") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # a final newline, or a few
    if not lines:
        raise InvalidInputError(f"labels {path} is empty; give one label per line, one line per video")
    values = [line.strip() for line in lines]
    for number, value in enumerate(values, start=1):
        if not value:
            raise InvalidInputError(f"labels {path}: line {number} is empty; give one label per line, one line per video")
        if "," in value or ";" in value or "\t" in value:
            raise InvalidInputError(
                f"labels {path}: line {number} holds several values ({quote(value)}); give one label per line "
                "(for several classes per video, save a multi-hot (N, K) .npy)"
            )
    numeric = [_as_number(value) for value in values]
    if all(n is not None for n in numeric):
        return check_labels(np.array(numeric, dtype=np.float64), num_videos, f"labels {path}")
    if any(n is not None for n in numeric):
        first_number = next(i for i, n in enumerate(numeric) if n is not None)
        first_name = next(i for i, n in enumerate(numeric) if n is None)
        raise InvalidInputError(
            f"labels {path}: line {first_name + 1} is the name {quote(values[first_name])} but line {first_number + 1} is the "
            f"number {values[first_number]}; give classes all as integers or all as names (remove a header line, if any)"
        )
    names = tuple(sorted(set(values)))
    index = {name: i for i, name in enumerate(names)}
    labels = check_labels(np.array([index[v] for v in values], dtype=np.int64), num_videos, f"labels {path}")
    return Labels(labels.targets, labels.task, len(names), names)


def _as_number(value: str) -> float | None:
    """The number a label spells (``3``, or ``2.5`` and ``nan``, refused later), or None for a class name."""
    try:
        return float(value)  # an integer too long for a float becomes inf, refused as such
    except ValueError:
        return None
