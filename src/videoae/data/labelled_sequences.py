"""Moving MNIST sequences with labels: which digit classes each sequence shows.

The sequences are drawn as :func:`~videoae.data.moving_mnist.generate` draws them, and a sequence's
labels come from the bundled labels of the digits it was drawn from: a multi-hot (N, 10) target,
1 for every class that at least one of its digits shows. The default digits are the bundled
held-out "test" digits, never seen by a model trained on the "train" split, so a classifier is
scored on digit shapes its encoder did not learn from.
"""

from __future__ import annotations

import numpy as np

from videoae.data.digits import SPLITS, UNKNOWN_LABEL, load_digits
from videoae.data.moving_mnist import DEFAULT_NUM_DIGITS, DEFAULT_NUM_FRAMES, DEFAULT_SPEED, draw_sequence_params, generate_indices
from videoae.errors import InvalidInputError
from videoae.validation import check_int

NUM_CLASSES = 10  # MNIST's digit classes
LABELLED_DIGITS = "test"  # the bundled digits that no shipped model or default training run sees


def multi_hot(classes: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer classes (N, K) (several per row, repeats allowed) -> float32 multi-hot (N, num_classes)."""
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim == 1:
        classes = classes[:, None]
    targets = np.zeros((len(classes), num_classes), dtype=np.float32)
    np.put_along_axis(targets, classes, 1.0, axis=1)
    return targets


def digit_labels(source: str) -> np.ndarray:
    """The class of every digit the generator draws from, for a digit source as the command line
    names it (:func:`~videoae.data.digits.generator_digits`): a bundled split, ``"mnist"`` or a file.

    Raises:
        InvalidInputError: a digit file without labels (or with labels outside 0..9).
    """
    if source in SPLITS:
        labels = load_digits("bundled", source)[1]
    elif source == "mnist":
        labels = load_digits("mnist", "train")[1]
    else:
        labels = load_digits(source, "all")[1]
    if (labels == UNKNOWN_LABEL).any():
        raise InvalidInputError(f"digits {source}: the file carries no labels; use bundled digits, mnist, or digits with labels")
    if labels.max(initial=0) >= NUM_CLASSES:
        raise InvalidInputError(f"digits {source}: labels must be digit classes 0..{NUM_CLASSES - 1}, found {int(labels.max())}")
    return labels


def sequence_labels(
    indices: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    num_digits: int = DEFAULT_NUM_DIGITS,
    speed: tuple[float, float] = DEFAULT_SPEED,
) -> np.ndarray:
    """Which classes the generated sequences ``indices`` of stream ``seed`` show: float32 multi-hot (N, 10).

    Args:
        indices: the sequences' indices in the stream.
        labels: the class of each digit the sequences were drawn from (:func:`digit_labels`).
        seed, num_digits, speed: as the sequences were generated with.
    """
    # the draws the generator makes for these sequences, so the digits are the ones drawn
    params = draw_sequence_params(
        np.asarray(indices, dtype=np.uint64), seed=seed, num_digits=num_digits, speed=speed, num_available_digits=len(labels)
    )
    return multi_hot(labels[params.digit_index], NUM_CLASSES)


def labelled_moving_mnist(
    num_sequences: int,
    *,
    seed: int,
    start: int = 0,
    num_frames: int = DEFAULT_NUM_FRAMES,
    num_digits: int = DEFAULT_NUM_DIGITS,
    split: str = LABELLED_DIGITS,
) -> tuple[np.ndarray, np.ndarray]:
    """Sequences ``start .. start + num_sequences - 1`` of stream ``seed`` and the digit classes each shows.

    Args:
        num_sequences: how many sequences.
        seed: the stream; give a training set and a test set different seeds so they share no sequence.
        start: index of the first sequence in the stream.
        num_frames: frames per sequence.
        num_digits: digits per sequence.
        split: bundled digits to draw from: ``"test"`` (held out from training, the default),
            ``"train"`` or ``"all"``.

    Returns:
        uint8 videos (N, num_frames, 64, 64) and float32 multi-hot targets (N, 10).
    """
    num_sequences = check_int("num_sequences", num_sequences, 1)
    start = check_int("start", start, 0)
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    indices = np.arange(start, start + num_sequences, dtype=np.uint64)
    videos = generate_indices(indices, seed=seed, num_frames=num_frames, num_digits=num_digits, digits=split)
    return videos, sequence_labels(indices, digit_labels(split), seed=seed, num_digits=num_digits)
