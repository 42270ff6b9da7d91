"""The batches a training run sees: a pure function of the step, so runs resume exactly.

The global batch of step ``s`` is sample positions ``s * B .. (s + 1) * B - 1``; process ``r`` of
``W`` takes the ``r``-th contiguous slice of ``B / W``. Position ``g`` is generator sample ``g``, or,
for a fixed array of ``N`` sequences, item ``permutation(seed, g // N)[g % N]`` (a new order every
pass over the data). Nothing depends on the number of workers or on what ran before.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from videoae.data.datasets import PREFETCH_FACTOR, MovingMNIST, SequenceArrayDataset
from videoae.data.digits import generator_digits
from videoae.data.video_clips import ClipOptions, is_video_collection, training_clips
from videoae.data.video_io import AUTO_LAYOUT
from videoae.errors import InvalidInputError

# The generator's stream is effectively endless; the dataset only needs a length.
GENERATOR_STREAM_LENGTH = 2**62


class StepBatchSampler(Sampler[list[int]]):
    """Yields this process's dataset indices for steps ``start_step .. end_step - 1``.

    Args:
        start_step: first step to produce (the step a resumed run continues from).
        end_step: one past the last step.
        global_batch: sequences per step over all processes; divisible by ``world_size``.
        rank: this process.
        world_size: number of processes.
        num_items: size of a fixed dataset, or None for the generator's stream.
        seed: seeds the per-pass permutations of a fixed dataset.
    """

    def __init__(
        self,
        *,
        start_step: int,
        end_step: int,
        global_batch: int,
        rank: int = 0,
        world_size: int = 1,
        num_items: int | None = None,
        seed: int = 0,
    ) -> None:
        if global_batch % world_size:
            raise InvalidInputError(f"batch_size {global_batch} must be divisible by the number of processes ({world_size})")
        self.start_step, self.end_step = start_step, end_step
        self.global_batch, self.local_batch = global_batch, global_batch // world_size
        self.rank, self.num_items, self.seed = rank, num_items, seed
        self._pass: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)

    def _order(self, data_pass: int) -> np.ndarray:
        if self._pass is None or self._pass[0] != data_pass:
            self._pass = (data_pass, np.random.default_rng([self.seed, data_pass]).permutation(self.num_items))
        return self._pass[1]

    def indices(self, step: int) -> list[int]:
        """This process's dataset indices at ``step``."""
        first = step * self.global_batch + self.rank * self.local_batch
        positions = range(first, first + self.local_batch)
        if self.num_items is None:
            return list(positions)
        return [int(self._order(g // self.num_items)[g % self.num_items]) for g in positions]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.end_step):
            yield self.indices(step)


def training_dataset(
    data: str,
    *,
    num_frames: int,
    image_size: int,
    seed: int,
    num_digits: int,
    speed: tuple[float, float],
    digits: str,
    clips: ClipOptions | None = None,
    layout: str = AUTO_LAYOUT,
) -> Dataset:
    """The uint8 dataset named by a train config's ``data`` and ``layout`` (see :class:`TrainConfig`):
    items (T, C, H, W).

    Video files (a folder, glob, list or clip cache) are cut into clips as ``clips`` says
    (:func:`~videoae.data.video_clips.training_clips`); other data is grayscale and square. With
    ``layout="auto"`` an array is read frames first, and refused with advice where that gives more
    frames per sequence than sequences (:func:`~videoae.data.video_io.looks_transposed`): a
    sequences-first array read that way would train without a word on a few very long "videos".
    """
    if is_video_collection(data) and data not in ("generator", "standard"):
        if clips is None:
            raise InvalidInputError(f"training data {data} names video files: give the clip options (frame shape, frames per clip)")
        return training_clips(data, clips)
    if clips is not None and (clips.frame_shape[0] != 1 or clips.frame_shape[1] != clips.frame_shape[2]):
        raise InvalidInputError(
            f"training data {data} has grayscale square frames but the model reads frames of {list(clips.frame_shape)}; "
            "train it on video files (--set data=FOLDER_OF_VIDEOS) or give it frame_shape [1, S, S]"
        )
    if data == "generator":
        return MovingMNIST(
            GENERATOR_STREAM_LENGTH,
            seed=seed,
            num_digits=num_digits,
            num_frames=num_frames,
            image_size=image_size,
            speed=speed,
            digits=generator_digits(digits),
            dtype=torch.uint8,
        )
    if data == "standard":
        from videoae.data.standard_test_set import load_standard_test_set

        videos = load_standard_test_set(split="train")
    else:
        from videoae.data.pixels import to_uint8
        from videoae.data.video_io import DEFAULT_LAYOUT, layout_doubt, looks_transposed, read_videos

        videos = to_uint8(read_videos(data, layout=DEFAULT_LAYOUT if layout == AUTO_LAYOUT else layout))
        if layout == AUTO_LAYOUT and looks_transposed(*videos.shape[:2], min_frames=num_frames):
            raise InvalidInputError(
                f"{layout_doubt(f'training data {data}', *videos.shape[:2])}; name its layout: "
                "--set layout=NTHW (sequences first) or --set layout=TNHW (frames first, as read)"
            )
    if videos.shape[1] < num_frames:
        hint = "; if the array is sequences first (N, T, H, W), --set layout=NTHW" if layout == AUTO_LAYOUT and len(videos) > 1 else ""
        raise InvalidInputError(f"training data {data} has {videos.shape[1]} frames per sequence; the model needs {num_frames}{hint}")
    if videos.shape[2:] != (image_size, image_size):
        raise InvalidInputError(f"training data {data} has frames of {videos.shape[2:]}; the model expects {image_size}x{image_size}")
    return SequenceArrayDataset(videos, dtype=torch.uint8)


def training_loader(dataset: Dataset, sampler: StepBatchSampler, *, num_workers: int, pin_memory: bool) -> DataLoader:
    """Batches of uint8 (B_local, T, C, H, W), one per step, prefetched by worker processes."""
    workers = num_workers > 0
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        prefetch_factor=PREFETCH_FACTOR if workers else None,
        # Its own generator: creating a loader must not consume the global RNG, whose state a
        # resumed run restores.
        generator=torch.Generator(),
    )
