"""Users' own videos: reading .npy/.npz/GIF/frame folders, writing GIF/.npy, and clear errors."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra import numpy as hnp
from PIL import Image

from videoae.data import video_io, video_writers
from videoae.data.pixels import to_uint8
from videoae.data.video_io import read_video, read_videos
from videoae.data.video_writers import write_gif, write_npy
from videoae.errors import InvalidInputError

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _videos(rng: np.random.Generator, n: int = 3, t: int = 5, h: int = 8, w: int = 6) -> np.ndarray:
    return rng.integers(0, 256, (n, t, h, w), dtype=np.uint8)


def _save_frames(folder, frames: np.ndarray, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names):
        Image.fromarray(frame).save(folder / name)


# --- .npy / .npz -----------------------------------------------------------------------------


def test_npy_round_trip_is_exact_for_uint8_and_uses_the_standard_layout(tmp_path, rng):
    videos = _videos(rng)
    path = write_npy(tmp_path / "v.npy", videos)
    stored = np.load(path)
    assert stored.dtype == np.uint8 and stored.shape == (5, 3, 8, 6)  # (T, N, H, W) like mnist_test_seq.npy
    back = read_videos(path)
    assert back.dtype == np.float32 and back.shape == videos.shape
    np.testing.assert_array_equal(back, videos / np.float32(255))


def test_npy_round_trip_of_floats_is_within_half_a_level(tmp_path, rng):
    videos = rng.random((2, 4, 5, 5), dtype=np.float32)
    back = read_videos(write_npy(tmp_path / "f.npy", videos, layout="NTHW"), layout="NTHW")
    assert np.abs(back - videos).max() <= 0.5 / 255 + 1e-7


def test_layouts_give_transposed_results(tmp_path, rng):
    stored = _videos(rng, n=4, t=7)
    np.save(tmp_path / "b.npy", stored)
    as_tnhw = read_videos(tmp_path / "b.npy")
    as_nthw = read_videos(tmp_path / "b.npy", layout="NTHW")
    assert as_tnhw.shape == (7, 4, 8, 6) and as_nthw.shape == (4, 7, 8, 6)
    np.testing.assert_array_equal(as_tnhw, as_nthw.transpose(1, 0, 2, 3))


def test_single_video_is_written_as_one_sequence_and_read_back(tmp_path, rng):
    video = _videos(rng, n=1)[0]
    path = write_npy(tmp_path / "one.npy", video)
    assert np.load(path).shape == (5, 1, 8, 6)
    np.testing.assert_array_equal(read_video(path), video / np.float32(255))


@pytest.mark.parametrize("key", ["videos", "frames", "arr_0", "anything"])
def test_npz_finds_the_video_array(tmp_path, rng, key):
    video = _videos(rng, n=1)[0]
    np.savez(tmp_path / "v.npz", **{key: video})
    np.testing.assert_array_equal(read_video(tmp_path / "v.npz"), video / np.float32(255))


def test_npz_prefers_the_named_array_over_others(tmp_path, rng):
    video = _videos(rng, n=1)[0]
    np.savez(tmp_path / "v.npz", labels=np.zeros(3), frames=video)
    np.testing.assert_array_equal(read_video(tmp_path / "v.npz"), video / np.float32(255))


def test_npz_with_ambiguous_arrays_lists_the_keys(tmp_path, rng):
    np.savez(tmp_path / "v.npz", first=_videos(rng), second=_videos(rng))
    with pytest.raises(InvalidInputError, match="first, second"):
        read_videos(tmp_path / "v.npz")
    np.savez(tmp_path / "none.npz")
    with pytest.raises(InvalidInputError, match=r"arrays: none\); name it one of videos"):
        read_videos(tmp_path / "none.npz")


def test_channel_and_5d_shapes(tmp_path, rng):
    video = _videos(rng, n=1)[0]  # (T, H, W)
    for name, array, layout in [
        ("channel_first", video[:, None], "TNHW"),  # (T, 1, H, W)
        ("nt1hw", video[None, :, None], "NTHW"),  # (N, T, 1, H, W)
        ("nthw1", video[None, ..., None], "NTHW"),  # (N, T, H, W, 1)
        ("tn1hw", video[:, None, None], "TNHW"),  # (T, N, 1, H, W)
    ]:
        np.save(tmp_path / f"{name}.npy", array)
        back = read_video(tmp_path / f"{name}.npy", layout=layout)
        np.testing.assert_array_equal(back, video / np.float32(255), name)


def test_rgb_and_rgba_arrays_use_luma_weights_and_ignore_alpha(tmp_path, rng):
    rgb = rng.integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    expected = (rgb / 255.0) @ LUMA
    rgba = np.concatenate([rgb, rng.integers(0, 256, (3, 4, 5, 1), dtype=np.uint8)], axis=-1)
    for name, array in [("rgb", rgb), ("rgba", rgba)]:
        np.save(tmp_path / f"{name}.npy", array)
        np.testing.assert_allclose(read_video(tmp_path / f"{name}.npy"), expected, atol=1e-6)


def test_bool_and_float_dtypes(tmp_path, rng):
    mask = rng.random((4, 3, 3)) > 0.5
    np.save(tmp_path / "m.npy", mask)
    np.testing.assert_array_equal(read_video(tmp_path / "m.npy"), mask.astype(np.float32))
    halves = np.full((2, 3, 3), 0.5, dtype=np.float64)
    np.save(tmp_path / "h.npy", halves)
    assert read_video(tmp_path / "h.npy").dtype == np.float32


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.full((2, 3, 3), 2.0), "normalise"),
        (np.full((2, 3, 3), -0.1), "within [0, 1]"),
        (np.array([[[np.nan]]]), "NaN"),
        (np.array([[[np.inf]]]), "normalise"),
        (np.zeros((2, 3, 3), dtype=np.int64), "dtype int64"),
        (np.zeros((3, 3), dtype=np.uint8), "shape (3, 3)"),
        (np.zeros((1, 1, 1, 1, 1, 1), dtype=np.uint8), "(T, N, H, W)"),
        (np.zeros((0, 3, 3), dtype=np.uint8), "time axis has length 0"),
        (np.zeros((0, 2, 3, 3), dtype=np.uint8), "time axis has length 0"),
        (np.zeros((2, 2, 5, 6, 7), dtype=np.uint8), "channel axis"),
    ],
)
def test_bad_arrays_are_rejected_with_a_reason(tmp_path, array, fragment):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InvalidInputError, match="bad.npy") as info:
        read_videos(tmp_path / "bad.npy")
    assert fragment in str(info.value)


def test_damaged_numpy_files(tmp_path, rng):
    np.save(tmp_path / "full.npy", _videos(rng))
    raw = (tmp_path / "full.npy").read_bytes()
    cases = {
        "truncated.npy": raw[: len(raw) // 2],
        "header_only.npy": raw[:40],
        "text.npy": b"this is not numpy at all\n",
        "broken.npz": b"PK\x03\x04 not really a zip",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidInputError, match=name) as info:
            read_videos(tmp_path / name)
        assert "numpy.save" in str(info.value), name
    assert "allow_pickle" not in str(info.value)  # never suggest unpickling a user's file


def test_pickled_objects_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInputError, match="pickled"):
        read_videos(tmp_path / "obj.npy")


# --- paths -----------------------------------------------------------------------------------


def test_missing_empty_and_unsupported_paths(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        read_videos(tmp_path / "nope.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty.npy: the file is empty"):
        read_videos(tmp_path / "empty.npy")
    (tmp_path / "clip.flv").write_bytes(b"FLV\x01")
    with pytest.raises(InvalidInputError, match=r"unsupported file type '.flv'.*\.mp4 \.mkv \.webm \.avi \.mov"):
        read_videos(tmp_path / "clip.flv")


def test_bad_arguments(tmp_path, rng):
    np.save(tmp_path / "v.npy", _videos(rng))
    with pytest.raises(InvalidInputError, match="layout"):
        read_videos(tmp_path / "v.npy", layout="THWN")
    for size in (0, 2.5, True, (4,), (4, -1), (2.5, 3), (4, 4, 4)):
        with pytest.raises(InvalidInputError, match="frame_size"):
            read_videos(tmp_path / "v.npy", frame_size=size)


def test_read_video_refuses_a_batch_and_points_to_read_videos(tmp_path, rng):
    np.save(tmp_path / "batch.npy", _videos(rng).transpose(1, 0, 2, 3))
    with pytest.raises(InvalidInputError, match=r"holds 3 videos.*read_videos\(\)"):
        read_video(tmp_path / "batch.npy")


# --- GIF -------------------------------------------------------------------------------------


def test_gif_round_trip_is_exact_and_keeps_repeated_frames(tmp_path, rng):
    frames = _videos(rng, n=1, t=7)[0]
    frames[2] = frames[3] = frames[1]  # identical neighbours that Pillow's own writer would merge
    path = write_gif(tmp_path / "out" / "clip.gif", frames, frame_ms=50, loop=3)
    with Image.open(path) as image:
        assert image.n_frames == 7
        assert image.info["duration"] == 50 and image.info["loop"] == 3
    np.testing.assert_array_equal(read_video(path), frames / np.float32(255))


def test_gif_of_identical_frames_keeps_its_length(tmp_path):
    frames = np.zeros((5, 4, 4))
    assert read_video(write_gif(tmp_path / "still.gif", frames)).shape == (5, 4, 4)


def test_gif_from_floats_rounds_and_clips(tmp_path):
    frames = np.array([[[-0.2, 0.5 / 255 + 0.001]], [[0.7, 1.3]]], dtype=np.float32)  # (T=2, H=1, W=2)
    back = read_video(write_gif(tmp_path / "f.gif", frames)) * 255
    np.testing.assert_array_equal(back, [[[0, 1]], [[178, 255]]])


def test_rgb_gif_reads_back_as_luma(tmp_path, rng):
    colours = rng.integers(0, 256, (6, 3), dtype=np.uint8)  # few colours: the shared palette is exact
    rgb = colours[rng.integers(0, 6, (4, 10, 12))]
    back = read_video(write_gif(tmp_path / "rgb.gif", rgb))
    assert back.shape == (4, 10, 12)
    assert np.abs(back - (rgb / 255.0) @ LUMA).max() <= 1 / 255


def test_gif_with_partial_frame_updates_is_composited(tmp_path):
    frames = np.zeros((6, 32, 32), dtype=np.uint8)
    for t in range(6):
        frames[t, 4 + 3 * t : 9 + 3 * t, 8:20] = 120 + 20 * t  # a moving block: small changed regions
    images = [Image.fromarray(f) for f in frames]
    for name, options in [("opt.gif", {"optimize": True}), ("disp.gif", {"disposal": 2})]:
        images[0].save(tmp_path / name, save_all=True, append_images=images[1:], duration=100, **options)
        np.testing.assert_array_equal(read_video(tmp_path / name), frames / np.float32(255), name)


def test_write_gif_rejects_bad_frames_and_options(tmp_path):
    bad = (np.zeros((2, 3)), np.zeros((2, 3, 3, 4)), np.zeros((0, 3, 3)), np.zeros((1, 3, 3), dtype=np.int32))
    for frames in bad:
        with pytest.raises(InvalidInputError):
            write_gif(tmp_path / "x.gif", frames)
    with pytest.raises(InvalidInputError, match="frame_ms"):
        write_gif(tmp_path / "x.gif", np.zeros((2, 3, 3)), frame_ms=0)
    with pytest.raises(InvalidInputError, match="loop"):
        write_gif(tmp_path / "x.gif", np.zeros((2, 3, 3)), loop=-1)
    with pytest.raises(InvalidInputError, match=r"\.gif"):
        write_gif(tmp_path / "x.png", np.zeros((2, 3, 3)))
    assert not any(tmp_path.iterdir())


# --- images and folders ----------------------------------------------------------------------


def test_frame_folder_round_trip_in_natural_order(tmp_path, rng):
    frames = _videos(rng, n=1, t=12)[0]
    names = [f"frame{i}.png" for i in range(12)]  # frame10 must come after frame9, not after frame1
    _save_frames(tmp_path / "clip", frames[::-1], names[::-1])  # write order must not matter
    (tmp_path / "clip" / "notes.txt").write_text("ignored")
    np.testing.assert_array_equal(read_video(tmp_path / "clip"), frames / np.float32(255))


def test_natural_key_orders_numbers_by_value():
    names = ["f10.png", "f2.png", "F1.png", "f02b.png", "g.png"]
    assert sorted(names, key=lambda n: video_io._natural_key(Path(n))) == ["F1.png", "f2.png", "f02b.png", "f10.png", "g.png"]


def test_frame_folder_mixes_modes_and_uses_pillow_luma(tmp_path, rng):
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(rgb).save(folder / "1.png")
    Image.fromarray(rgb).convert("RGBA").save(folder / "2.png")
    Image.fromarray(rgb).convert("P").save(folder / "3.png")
    Image.fromarray(rgb[..., 0]).convert("LA").save(folder / "4.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "5.png")  # 16-bit grayscale
    Image.fromarray(rgb).save(folder / "6.jpg", quality=95)
    video = read_video(folder)
    luma = np.asarray(Image.fromarray(rgb).convert("L")) / np.float32(255)
    np.testing.assert_array_equal(video[0], luma)
    np.testing.assert_array_equal(video[1], luma)
    paletted = np.asarray(Image.fromarray(rgb).convert("P").convert("RGB")) / 255
    np.testing.assert_allclose(video[2], paletted @ LUMA, atol=1 / 255)
    np.testing.assert_array_equal(video[3], rgb[..., 0] / np.float32(255))
    np.testing.assert_allclose(video[4], rgb[..., 0] / 255, atol=1e-6)
    assert np.abs(video[5] - luma).mean() < 0.05  # JPEG is lossy


def test_frame_folder_errors(tmp_path, rng):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no frames here")
    with pytest.raises(InvalidInputError, match=r"empty: no PNG or JPEG frames"):
        read_videos(empty)
    sizes = tmp_path / "sizes"
    _save_frames(sizes, [np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8)], ["a1.png", "a2.png"])
    with pytest.raises(InvalidInputError, match=r"a2.png: frame is 5x4 .* a1.png is 4x4"):
        read_videos(sizes)
    broken = tmp_path / "broken"
    _save_frames(broken, [np.zeros((4, 4), np.uint8)], ["a1.png"])
    (broken / "a2.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="a2.png: cannot read this frame"):
        read_videos(broken)


def test_single_still_image_is_rejected_but_animated_png_is_a_video(tmp_path, rng):
    frames = _videos(rng, n=1, t=3)[0]
    Image.fromarray(frames[0]).save(tmp_path / "one.png")
    with pytest.raises(InvalidInputError, match="single still image"):
        read_videos(tmp_path / "one.png")
    images = [Image.fromarray(f) for f in frames]
    images[0].save(tmp_path / "anim.png", save_all=True, append_images=images[1:])
    np.testing.assert_array_equal(read_video(tmp_path / "anim.png"), frames / np.float32(255))


@pytest.mark.parametrize("name", ["fake.gif", "fake.png", "fake.jpg"])
def test_non_image_files_are_rejected(tmp_path, name):
    (tmp_path / name).write_bytes(b"plain text, not an image")
    with pytest.raises(InvalidInputError, match=f"{name}: cannot read it as an image"):
        read_videos(tmp_path / name)


def test_truncated_gif_is_rejected(tmp_path, rng):
    path = write_gif(tmp_path / "t.gif", _videos(rng, n=1, t=4, h=32, w=32)[0])
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(InvalidInputError, match="t.gif"):
        read_videos(path)


# --- resizing --------------------------------------------------------------------------------


def test_frame_size_resizes_every_frame_and_keeps_the_range(tmp_path, rng):
    np.save(tmp_path / "v.npy", _videos(rng, n=2, t=3, h=16, w=12))
    wide = read_videos(tmp_path / "v.npy", layout="NTHW", frame_size=(8, 20))
    square = read_videos(tmp_path / "v.npy", layout="NTHW", frame_size=6)
    assert wide.shape == (2, 3, 8, 20) and square.shape == (2, 3, 6, 6)
    assert wide.dtype == np.float32 and wide.min() >= 0 and wide.max() <= 1


def test_shrinking_averages_instead_of_aliasing(tmp_path):
    checkerboard = (np.indices((32, 32)).sum(axis=0) % 2).astype(np.uint8) * 255
    np.save(tmp_path / "c.npy", np.stack([checkerboard] * 2))
    small = read_video(tmp_path / "c.npy", frame_size=8)
    np.testing.assert_allclose(small, 0.5, atol=0.05)


# --- to_uint8 and atomic writes --------------------------------------------------------------


def test_to_uint8_rounds_clips_and_checks():
    values = np.array([-1.0, 0.0, 0.2 / 255, 0.6 / 255, 0.5, 1.0, 7.0])
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 0, 1, 128, 255, 255])
    np.testing.assert_array_equal(to_uint8(np.array([True, False])), [255, 0])
    with pytest.raises(InvalidInputError, match="NaN"):
        to_uint8(np.array([np.nan]))
    with pytest.raises(InvalidInputError, match="dtype"):
        to_uint8(np.array([3], dtype=np.int16))


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)))
def test_to_uint8_inverts_division_by_255(pixels):
    np.testing.assert_array_equal(to_uint8(pixels.astype(np.float32) / 255), pixels)
    np.testing.assert_array_equal(to_uint8(pixels), pixels)


def test_failed_replace_leaves_the_old_file_and_no_temporary(tmp_path, rng, monkeypatch):
    target = write_npy(tmp_path / "keep.npy", _videos(rng))
    before = target.read_bytes()

    def fail(*_args):
        raise OSError("disk full")

    import videoae.atomic

    monkeypatch.setattr(videoae.atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_npy(target, np.zeros((1, 2, 3, 3)))
    with pytest.raises(OSError, match="disk full"):
        write_gif(tmp_path / "keep.npy.gif", np.zeros((2, 3, 3)))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npy"]


def test_invalid_data_never_touches_an_existing_file(tmp_path, rng):
    gif = write_gif(tmp_path / "a.gif", _videos(rng, n=1)[0])
    npy = write_npy(tmp_path / "a.npy", _videos(rng))
    before = {p: p.read_bytes() for p in (gif, npy)}
    with pytest.raises(InvalidInputError):
        write_gif(gif, np.full((2, 3, 3), np.nan))
    with pytest.raises(InvalidInputError):
        write_npy(npy, np.zeros((2, 3)))
    assert {p: p.read_bytes() for p in (gif, npy)} == before
    assert len(list(tmp_path.iterdir())) == 2


def test_failure_while_writing_leaves_the_old_file(tmp_path, rng, monkeypatch):
    target = write_npy(tmp_path / "v.npy", _videos(rng))
    before = target.read_bytes()

    def half_write(handle, *_args, **_kwargs):
        handle.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(video_writers.np, "save", half_write)
    with pytest.raises(KeyboardInterrupt):
        write_npy(target, _videos(rng))
    assert target.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_keeps_the_existing_file(tmp_path, rng):
    target = write_gif(tmp_path / "ro" / "a.gif", _videos(rng, n=1)[0])
    before = target.read_bytes()
    target.parent.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            write_gif(target, np.zeros((2, 3, 3)))
    finally:
        target.parent.chmod(0o700)
    assert target.read_bytes() == before


def test_writing_to_a_folder_path_is_refused(tmp_path):
    (tmp_path / "out.npy").mkdir()
    with pytest.raises(InvalidInputError, match="is a folder"):
        write_npy(tmp_path / "out.npy", np.zeros((1, 2, 3, 3)))


def test_written_files_have_ordinary_permissions(tmp_path, rng):
    target = write_npy(tmp_path / "p.npy", _videos(rng))
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_npz_member_damage_is_reported(tmp_path, rng):
    np.savez(tmp_path / "v.npz", videos=_videos(rng))
    with zipfile.ZipFile(tmp_path / "v.npz") as archive:
        info = archive.infolist()[0]
    raw = bytearray((tmp_path / "v.npz").read_bytes())
    start = info.header_offset + 30 + len(info.filename) + 200  # inside the member's data
    raw[start : start + 20] = bytes(20)
    (tmp_path / "v.npz").write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError, match="v.npz"):
        read_videos(tmp_path / "v.npz")


# -- sizes are bounded before decoding -----------------------------------------------------------


def _one_pixel_gif(path: Path, *, size: int, num_frames: int) -> Path:
    """A GIF whose frames are size x size but each stores one pixel: tiny on disk, huge decoded."""
    out = bytearray(b"GIF89a" + size.to_bytes(2, "little") * 2 + bytes([0x80, 0, 0]) + bytes([0, 0, 0, 255, 255, 255]))
    for index in range(num_frames):
        out += bytes([0x21, 0xF9, 4, 0, 10, 0, 0, 0])  # graphic control: 10 ms per frame
        position = (index % size).to_bytes(2, "little")
        out += b"\x2c" + position + position + (1).to_bytes(2, "little") * 2 + b"\x00"  # a 1x1 image
        out += bytes([2, 2, 0x44, 0x01, 0])  # LZW: clear, pixel 0, end
    path.write_bytes(bytes(out + b"\x3b"))
    return path


def test_a_gif_declaring_gigabytes_is_refused_before_decoding(tmp_path, monkeypatch):
    bomb = _one_pixel_gif(tmp_path / "bomb.gif", size=4096, num_frames=300)  # 5 gigapixels in 8 KB
    assert bomb.stat().st_size < 10_000
    monkeypatch.setattr(video_io, "_image_to_gray", lambda image: pytest.fail("a frame was decoded"))
    with pytest.raises(InvalidInputError, match=r"declares 5,033,164,800 pixel values .* raise the limit with VIDEOAE_MAX_VIDEO_VALUES=N"):
        read_video(bomb, frame_size=64)


def test_large_frames_within_the_limit_still_read_and_resize(tmp_path):
    video = read_video(_one_pixel_gif(tmp_path / "big.gif", size=4096, num_frames=2), frame_size=64)
    assert video.shape == (2, 64, 64)


def test_the_limit_can_be_raised_and_applies_to_npz_npy_and_frame_folders(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "zeros.npz", videos=np.zeros((8, 64, 64), np.uint8))  # 32,768 values
    np.save(tmp_path / "zeros.npy", np.zeros((8, 64, 64), np.uint8))
    _save_frames(tmp_path / "frames", np.zeros((8, 64, 64), np.uint8), [f"{i}.png" for i in range(8)])
    monkeypatch.setenv("VIDEOAE_MAX_VIDEO_VALUES", "30000")
    for name in ("zeros.npz", "zeros.npy", "frames"):
        with pytest.raises(InvalidInputError, match="declares 32,768 pixel values .* limit of 30,000"):
            read_video(tmp_path / name)
    monkeypatch.setenv("VIDEOAE_MAX_VIDEO_VALUES", "40000")
    assert all(read_video(tmp_path / name).shape == (8, 64, 64) for name in ("zeros.npz", "zeros.npy", "frames"))


@pytest.mark.parametrize(
    "value", ["lots", "0", "-5", "1e9", "\u00b2", "9" * 5000], ids=["word", "zero", "negative", "float", "superscript", "5000-digits"]
)
def test_a_bad_limit_in_the_environment_is_blamed_on_the_environment_not_the_file(tmp_path, monkeypatch, value):
    np.savez_compressed(tmp_path / "zeros.npz", videos=np.zeros((8, 64, 64), np.uint8))
    np.save(tmp_path / "zeros.npy", np.zeros((8, 64, 64), np.uint8))
    _save_frames(tmp_path / "frames", np.zeros((8, 64, 64), np.uint8), [f"{i}.png" for i in range(8)])
    _one_pixel_gif(tmp_path / "clip.gif", size=16, num_frames=3)
    monkeypatch.setenv("VIDEOAE_MAX_VIDEO_VALUES", value)
    for name in ("zeros.npz", "zeros.npy", "frames", "clip.gif"):
        with pytest.raises(InvalidInputError) as caught:
            read_video(tmp_path / name)
        message = str(caught.value)
        assert message.startswith("the environment variable VIDEOAE_MAX_VIDEO_VALUES=") and "not a positive whole number" in message
        assert name not in message and "damaged" not in message and len(message) < 300


def test_a_truncated_gif_gives_one_line(tmp_path, rng):
    path = write_gif(tmp_path / "rgb.gif", rng.random((20, 64, 64), dtype=np.float32))
    data = path.read_bytes()
    for length in range(100, len(data), max(1, len(data) // 40)):  # cut anywhere: never a traceback
        (tmp_path / "cut.gif").write_bytes(data[:length])
        with pytest.raises(InvalidInputError):
            read_video(tmp_path / "cut.gif")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.npy")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_video(tmp_path / "pipe.npy")


def test_evaluation_data_far_past_the_horizon_is_bounded_too(monkeypatch):
    from videoae.data.evaluation_sets import evaluation_data

    with pytest.raises(
        InvalidInputError, match=r"embedded test set at 1,000,000,000 frames per sequence: declares .* VIDEOAE_MAX_VIDEO_VALUES"
    ):
        evaluation_data("embedded", num_frames=10**9)  # eval --future 1000000000
    monkeypatch.setenv("VIDEOAE_MAX_VIDEO_VALUES", str(3 * 30 * 64 * 64))
    data = evaluation_data("embedded", num_frames=30, num_sequences=7)
    assert [len(block) for block in data.blocks()] == [3, 3, 1]  # long sequences come fewer per block
