"""Torch datasets: on-the-fly Moving MNIST and fixed arrays, through DataLoader workers and ranks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from videoae.data.datasets import MovingMNIST, SequenceArrayDataset, make_loader
from videoae.data.moving_mnist import generate
from videoae.errors import InvalidInputError

OPTIONS = dict(seed=9, num_frames=6, image_size=32, digits="test")  # small, so worker tests stay fast


def as_clips(videos: np.ndarray) -> torch.Tensor:
    """What the datasets promise: float32 (B, T, 1, H, W) in [0, 1]."""
    return torch.from_numpy(videos.astype(np.float32) / 255.0).unsqueeze(2)


def test_items_are_float_clips_of_the_generated_sequences():
    dataset = MovingMNIST(10, **OPTIONS)
    item = dataset[3]
    assert item.dtype == torch.float32 and item.shape == (6, 1, 32, 32)
    assert item.min() >= 0.0 and item.max() <= 1.0 and item.max() > 0.5
    torch.testing.assert_close(item, as_clips(generate(4, **OPTIONS))[3], rtol=0, atol=0)
    torch.testing.assert_close(dataset[-1], dataset[9], rtol=0, atol=0)
    with pytest.raises(IndexError):
        dataset[10]


@pytest.mark.parametrize("num_workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_dataloader_batches_equal_direct_generation_in_every_epoch(num_workers):
    dataset = MovingMNIST(24, **OPTIONS)
    loader = make_loader(dataset, batch_size=8, num_workers=num_workers)
    for epoch in (0, 1, 0):  # workers persist: the epoch must reach them through shared memory
        dataset.set_epoch(epoch)
        batches = list(loader)
        assert [tuple(b.shape) for b in batches] == [(8, 6, 1, 32, 32)] * 3
        expected = as_clips(generate(24, start=24 * epoch, **OPTIONS))
        torch.testing.assert_close(torch.cat(batches), expected, rtol=0, atol=0)


def test_dataloader_uses_one_vectorised_call_per_batch(monkeypatch):
    dataset = MovingMNIST(12, **OPTIONS)
    calls = []
    original = MovingMNIST.__getitems__
    monkeypatch.setattr(MovingMNIST, "__getitems__", lambda self, idx: calls.append(list(idx)) or original(self, idx))
    assert len(list(DataLoader(dataset, batch_size=5))) == 3
    assert calls == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_distributed_ranks_cover_every_sample_exactly_once():
    dataset = MovingMNIST(10, **OPTIONS)
    expected = as_clips(generate(10, **OPTIONS))
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=False)
        for batch in DataLoader(dataset, batch_size=3, sampler=sampler):
            for clip in batch:
                matches = [i for i in range(10) if torch.equal(clip, expected[i])]
                assert len(matches) == 1
                seen.append(matches[0])
    assert sorted(seen) == list(range(10))


def test_set_epoch_gives_new_reproducible_data():
    dataset = MovingMNIST(5, **OPTIONS)
    first = dataset[2]
    dataset.set_epoch(3)
    third = dataset[2]
    assert not torch.equal(first, third)
    torch.testing.assert_close(third, as_clips(generate(1, start=3 * 5 + 2, **OPTIONS))[0], rtol=0, atol=0)
    dataset.set_epoch(0)
    assert torch.equal(dataset[2], first)
    assert MovingMNIST(5, **OPTIONS).epoch == 0
    with pytest.raises(InvalidInputError, match="epoch"):
        dataset.set_epoch(-1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_samples=0), "num_samples"),
        (dict(num_samples=10, image_size=20), "do not fit"),
        (dict(num_samples=10, digits="nope"), "unknown digit split"),
        (dict(num_samples=10, speed=(0.3, 0.1)), "low <= high"),
        (dict(num_samples=10, num_digits=0), "num_digits"),
    ],
)
def test_moving_mnist_validates_eagerly(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        MovingMNIST(**kwargs)


def test_custom_digit_array_is_used():
    digits = np.full((1, 8, 8), 77, dtype=np.uint8)
    clip = MovingMNIST(3, digits=digits, image_size=16, num_frames=2, num_digits=1)[0]
    torch.testing.assert_close(torch.unique(clip), torch.tensor([0.0, 77 / 255]))


def test_sequence_array_dataset_reads_memmaps_without_copying_everything(tmp_path):
    videos = generate(7, **OPTIONS)
    np.save(tmp_path / "set.npy", videos)
    mapped = np.load(tmp_path / "set.npy", mmap_mode="r")  # read-only
    dataset = SequenceArrayDataset(mapped)
    assert len(dataset) == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about non-writable arrays: must not happen
        batch = next(iter(DataLoader(dataset, batch_size=4)))
    torch.testing.assert_close(batch, as_clips(videos[:4]), rtol=0, atol=0)
    torch.testing.assert_close(dataset[6], as_clips(videos)[6], rtol=0, atol=0)


@pytest.mark.parametrize(
    "videos, message",
    [
        (np.zeros((2, 3, 8, 8), np.float32), "uint8"),
        (np.zeros((3, 8, 8), np.uint8), "\\(N, T, H, W\\)"),
        (np.zeros((0, 3, 8, 8), np.uint8), "non-empty"),
        ([[[[0]]]], "numpy array"),
    ],
)
def test_sequence_array_dataset_validates(videos, message):
    with pytest.raises(InvalidInputError, match=message):
        SequenceArrayDataset(videos)


def test_make_loader_pins_memory_only_for_cuda():
    dataset = MovingMNIST(4, **OPTIONS)
    assert make_loader(dataset, batch_size=2, num_workers=0, device="cuda:0").pin_memory
    assert not make_loader(dataset, batch_size=2, num_workers=0, device="cpu").pin_memory
    with pytest.raises(InvalidInputError, match="batch_size"):
        make_loader(dataset, batch_size=0)


def test_uint8_clips_are_the_raw_pixels():
    dataset = MovingMNIST(6, dtype=torch.uint8, **OPTIONS)
    batch = next(iter(DataLoader(dataset, batch_size=6)))
    assert batch.dtype == torch.uint8 and batch.shape == (6, 6, 1, 32, 32)
    np.testing.assert_array_equal(batch[:, :, 0].numpy(), generate(6, **OPTIONS))
    frozen = generate(2, **OPTIONS)
    frozen.flags.writeable = False
    clip = SequenceArrayDataset(frozen, dtype=torch.uint8)[1]
    clip.zero_()  # a caller's edit must never reach the array behind the dataset
    assert frozen[1].any()
    with pytest.raises(InvalidInputError, match="dtype"):
        MovingMNIST(6, dtype=torch.float16)
