"""The standard Moving MNIST test file of Srivastava et al.: ``mnist_test_seq.npy``.

10,000 sequences of 20 frames of 64x64 uint8 pixels, each with two digits. The file stores frames
first, ``(20, 10000, 64, 64)``; videoae hands out sequences first, ``(10000, 20, 64, 64)``, as a
memory-mapped view, so loading costs no memory and no copy. The file is kept where torchvision
keeps it (``ROOT/MovingMNIST/mnist_test_seq.npy``) so the two can share a download.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from videoae.data.download import default_data_dir, download_file, file_md5
from videoae.errors import ChecksumError, DataNotFoundError, InvalidInputError

logger = logging.getLogger(__name__)

# Module constants are read at call time, so tests can substitute a small fake file.
STANDARD_TEST_SET_FOLDER = "MovingMNIST"
STANDARD_TEST_SET_FILENAME = "mnist_test_seq.npy"
STANDARD_TEST_SET_URLS = ["http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy"]
STANDARD_TEST_SET_MD5 = "be083ec986bfe91a449d63653c411eb2"
# As stored: (frames, sequences, height, width).
STANDARD_TEST_SET_SHAPE = (20, 10000, 64, 64)
# The seed notebook trains on the first 9000 sequences and tests on the last 1000.
NUM_TEST_SEQUENCES = 1000
STANDARD_SPLITS = ("train", "test")


def standard_test_set_path(root: str | Path | None = None) -> Path:
    """Where the standard test file lives: ``ROOT/MovingMNIST/mnist_test_seq.npy``.

    Args:
        root: Data folder; defaults to :func:`videoae.data.download.default_data_dir`.
    """
    base = default_data_dir() if root is None else Path(root).expanduser()
    return base / STANDARD_TEST_SET_FOLDER / STANDARD_TEST_SET_FILENAME


def download_standard_test_set(root: str | Path | None = None, *, progress: bool = False) -> Path:
    """Fetch ``mnist_test_seq.npy`` (about 819 MB, md5-checked; nothing is fetched if it is present).

    Args:
        root: Data folder; defaults to :func:`videoae.data.download.default_data_dir`.
        progress: Show a progress bar.

    Returns:
        The file's path.
    """
    return download_file(STANDARD_TEST_SET_URLS, standard_test_set_path(root), STANDARD_TEST_SET_MD5, progress=progress)


def _verify_md5(path: Path) -> None:
    found = file_md5(path)
    if found != STANDARD_TEST_SET_MD5:
        raise ChecksumError(
            f"{path} has md5 {found}, expected {STANDARD_TEST_SET_MD5}: it is damaged or a different file; "
            "delete it and run: videoae data download moving-mnist (from Python, load it with verify=False to use it anyway)"
        )


def _open_frames_first(path: Path) -> np.ndarray:
    try:
        frames = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InvalidInputError(f"{path}: not a readable .npy file ({err}); delete it and download it again") from err
    expected = tuple(STANDARD_TEST_SET_SHAPE)
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.shape != expected:
        found = f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}"
        raise InvalidInputError(
            f"{path}: holds {found}, expected uint8 {expected} (frames first); "
            "it is not the standard Moving MNIST test file: delete it and download it again"
        )
    return frames


def load_standard_test_set(
    root: str | Path | None = None,
    *,
    download: bool = False,
    split: str | None = None,
    verify: bool = True,
) -> np.ndarray:
    """The standard Moving MNIST test sequences, sequences first, memory-mapped (read-only).

    Args:
        root: Data folder; defaults to ``$VIDEOAE_DATA_DIR`` or ``~/.cache/videoae``.
        download: Fetch the file if it is missing.
        split: ``None`` for all 10,000 sequences, ``"train"`` for the first 9,000 or ``"test"`` for
            the last 1,000 (the seed notebook's split; sequences, not frames, are split).
        verify: Check the file's md5 (reads all 819 MB; pass False to skip).

    Returns:
        A read-only uint8 view of shape ``(sequences, 20, 64, 64)`` with pixels in 0..255.

    Raises:
        DataNotFoundError: The file is missing and ``download`` is False.
        ChecksumError: The file's md5 is not the published one.
        InvalidInputError: Unknown split, or the file has the wrong shape or dtype.
    """
    if split is not None and split not in STANDARD_SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; choose 'train', 'test' or None for all sequences")
    path = standard_test_set_path(root)
    if download:
        # download_file checks the md5 of a file already present, so there is no need to hash twice.
        download_standard_test_set(root)
    elif not path.is_file():
        raise DataNotFoundError(
            f"Dataset not found at {path}. You can use download=True (or `videoae data download moving-mnist`) to download it."
        )
    elif verify:
        _verify_md5(path)
    # (frames, sequences, H, W) -> (sequences, frames, H, W); a view, the file stays on disk.
    sequences = _open_frames_first(path).transpose(1, 0, 2, 3)
    if split is None:
        return sequences
    num_train = len(sequences) - NUM_TEST_SEQUENCES
    return sequences[:num_train] if split == "train" else sequences[num_train:]
