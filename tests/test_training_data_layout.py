"""Your own arrays train safely: a sequences-first (N, T, H, W) array, what generate() returns, is
read right when its layout is named and refused with advice when it is not."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from videoae.cli import main
from videoae.data.moving_mnist import generate
from videoae.data.training_batches import training_dataset
from videoae.data.video_io import read_videos
from videoae.errors import InvalidInputError
from videoae.training.config import TrainConfig

SETTINGS = dict(num_frames=20, image_size=64, seed=0, num_digits=2, speed=(0.1, 0.1), digits="train")


@pytest.fixture(scope="module")
def sequences_first(tmp_path_factory) -> tuple:
    videos = generate(30, seed=3)  # (N, T, H, W) = (30, 20, 64, 64)
    path = tmp_path_factory.mktemp("arrays") / "mine.npy"
    np.save(path, videos)
    return path, videos


def test_an_unnamed_sequences_first_array_is_refused_with_the_setting_to_use(sequences_first):
    path, _ = sequences_first
    with pytest.raises(InvalidInputError) as refused:
        training_dataset(str(path), **SETTINGS)
    message = str(refused.value)
    assert "as 20 videos of 30 frames" in message and "it holds 30 videos of 20 frames" in message
    assert "--set layout=NTHW" in message and "--set layout=TNHW" in message


def test_a_named_layout_reads_the_sequences_as_they_are(sequences_first):
    path, videos = sequences_first
    dataset = training_dataset(str(path), **SETTINGS, layout="NTHW")
    assert len(dataset) == 30
    assert np.array_equal(np.asarray(dataset[7]).reshape(20, 64, 64), videos[7])
    as_read = training_dataset(str(path), **SETTINGS, layout="TNHW")
    assert len(as_read) == 20  # the user said so: frames first, as read


def test_a_small_frames_first_file_trains_without_doubt(tmp_path):
    from videoae.data.video_writers import write_npy

    path = write_npy(tmp_path / "twelve.npy", generate(12, seed=2))  # (20, 12, 64, 64): the other reading has 12-frame videos
    assert len(training_dataset(str(path), **SETTINGS)) == 12


def test_a_short_sequences_first_array_gets_the_layout_in_its_refusal(tmp_path):
    path = tmp_path / "few.npy"
    np.save(path, generate(8, seed=1))  # read frames first: 20 videos of 8 frames, too short
    with pytest.raises(InvalidInputError, match=r"has 8 frames per sequence; the model needs 20; .*--set layout=NTHW"):
        training_dataset(str(path), **SETTINGS)


def test_layout_is_a_train_setting_and_the_train_command_refuses_in_one_line(sequences_first, tmp_path, capsys):
    assert TrainConfig(layout="NTHW").layout == "NTHW"
    with pytest.raises(InvalidInputError, match="layout must be one of auto, TNHW, NTHW"):
        TrainConfig(layout="NCHW")
    path, _ = sequences_first
    code = main(["train", "--preset", "tiny", "--set", f"data={path}", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--set layout=NTHW" in err
    assert not (tmp_path / "run").exists()


def test_eval_and_predict_readers_warn_about_the_same_doubt(sequences_first, caplog):
    path, _ = sequences_first
    with caplog.at_level(logging.WARNING, logger="videoae.data.video_io"):
        assert read_videos(path).shape[:2] == (20, 30)
    assert "it holds 30 videos of 20 frames" in caplog.text and "--layout NTHW" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="videoae.data.video_io"):
        read_videos(path, layout="TNHW")  # named: no doubt
        read_videos(path, layout="NTHW")
    assert caplog.text == ""


def test_train_help_names_the_data_setting(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--set data=PATH" in " ".join(capsys.readouterr().out.split())
