"""Digit sources: bundled digits, full MNIST (fake files, local server), and user IDX/.npy/.npz files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from local_http import serve
from videoae.data import digits
from videoae.data.digits import UNKNOWN_LABEL, generator_digits, load_bundled_digits, load_digits
from videoae.errors import DataNotFoundError, DownloadError, InvalidInputError

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
RNG = np.random.default_rng(0)


def idx_images(images: np.ndarray) -> bytes:
    count, rows, cols = images.shape
    header = b"".join(v.to_bytes(4, "big") for v in (0x803, count, rows, cols))
    return header + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return (0x801).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.astype(np.uint8).tobytes()


def fake_digits(count: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    return RNG.integers(0, 256, (count, size, size), dtype=np.uint8), RNG.integers(0, 10, count, dtype=np.uint8)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDEOAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


# --- bundled -------------------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST copy not available")
def test_bundled_all_is_exactly_the_mnist_test_idx() -> None:
    raw = gzip.decompress((SHARED_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    expected = np.frombuffer(raw[16:], dtype=np.uint8).reshape(10000, 28, 28)
    raw_labels = gzip.decompress((SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes())
    images, labels = load_digits("bundled", "all")
    assert hashlib.md5(images.tobytes()).hexdigest() == hashlib.md5(raw[16:]).hexdigest()
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels, np.frombuffer(raw_labels[8:], dtype=np.uint8))


def test_bundled_default_is_train_split_and_matches_loader() -> None:
    images, labels = load_digits()
    ref_images, ref_labels = load_bundled_digits("train")
    assert images.shape == (9000, 28, 28) and labels.shape == (9000,)
    assert images.dtype == np.uint8 and labels.dtype == np.uint8
    np.testing.assert_array_equal(images, ref_images)
    test_images, _ = load_digits("bundled", "test")
    assert len(test_images) == 1000


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="unknown split"):
        load_digits("bundled", "validation")


# --- full MNIST ----------------------------------------------------------------------------------


def _fake_mnist(counts: dict[str, int]) -> dict[str, bytes]:
    files = {}
    for prefix, count in counts.items():
        images, labels = fake_digits(count)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_images(images))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_labels(labels))
    return files


def test_mnist_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_digits("mnist", "test", root=tmp_path)
    message = str(info.value)
    assert "download=True" in message and "videoae data download mnist" in message
    assert str(tmp_path / "MNIST" / "raw") in message


def test_mnist_download_then_load_splits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = _fake_mnist({"train": 6, "t10k": 4})
    monkeypatch.setattr(digits, "MNIST_FILES", {n: hashlib.md5(b).hexdigest() for n, b in files.items()})
    with serve() as server:
        server.routes.update({f"/s3/{n}": (200, b) for n, b in files.items()})
        monkeypatch.setattr(digits, "MNIST_MIRRORS", [server.url("/dead/"), server.url("/s3/")])
        test_images, test_labels = load_digits("mnist", "test", download=True)
        assert sorted(server.requests) == sorted(
            f"/{m}/t10k-{k}" for m in ("dead", "s3") for k in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")
        )
        images, labels = load_digits("mnist", "all", download=True)
        train_images, _ = load_digits("mnist")  # default split: train, files now on disk
        requests_after = len(server.requests)
        load_digits("mnist", "all", download=True)
        assert len(server.requests) == requests_after  # nothing fetched twice
    assert test_images.shape == (4, 28, 28) and train_images.shape == (6, 28, 28)
    expected_test = np.frombuffer(gzip.decompress(files["t10k-images-idx3-ubyte.gz"])[16:], np.uint8)
    np.testing.assert_array_equal(test_images.ravel(), expected_test)
    np.testing.assert_array_equal(images, np.concatenate([train_images, test_images]))
    assert labels.shape == (10,) and labels[-4:].tolist() == test_labels.tolist()
    assert (tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()


def test_mnist_download_failure_is_a_download_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with serve() as server:
        monkeypatch.setattr(digits, "MNIST_MIRRORS", [server.url("/nothing/")])
        with pytest.raises(DownloadError, match="t10k-images-idx3-ubyte.gz"):
            load_digits("mnist", "test", root=tmp_path, download=True)
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []


def test_mnist_accepts_decompressed_files(tmp_path: Path) -> None:
    raw_dir = tmp_path / "MNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for name, blob in _fake_mnist({"t10k": 3}).items():
        (raw_dir / name.removesuffix(".gz")).write_bytes(gzip.decompress(blob))
    images, labels = load_digits("mnist", "test", root=tmp_path)
    assert images.shape == (3, 28, 28) and labels.shape == (3,)


def test_mnist_truncated_file_is_invalid(tmp_path: Path) -> None:
    raw_dir = tmp_path / "MNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for name, blob in _fake_mnist({"t10k": 3}).items():
        (raw_dir / name).write_bytes(gzip.compress(gzip.decompress(blob)[:-5]) if "images" in name else blob)
    with pytest.raises(InvalidInputError, match="truncated"):
        load_digits("mnist", "test", root=tmp_path)


# --- user files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_idx_file_with_sibling_labels(tmp_path: Path, compress: bool) -> None:
    images, labels = fake_digits(5)
    suffix = ".gz" if compress else ""
    wrap = gzip.compress if compress else (lambda b: b)
    (tmp_path / f"my-images-idx3-ubyte{suffix}").write_bytes(wrap(idx_images(images)))
    (tmp_path / f"my-labels-idx1-ubyte{suffix}").write_bytes(wrap(idx_labels(labels)))
    got_images, got_labels = load_digits(tmp_path / f"my-images-idx3-ubyte{suffix}")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_idx_file_without_labels_gets_unknown_label(tmp_path: Path) -> None:
    images, _ = fake_digits(4, size=20)
    path = tmp_path / "digits.idx"
    path.write_bytes(idx_images(images))
    got_images, got_labels = load_digits(str(path))
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.tolist() == [UNKNOWN_LABEL] * 4 and UNKNOWN_LABEL == 255


def test_idx_labels_count_mismatch_is_invalid(tmp_path: Path) -> None:
    images, labels = fake_digits(5)
    (tmp_path / "x-images-idx3-ubyte").write_bytes(idx_images(images))
    (tmp_path / "x-labels-idx1-ubyte").write_bytes(idx_labels(labels[:3]))
    with pytest.raises(InvalidInputError, match="one label per digit"):
        load_digits(tmp_path / "x-images-idx3-ubyte")


def test_npy_and_npz_files(tmp_path: Path) -> None:
    images, labels = fake_digits(6)
    np.save(tmp_path / "d.npy", images)
    np.savez(tmp_path / "with.npz", images=images, labels=labels.astype(np.int64))
    np.savez(tmp_path / "without.npz", images=images)
    got, got_labels = load_digits(tmp_path / "d.npy")
    np.testing.assert_array_equal(got, images)
    assert (got_labels == UNKNOWN_LABEL).all()
    got, got_labels = load_digits(tmp_path / "with.npz")
    np.testing.assert_array_equal(got_labels, labels)
    assert got_labels.dtype == np.uint8
    assert (load_digits(tmp_path / "without.npz")[1] == UNKNOWN_LABEL).all()


def test_file_train_test_split_holds_out_last_tenth(tmp_path: Path) -> None:
    images, _ = fake_digits(20)
    np.save(tmp_path / "d.npy", images)
    train, _ = load_digits(tmp_path / "d.npy", "train")
    test, _ = load_digits(tmp_path / "d.npy", "test")
    np.testing.assert_array_equal(train, images[:18])
    np.testing.assert_array_equal(test, images[18:])
    np.save(tmp_path / "one.npy", images[:1])
    with pytest.raises(InvalidInputError, match="split='all'"):
        load_digits(tmp_path / "one.npy", "train")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((3, 28, 28), np.float32), "convert them first"),
        (np.zeros((28, 28), np.uint8), "expected \\(N, H, W\\)"),
        (np.zeros((0, 28, 28), np.uint8), "no digits"),
        (np.zeros((3, 28, 0), np.uint8), "holds no pixels"),
    ],
)
def test_unsuitable_arrays_are_rejected(tmp_path: Path, array: np.ndarray, match: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InvalidInputError, match=match):
        load_digits(tmp_path / "bad.npy")


def test_digits_of_any_shape_that_fits_the_canvas_are_drawn(tmp_path: Path) -> None:
    from videoae.data.moving_mnist import generate

    np.save(tmp_path / "wide.npy", np.full((3, 80, 40), 200, np.uint8))  # neither square nor at most 64 px
    digits = generator_digits(str(tmp_path / "wide.npy"))
    assert generate(2, seed=0, digits=digits, image_size=128).shape == (2, 20, 128, 128)
    with pytest.raises(InvalidInputError, match="do not fit on a 64x64 canvas"):
        generate(2, seed=0, digits=digits, image_size=64)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "too short"),
        ((0x1234).to_bytes(4, "big") + b"\0" * 12, "not an IDX file"),
        (idx_images(np.zeros((2, 28, 28), np.uint8))[:-10], "truncated"),
        (gzip.compress(idx_images(np.zeros((2, 28, 28), np.uint8)))[:-8], "damaged gzip"),
        (idx_labels(np.zeros(3, np.uint8)), "labels file"),
        (b"\x93NUMPY garbage", "damaged or unreadable .npy"),
        (b"PK\x03\x04 not a zip", "damaged or unreadable .npz"),
    ],
)
def test_damaged_files_are_one_line_invalid_input(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "digits.bin"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=match) as info:
        load_digits(path)
    assert "\n" not in str(info.value)


def test_npz_without_images_names_its_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", pixels=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(InvalidInputError, match="it has pixels"):
        load_digits(tmp_path / "x.npz")


def test_missing_path_and_folder_are_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="bundled, mnist or a path"):
        load_digits("mnsit")
    with pytest.raises(InvalidInputError, match="not a file"):
        load_digits(tmp_path)
