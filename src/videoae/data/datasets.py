"""Torch datasets: Moving MNIST generated on the fly, and fixed arrays of sequences.

Both return float32 ``(T, 1, H, W)`` clips in [0, 1] (or, with ``dtype=torch.uint8``, the raw
0..255 pixels: a quarter of the bytes through worker processes and to the GPU; convert there with
``.float().div_(255)``), and implement ``__getitems__``, which
``torch.utils.data.DataLoader`` calls with a whole batch of indices, so a batch costs one
vectorised call instead of ``batch_size`` small ones; the default ``collate_fn`` stacks the
returned list into ``(B, T, 1, H, W)``.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from videoae.data.moving_mnist import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_NUM_DIGITS,
    DEFAULT_NUM_FRAMES,
    DEFAULT_SPEED,
    generate,
    generate_indices,
)
from videoae.data.pixels import UINT8_MAX
from videoae.errors import InvalidInputError
from videoae.validation import check_int

logger = logging.getLogger(__name__)

# Batches each worker keeps ready, so a batch that happens to be slow hides behind training steps
# (a batch of 64 takes a few ms to generate; a step of the 2048-unit model far longer).
PREFETCH_FACTOR = 4
DEFAULT_NUM_WORKERS = 2
_DTYPES = (torch.float32, torch.uint8)


def _check_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype not in _DTYPES:
        raise InvalidInputError(f"dtype must be torch.float32 (pixels in [0, 1]) or torch.uint8 (0..255), got {dtype}")
    return dtype


def _to_clips(videos: np.ndarray, dtype: torch.dtype) -> list[torch.Tensor]:
    """uint8 (B, T, H, W) -> B tensors (T, 1, H, W): float32 in [0, 1] or uint8 (views of one batch)."""
    if dtype == torch.uint8:
        writable = videos if videos.flags.writeable else videos.copy()  # torch shares, so never a cache
        return list(torch.from_numpy(writable).unsqueeze(2).unbind(0))
    # One pass, into a fresh writable array (inputs may be read-only caches or memmaps); measured
    # several times faster than torch's uint8 -> float division.
    scaled = np.divide(videos, np.float32(UINT8_MAX), dtype=np.float32)
    return list(torch.from_numpy(scaled).unsqueeze(2).unbind(0))


def _index(i: object, length: int) -> int:
    try:
        i = operator.index(i)
    except TypeError:
        raise TypeError(f"dataset indices must be integers, not {type(i).__name__}") from None
    if not -length <= i < length:
        raise IndexError(f"index {i} out of range for a dataset of {length} sequences")
    return i % length


class MovingMNIST(Dataset):
    """Moving MNIST generated on the fly: a fresh, reproducible set of sequences every epoch.

    Item ``i`` of epoch ``e`` is global sample ``e * num_samples + i`` of the generator's stream
    ``seed`` (see :mod:`videoae.data.moving_mnist`), so every sample is seen once per epoch, none is
    duplicated, and the data do not depend on batch size, worker count or number of processes
    (shard indices with ``DistributedSampler``). The epoch lives in shared memory, so
    :meth:`set_epoch` also reaches ``persistent_workers``; call it before iterating.

    Args:
        num_samples: sequences per epoch (>= 1).
        seed: the generator's stream, an integer in [0, 2**64).
        num_digits: digits per sequence.
        num_frames: frames per sequence.
        image_size: side of the square frames.
        speed: (low, high) step per frame in canvas fractions.
        digits: "train", "test" or "all" of the bundled digits, or a uint8 array (N, h, w).
        dtype: torch.float32 (pixels in [0, 1]) or torch.uint8 (0..255).
    """

    def __init__(
        self,
        num_samples: int,
        *,
        seed: int = 0,
        num_digits: int = DEFAULT_NUM_DIGITS,
        num_frames: int = DEFAULT_NUM_FRAMES,
        image_size: int = DEFAULT_IMAGE_SIZE,
        speed: tuple[float, float] = DEFAULT_SPEED,
        digits: str | np.ndarray = "train",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.num_samples = check_int("num_samples", num_samples, 1)
        self.options = dict(
            seed=seed,
            num_digits=num_digits,
            num_frames=num_frames,
            image_size=image_size,
            speed=speed,
            digits=digits,
        )
        generate(1, **self.options)  # validates every option now rather than inside a worker
        self.dtype = _check_dtype(dtype)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (>= 0): item i becomes global sample ``epoch * num_samples + i``."""
        self._epoch.fill_(check_int("epoch", epoch, 0))

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """A batch in one vectorised call: a list of (T, 1, H, W) tensors."""
        local = np.array([_index(i, self.num_samples) for i in indices], dtype=np.uint64)
        offset = np.uint64(self.epoch) * np.uint64(self.num_samples)
        return _to_clips(generate_indices(local + offset, **self.options), self.dtype)


class SequenceArrayDataset(Dataset):
    """A fixed array of sequences (e.g. a test set or a memory-mapped ``.npy`` file).

    Args:
        videos: uint8 (N, T, H, W), frames in order; any array-like numpy can index
            (``np.memmap`` included: only the requested sequences are read).
        dtype: torch.float32 (pixels in [0, 1]) or torch.uint8 (0..255).
    """

    def __init__(self, videos: np.ndarray, *, dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(videos, np.ndarray):
            raise InvalidInputError(f"videos must be a numpy array, not {type(videos).__name__}")
        if videos.dtype != np.uint8:
            raise InvalidInputError(f"videos must be uint8 (0..255), got {videos.dtype}; convert with .astype(np.uint8)")
        if videos.ndim != 4 or videos.shape[0] < 1 or min(videos.shape[1:]) < 1:
            raise InvalidInputError(
                f"videos must be a non-empty array (N, T, H, W), got shape {videos.shape}; "
                "the standard test file is (T, N, H, W): transpose it with .transpose(1, 0, 2, 3)"
            )
        self.videos = videos
        self.dtype = _check_dtype(dtype)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """A batch in one call: a list of (T, 1, H, W) tensors."""
        rows = np.array([_index(i, len(self.videos)) for i in indices], dtype=np.int64)
        return _to_clips(np.asarray(self.videos[rows]), self.dtype)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    num_workers: int = DEFAULT_NUM_WORKERS,
    device: str | torch.device | None = None,
    sampler: Sampler | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader that keeps a training step fed: workers, prefetching, pinned memory on CUDA.

    Order is the dataset's (no shuffling: generated samples are already independent); pass a
    ``DistributedSampler`` to shard across processes. Workers persist across epochs, which is safe
    with :meth:`MovingMNIST.set_epoch`.

    Args:
        dataset: a map-style dataset.
        batch_size: sequences per batch (>= 1).
        num_workers: worker processes; 0 generates in the calling process.
        device: where batches go; pinned host memory is used when it is a CUDA device.
        sampler: optional sampler, e.g. ``DistributedSampler(dataset, shuffle=False)``.
        drop_last: drop a final incomplete batch.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    num_workers = check_int("num_workers", num_workers, 0)
    pin = device is not None and torch.device(device).type == "cuda"
    workers = num_workers > 0
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin,
        drop_last=drop_last,
        persistent_workers=workers,
        prefetch_factor=PREFETCH_FACTOR if workers else None,
    )
