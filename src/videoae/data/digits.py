"""MNIST digits: the bundled 10,000 real digits, IDX and ``.npy`` files, and the full MNIST download.

Every source returns ``(images, labels)``: ``uint8 (N, 28, 28)`` and ``uint8 (N,)``.
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import numpy as np

from videoae.errors import InvalidInputError

DIGIT_SIZE = 28
# Bundled digits with index < BUNDLED_TRAIN_SIZE form the "train" split, the rest the held-out "test".
BUNDLED_TRAIN_SIZE = 9000
SPLITS = ("train", "test", "all")

_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801


def _read_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise InvalidInputError(f"{path}: damaged gzip file ({err}); delete it and fetch it again") from err
    return raw


def parse_idx(data: bytes, *, source: str = "IDX data") -> np.ndarray:
    """Parse an IDX byte string (images, magic 0x803, or labels, magic 0x801) into a uint8 array."""
    if len(data) < 8:
        raise InvalidInputError(f"{source}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[0:4], "big")
    if magic == _IDX_IMAGES_MAGIC:
        header = 16
        if len(data) < header:
            raise InvalidInputError(f"{source}: truncated IDX header")
        count, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
        shape: tuple[int, ...] = (count, rows, cols)
    elif magic == _IDX_LABELS_MAGIC:
        header = 8
        shape = (int.from_bytes(data[4:8], "big"),)
    else:
        raise InvalidInputError(
            f"{source}: not an IDX file of uint8 images or labels (magic {magic:#010x}, expected 0x00000803 or 0x00000801)"
        )
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise InvalidInputError(
            f"{source}: IDX header promises {expected} bytes of shape {shape} but the file holds {len(data) - header}; "
            "the file is truncated or damaged"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a uint8 array."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    return parse_idx(_read_maybe_gzip(path), source=str(path))


def _bundled_file(name: str) -> Path:
    return Path(str(resources.files("videoae") / "assets" / name))


def _select_split(images: np.ndarray, labels: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split == "train":
        return images[:BUNDLED_TRAIN_SIZE], labels[:BUNDLED_TRAIN_SIZE]
    if split == "test":
        return images[BUNDLED_TRAIN_SIZE:], labels[BUNDLED_TRAIN_SIZE:]
    return images, labels


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def load_bundled_digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 real MNIST digits shipped with videoae (MNIST's test split, CC BY-SA 3.0).

    Args:
        split: ``"train"`` (indices < 9000), ``"test"`` (indices >= 9000, held out for test sets)
            or ``"all"``.
    """
    _check_split(split)
    images = read_idx(_bundled_file("t10k-images-idx3-ubyte.gz"))
    labels = read_idx(_bundled_file("t10k-labels-idx1-ubyte.gz"))
    return _select_split(images, labels, split)
