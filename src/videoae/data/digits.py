"""MNIST digits: the bundled 10,000 real digits, IDX and ``.npy`` files, and the full MNIST download.

Every source returns ``(images, labels)``: ``uint8 (N, 28, 28)`` and ``uint8 (N,)``.
"""

from __future__ import annotations

import gzip
import logging
import re
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from videoae.data.download import default_data_dir, download_file
from videoae.errors import DataNotFoundError, InvalidInputError

logger = logging.getLogger(__name__)

DIGIT_SIZE = 28
# Bundled digits with index < BUNDLED_TRAIN_SIZE form the "train" split, the rest the held-out "test".
BUNDLED_TRAIN_SIZE = 9000
SPLITS = ("train", "test", "all")
SOURCE_NAMES = ("bundled", "mnist")
# Label given to digits read from a file that carries no labels.
UNKNOWN_LABEL = 255
# A digit file split by "train"/"test" holds out its last tenth, like the bundled 9000/1000.
FILE_TEST_FRACTION = 0.1

# Full MNIST, stored as torchvision does (ROOT/MNIST/raw/) so the two can share a download.
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_SPLIT_PREFIXES = {"train": ("train",), "test": ("t10k",), "all": ("train", "t10k")}

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


def mnist_raw_dir(root: str | Path | None = None) -> Path:
    """The folder holding the four MNIST IDX files: ``ROOT/MNIST/raw`` (torchvision's layout).

    Args:
        root: Data folder; defaults to :func:`videoae.data.download.default_data_dir`.
    """
    base = default_data_dir() if root is None else Path(root).expanduser()
    return base / "MNIST" / "raw"


def _mnist_file_names(split: str) -> list[str]:
    return [name for name in MNIST_FILES if name.split("-", 1)[0] in MNIST_SPLIT_PREFIXES[split]]


def download_mnist(root: str | Path | None = None, *, split: str = "all", progress: bool = False) -> Path:
    """Fetch the MNIST IDX files of ``split`` into ``ROOT/MNIST/raw`` (md5-checked, idempotent).

    Args:
        root: Data folder; defaults to :func:`videoae.data.download.default_data_dir`.
        split: ``"train"``, ``"test"`` or ``"all"`` (both).
        progress: Show progress bars.

    Returns:
        The folder holding the files.
    """
    _check_split(split)
    raw_dir = mnist_raw_dir(root)
    for name in _mnist_file_names(split):
        download_file([mirror + name for mirror in MNIST_MIRRORS], raw_dir / name, MNIST_FILES[name], progress=progress)
    return raw_dir


def _mnist_file(raw_dir: Path, name: str) -> Path | None:
    # torchvision also keeps the decompressed copy; either one will do.
    for candidate in (raw_dir / name, raw_dir / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _load_mnist(split: str, root: str | Path | None, download: bool) -> tuple[np.ndarray, np.ndarray]:
    raw_dir = mnist_raw_dir(root)
    names = _mnist_file_names(split)
    missing = [name for name in names if _mnist_file(raw_dir, name) is None]
    if missing and download:
        # Files already present are not re-hashed: a recompressed copy of the same IDX data is
        # fine, and parse_idx still rejects truncated or damaged ones.
        for name in missing:
            download_file([mirror + name for mirror in MNIST_MIRRORS], raw_dir / name, MNIST_FILES[name])
    elif missing:
        raise DataNotFoundError(
            f"MNIST files {', '.join(missing)} not found in {raw_dir}. You can use download=True "
            "(or `videoae data download mnist`) to download them, or put them in that folder."
        )
    parts = []
    for prefix in MNIST_SPLIT_PREFIXES[split]:
        images_path = _mnist_file(raw_dir, f"{prefix}-images-idx3-ubyte.gz")
        labels_path = _mnist_file(raw_dir, f"{prefix}-labels-idx1-ubyte.gz")
        assert images_path is not None and labels_path is not None  # ensured above
        images = _validate_images(read_idx(images_path), str(images_path))
        parts.append((images, _validate_labels(read_idx(labels_path), len(images), str(labels_path))))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _validate_images(images: np.ndarray, source: str) -> np.ndarray:
    if images.dtype != np.uint8:
        raise InvalidInputError(
            f"{source}: digits have dtype {images.dtype}, expected uint8 in 0..255; "
            "convert them first, e.g. (x * 255).round().astype(np.uint8) for values in [0, 1]"
        )
    if images.ndim != 3:
        raise InvalidInputError(f"{source}: digits have shape {images.shape}, expected (N, H, W)")
    count, rows, cols = images.shape
    if count == 0:
        raise InvalidInputError(f"{source}: holds no digits; give a file with at least one")
    # any size: whether the digits fit is the generator's check, against the canvas it is given
    if min(rows, cols) < 1:
        raise InvalidInputError(f"{source}: digits are {rows}x{cols}, which holds no pixels (MNIST digits are {DIGIT_SIZE}x{DIGIT_SIZE})")
    return images


def _validate_labels(labels: np.ndarray, count: int, source: str) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count:
        raise InvalidInputError(f"{source}: {labels.shape} labels for {count} digits; give one label per digit")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(f"{source}: labels have dtype {labels.dtype}; give integer labels 0..255")
    if count and (labels.min() < 0 or labels.max() > np.iinfo(np.uint8).max):
        raise InvalidInputError(f"{source}: labels outside 0..255; give integer labels 0..255")
    return labels.astype(np.uint8, copy=False)


def _sibling_labels_file(images_path: Path) -> Path | None:
    labels_name, replaced = re.subn(r"images([.-])idx3", r"labels\1idx1", images_path.name)
    if not replaced:
        return None
    stem = labels_name.removesuffix(".gz")
    for candidate in (labels_name, stem + ".gz", stem):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    return None


def _load_idx_digits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(path)
    if images.ndim == 1:
        raise InvalidInputError(f"{path}: is an IDX labels file; pass the matching images file instead")
    images = _validate_images(images, str(path))
    labels_path = _sibling_labels_file(path)
    if labels_path is None:
        logger.info("%s: no labels file beside it; labels set to %d", path, UNKNOWN_LABEL)
        return images, np.full(len(images), UNKNOWN_LABEL, dtype=np.uint8)
    return images, _validate_labels(read_idx(labels_path), len(images), str(labels_path))


def _load_numpy_digits(path: Path, is_npz: bool) -> tuple[np.ndarray, np.ndarray]:
    try:
        if is_npz:
            with np.load(path, allow_pickle=False) as archive:
                if "images" not in archive.files:
                    raise InvalidInputError(
                        f"{path}: no 'images' array (it has {', '.join(archive.files) or 'none'}); "
                        "save digits with np.savez(path, images=..., labels=...)"
                    )
                images = archive["images"]
                labels = archive["labels"] if "labels" in archive.files else None
        else:
            images, labels = np.load(path, allow_pickle=False), None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, InvalidInputError):
            raise
        kind = ".npz" if is_npz else ".npy"
        raise InvalidInputError(f"{path}: damaged or unreadable {kind} file ({err}); save it again") from err
    images = _validate_images(images, str(path))
    if labels is None:
        return images, np.full(len(images), UNKNOWN_LABEL, dtype=np.uint8)
    return images, _validate_labels(labels, len(images), str(path))


