"""The standard Moving MNIST test file, on a small fake with the same layout (frames first)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from local_http import serve
from videoae.data import standard_test_set as sts
from videoae.data.standard_test_set import load_standard_test_set, standard_test_set_path
from videoae.errors import ChecksumError, DataNotFoundError, InvalidInputError

FAKE_SHAPE = (4, 10, 8, 8)  # (frames, sequences, H, W), like the real (20, 10000, 64, 64)
FAKE_TEST_SEQUENCES = 3


def _fake_frames() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, FAKE_SHAPE, dtype=np.uint8)


def _npy_bytes(array: np.ndarray, tmp_path: Path) -> bytes:
    scratch = tmp_path / "scratch.npy"
    np.save(scratch, array)
    return scratch.read_bytes()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> np.ndarray:
    """Writes a fake file under ROOT=tmp_path/data and points the module's constants at it."""
    frames = _fake_frames()
    path = standard_test_set_path(tmp_path / "data")
    path.parent.mkdir(parents=True)
    np.save(path, frames)
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_SHAPE", FAKE_SHAPE)
    monkeypatch.setattr(sts, "NUM_TEST_SEQUENCES", FAKE_TEST_SEQUENCES)
    return frames


def test_path_follows_torchvision_layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert standard_test_set_path(tmp_path) == tmp_path / "MovingMNIST" / "mnist_test_seq.npy"
    monkeypatch.setenv("VIDEOAE_DATA_DIR", str(tmp_path / "env"))
    assert standard_test_set_path() == tmp_path / "env" / "MovingMNIST" / "mnist_test_seq.npy"


def test_loads_sequences_first_memory_mapped(fake: np.ndarray, tmp_path: Path) -> None:
    sequences = load_standard_test_set(tmp_path / "data")
    assert sequences.shape == (10, 4, 8, 8) and sequences.dtype == np.uint8
    np.testing.assert_array_equal(sequences[7, 2], fake[2, 7])
    np.testing.assert_array_equal(sequences, fake.transpose(1, 0, 2, 3))
    assert isinstance(sequences.base, np.memmap) or isinstance(sequences, np.memmap)
    assert not sequences.flags.writeable


def test_split_cuts_sequences_not_frames(fake: np.ndarray, tmp_path: Path) -> None:
    train = load_standard_test_set(tmp_path / "data", split="train")
    test = load_standard_test_set(tmp_path / "data", split="test")
    assert train.shape == (7, 4, 8, 8) and test.shape == (3, 4, 8, 8)
    np.testing.assert_array_equal(np.concatenate([train, test]), fake.transpose(1, 0, 2, 3))
    with pytest.raises(InvalidInputError, match="unknown split"):
        load_standard_test_set(tmp_path / "data", split="val")


def test_real_constants_describe_the_published_file() -> None:
    assert sts.STANDARD_TEST_SET_SHAPE == (20, 10000, 64, 64)
    assert sts.STANDARD_TEST_SET_MD5 == "be083ec986bfe91a449d63653c411eb2"
    assert sts.STANDARD_TEST_SET_SHAPE[1] - sts.NUM_TEST_SEQUENCES == 9000


def test_md5_mismatch_is_a_checksum_error_unless_verify_is_off(fake: np.ndarray, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_MD5", "0" * 32)
    with pytest.raises(ChecksumError, match="run: videoae data download moving-mnist .*verify=False"):
        load_standard_test_set(tmp_path / "data")
    assert load_standard_test_set(tmp_path / "data", verify=False).shape == (10, 4, 8, 8)


def test_missing_file_says_how_to_download(tmp_path: Path) -> None:
    path = standard_test_set_path(tmp_path)
    with pytest.raises(DataNotFoundError) as info:
        load_standard_test_set(tmp_path)
    assert str(info.value) == (
        f"Dataset not found at {path}. You can use download=True (or `videoae data download moving-mnist`) to download it."
    )


@pytest.mark.parametrize("array", [np.zeros((4, 10, 8, 7), np.uint8), np.zeros(FAKE_SHAPE, np.float32), np.zeros((4, 10, 8), np.uint8)])
def test_wrong_shape_or_dtype_is_invalid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, array: np.ndarray) -> None:
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_SHAPE", FAKE_SHAPE)
    path = standard_test_set_path(tmp_path)
    path.parent.mkdir(parents=True)
    np.save(path, array)
    with pytest.raises(InvalidInputError, match="not the standard Moving MNIST test file"):
        load_standard_test_set(tmp_path, verify=False)


def test_not_a_npy_file_is_invalid(tmp_path: Path) -> None:
    path = standard_test_set_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"<html>403 Forbidden</html>")
    with pytest.raises(InvalidInputError, match="not a readable .npy"):
        load_standard_test_set(tmp_path, verify=False)


def test_download_true_fetches_verifies_and_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    frames = _fake_frames()
    blob = _npy_bytes(frames, tmp_path)
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_MD5", hashlib.md5(blob).hexdigest())
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_SHAPE", FAKE_SHAPE)
    monkeypatch.setattr(sts, "NUM_TEST_SEQUENCES", FAKE_TEST_SEQUENCES)
    with serve() as server:
        server.routes["/mnist_test_seq.npy"] = (200, blob)
        monkeypatch.setattr(sts, "STANDARD_TEST_SET_URLS", [server.url("/mnist_test_seq.npy")])
        test = load_standard_test_set(tmp_path / "root", download=True, split="test")
        load_standard_test_set(tmp_path / "root", download=True)
        assert server.requests == ["/mnist_test_seq.npy"]
    np.testing.assert_array_equal(test, frames.transpose(1, 0, 2, 3)[-FAKE_TEST_SEQUENCES:])