def _split_file_digits(images: np.ndarray, labels: np.ndarray, split: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if split == "all":
        return images, labels
    num_test = max(1, round(len(images) * FILE_TEST_FRACTION))
    if len(images) - num_test < 1:
        raise InvalidInputError(f"{path}: {len(images)} digit(s) cannot be split into train and test; use split='all'")
    if split == "train":
        return images[:-num_test], labels[:-num_test]
    return images[-num_test:], labels[-num_test:]


def _load_digit_file(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise InvalidInputError(
            f"{path}: no such file; the digit source must be one of {', '.join(SOURCE_NAMES)} or a path to an IDX, .npy or .npz file"
        )
    if not path.is_file():
        raise InvalidInputError(f"{path}: not a file; give an IDX, .npy or .npz file of digits")
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\x93NUMPY"):
        images, labels = _load_numpy_digits(path, is_npz=False)
    elif head.startswith(b"PK"):
        images, labels = _load_numpy_digits(path, is_npz=True)
    else:
        images, labels = _load_idx_digits(path)
    return _split_file_digits(images, labels, split, path)


def load_digits(
    source: str | Path = "bundled",
    split: str | None = None,
    *,
    root: str | Path | None = None,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Digits to draw Moving MNIST sequences from.

    Args:
        source: ``"bundled"`` (10,000 real MNIST digits shipped with videoae), ``"mnist"`` (the
            full 70,000, read from ``ROOT/MNIST/raw``), or the path of a digit file: an IDX images
            file (gzip or raw; labels come from the sibling ``*-labels-idx1-ubyte*`` file if there is
            one), a ``.npy`` of uint8 ``(N, H, W)`` or a ``.npz`` with ``images`` and optional
            ``labels``. Digits may be any size that fits the canvas they are drawn on. A ``str`` equal to a source name
            means that name; write ``"./mnist"`` for a file called ``mnist``.
        split: ``"train"``, ``"test"`` or ``"all"``. ``None`` means ``"train"`` for the named
            sources and ``"all"`` for a file. Bundled: train = indices < 9000, test = the rest.
            MNIST: the official 60,000 / 10,000 (all = train then test). A file: train = all but
            the last tenth, test = the last tenth (at least one digit).
        root: Data folder for ``"mnist"``; defaults to ``$VIDEOAE_DATA_DIR`` or ``~/.cache/videoae``.
        download: For ``"mnist"``, fetch missing files (md5-checked) instead of failing.

    Returns:
        ``(images, labels)``: uint8 ``(N, S, S)`` and uint8 ``(N,)``; labels unknown to a file are
        :data:`UNKNOWN_LABEL` (255).

    Raises:
        DataNotFoundError: MNIST files are missing and ``download`` is False.
        InvalidInputError: Unknown split, or a missing, damaged or unsuitable digit file.
        DownloadError: ``download=True`` and no mirror delivered a file.
    """
    by_name = isinstance(source, str) and source in SOURCE_NAMES
    resolved = ("train" if by_name else "all") if split is None else split
    _check_split(resolved)
    if source == "bundled" and by_name:
        return load_bundled_digits(resolved)
    if source == "mnist" and by_name:
        return _load_mnist(resolved, root, download)
    return _load_digit_file(Path(source).expanduser(), resolved)


def generator_digits(source: str) -> str | np.ndarray:
    """The ``digits`` argument of the generator for a user's digit source.

    A bundled split name (``"train"``, ``"test"``, ``"all"``) stays a name (the generator caches
    it); ``"mnist"`` gives the 60,000 MNIST training digits (downloaded beforehand); anything else
    is read as a digit file (IDX, ``.npy`` or ``.npz``).
    """
    if source in SPLITS:
        return source
    if source == "mnist":
        return load_digits("mnist", "train")[0]
    if not Path(source).exists():
        raise InvalidInputError(f"digits {source!r}: neither {', '.join(SPLITS)}, mnist nor an existing IDX/.npy/.npz file of digits")
    return load_digits(source, "all")[0]
