"""Folders of video files as training clips: finding the videos, clips by (video, first frame),
frame_step and fps, skipped short videos, the held-out split, the clip cache, and training on them."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("av", reason="PyAV is not installed (pip install 'videoae[video]')")

from video_files import frame_number, moving_bar, write_video  # noqa: E402
from videoae.data.clip_cache import ClipCache, write_clip_cache  # noqa: E402
from videoae.data.video_clips import (  # noqa: E402
    ClipOptions,
    ContainerFrames,
    VideoClips,
    find_videos,
    heldout_split,
    is_video_collection,
    training_clips,
)
from videoae.errors import InvalidInputError  # noqa: E402
from videoae.models.checkpoint import read_checkpoint  # noqa: E402
from videoae.run_folder import LAST_CHECKPOINT  # noqa: E402
from videoae.training.config import RunConfig  # noqa: E402
from videoae.training.loop import train  # noqa: E402
from videoae.training.periodic_eval import run_evaluation_videos  # noqa: E402

SHAPE = (1, 16, 16)
LENGTHS = {"a.mp4": 30, "b.webm": 24, "sub/c.mkv": 36, "sub/deeper/d.avi": 20, "e.mov": 6}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five short videos in nested folders (e.mov too short for most clips), plus files that are not videos."""
    root = tmp_path_factory.mktemp("videos")
    for name, length in LENGTHS.items():
        write_video(root / name, moving_bar(length), fps=10)
    (root / "notes.txt").write_text("not a list of videos")
    (root / "frame.png").write_bytes(b"\x89PNG")
    return root


def numbers(clip: np.ndarray) -> list[int]:
    return [frame_number(frame) for frame in clip]


def test_a_folder_is_searched_recursively_in_path_order(folder):
    assert is_video_collection(folder) and is_video_collection(folder / "a.mp4") and is_video_collection(f"{folder}/**/*.mp4")
    found = [p.relative_to(folder).as_posix() for p in find_videos(folder)]
    assert sorted(found) == sorted(LENGTHS) and found == sorted(found, key=os.fsencode)
    assert [p.name for p in find_videos(f"{folder}/**/*.m*")] == ["a.mp4", "e.mov", "c.mkv"]


def test_a_text_list_names_videos_relative_to_itself(folder, tmp_path):
    listing = folder / "sub" / "list.txt"
    listing.write_text("# training videos\nc.mkv\n\n../a.mp4\n")
    assert [p.name for p in find_videos(listing)] == ["a.mp4", "c.mkv"] or [p.name for p in find_videos(listing)] == ["c.mkv", "a.mp4"]
    listing.write_text("c.mkv\nmissing.mp4\n")
    with pytest.raises(InvalidInputError, match=r"list.txt line 2: missing.mp4: no such video file"):
        find_videos(listing)


def test_a_folder_without_videos_and_a_non_utf8_name_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"empty: no video files \(.mp4 .mkv .webm .avi .mov\) in this folder or below"):
        find_videos(tmp_path / "empty")
    if sys.platform == "linux":
        write_video(tmp_path / "ok.mp4").rename(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"\xff.mp4")))
        with pytest.raises(InvalidInputError, match=r"\\xff.mp4: the file name is not valid UTF-8"):
            find_videos(tmp_path)


def test_clips_are_indexed_by_video_and_first_frame(folder):
    frames = ContainerFrames(find_videos(folder), frame_shape=SHAPE)
    clips = VideoClips(frames, num_frames=5, frame_step=2)
    lengths = [frames.num_frames(v) for v in range(len(frames))]
    assert len(clips) == sum(n - 8 for n in lengths if n >= 9)
    assert clips.skipped == [str(folder / "e.mov")]
    for index in (0, 7, len(clips) - 1):
        video, first = clips.locate(index)
        clip = clips[index]
        assert clip.dtype == torch.uint8 and tuple(clip.shape) == (5, *SHAPE)
        assert numbers(clip.numpy()) == list(range(first, first + 9, 2))
        assert clips.origin(index).first_frame == first and clips.origin(index).time_s == pytest.approx(first / 10)
    # the same clip whatever was decoded before it, and in a batch in any order
    batch = clips.__getitems__([7, 0, 7])
    assert torch.equal(batch[0], clips[7]) and torch.equal(batch[2], clips[7]) and torch.equal(batch[1], clips[0])


def test_resampling_to_a_frame_rate_before_cutting_clips(folder):
    frames = ContainerFrames([folder / "a.mp4"], frame_shape=SHAPE, fps=5)
    clips = VideoClips(frames, num_frames=4)
    assert frames.num_frames(0) == 15
    assert numbers(clips.clip(1)) == [2, 4, 6, 8]


def test_short_videos_are_skipped_with_their_count_logged_once(folder, caplog):
    options = ClipOptions(frame_shape=SHAPE, num_frames=10, eval_data=str(folder / "sub" / "deeper"))
    with caplog.at_level(logging.WARNING, logger="videoae.data.video_clips"):
        clips = training_clips(str(folder), options.__class__(**{**options.__dict__, "eval_data": ""}))
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "skipped 1 video(s) shorter than a clip of 10 frames: e.mov" in skipped[0]
    assert len(clips) > 0


def test_the_held_out_split_is_by_video_fixed_and_never_empty():
    train_videos, heldout = heldout_split(20, 0.1, "x")
    assert len(heldout) == 2 and not set(train_videos) & set(heldout) and sorted(train_videos + heldout) == list(range(20))
    assert heldout_split(20, 0.1, "x") == (train_videos, heldout)
    assert len(heldout_split(2, 0.01, "x")[1]) == 1 and len(heldout_split(2, 0.99, "x")[0]) == 1
    with pytest.raises(InvalidInputError, match="holds 1 video: evaluating on held-out videos needs at least 2"):
        heldout_split(1, 0.1, "x")


def test_training_and_held_out_clips_never_share_a_video(folder):
    options = ClipOptions(frame_shape=SHAPE, num_frames=5, eval_fraction=0.3)
    training, heldout = training_clips(str(folder), options), training_clips(str(folder), options, heldout=True)
    train_files = {training.origin(i).file for i in range(len(training))}
    heldout_files = {heldout.origin(i).file for i in range(len(heldout))}
    assert train_files and heldout_files and not train_files & heldout_files
    assert heldout.clip_stride == 5  # held-out clips do not overlap
    with pytest.raises(InvalidInputError, match="is both in data and eval_data"):
        training_clips(str(folder), ClipOptions(frame_shape=SHAPE, num_frames=5, eval_data=str(folder / "a.mp4")))


def test_the_cache_holds_exactly_the_decoded_frames(folder, tmp_path):
    options = ClipOptions(frame_shape=SHAPE, num_frames=5, frame_step=2)
    index = write_clip_cache(folder, tmp_path / "cache", frame_shape=SHAPE, shard_bytes=20 * 256)
    assert len({v["shard"] for v in index["videos"]}) > 1  # several shards, videos never split
    from_files, from_cache = training_clips(str(folder), options), training_clips(str(tmp_path / "cache"), options)
    assert len(from_files) == len(from_cache)
    picks = [0, 3, len(from_files) // 2, len(from_files) - 1]
    assert np.array_equal(from_files.load(picks), from_cache.load(picks))
    assert [from_files.origin(i) for i in picks] == [from_cache.origin(i) for i in picks]
    with pytest.raises(InvalidInputError, match=r"--channels 3 --size 16 16"):
        ClipCache(tmp_path / "cache", frame_shape=(3, 16, 16))
    with pytest.raises(InvalidInputError, match="already exists"):
        write_clip_cache(folder, tmp_path / "cache", frame_shape=SHAPE)


def video_run(data: Path, **train_options) -> RunConfig:
    model = {"preset": "tiny", "hidden_size": 8, "frame_shape": list(SHAPE), "num_input_frames": 4, "num_future_frames": 4}
    train = dict(data=str(data), batch_size=4, eval_sequences=6, num_workers=0, log_every=2, checkpoint_every=3, eval_every=4)
    return RunConfig.from_dict({"model": model, "train": {**train, **train_options}})


def test_a_run_on_video_files_is_scored_on_held_out_videos_and_resumes_bit_identical(folder, tmp_path):
    run = video_run(folder, max_steps=8, eval_fraction=0.4)
    result = train(run, tmp_path / "straight", progress=False)
    assert result.last_eval["data"]["num_sequences"] == 6
    assert (tmp_path / "straight" / "samples" / "step_000008.gif").is_file()
    scored = run_evaluation_videos(run)  # clips of the held-out videos, spread over them
    heldout = training_clips(str(folder), run.clip_options(), heldout=True)
    assert scored.shape == (6, 8, *SHAPE) and len(heldout) > 6
    assert np.array_equal(scored[0], heldout.clip(0)) and np.array_equal(scored[-1], heldout.clip(len(heldout) - 1))
    train(run.with_overrides(["max_steps=3"]), tmp_path / "stopped", progress=False)
    train(run, tmp_path / "stopped", resume=True, progress=False)
    straight = read_checkpoint(tmp_path / "straight" / LAST_CHECKPOINT).model_state
    resumed = read_checkpoint(tmp_path / "stopped" / LAST_CHECKPOINT).model_state
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


@pytest.mark.slow
def test_worker_processes_decode_the_same_batches_as_the_main_process(folder):
    from videoae.data.training_batches import StepBatchSampler, training_loader

    clips = training_clips(str(folder), ClipOptions(frame_shape=SHAPE, num_frames=5))
    batches = {}
    for workers in (0, 2):
        sampler = StepBatchSampler(start_step=0, end_step=4, global_batch=4, num_items=len(clips), seed=3)
        batches[workers] = list(training_loader(clips, sampler, num_workers=workers, pin_memory=False))
    assert all(torch.equal(a, b) for a, b in zip(batches[0], batches[2])) and len(batches[2]) == 4


@pytest.mark.slow
def test_a_run_on_video_files_killed_with_sigkill_resumes_bit_identical(folder, tmp_path):
    import signal
    import subprocess
    import time

    from videoae.cli import main

    args = ["--preset", "tiny", "--set", "hidden_size=8", "--set", f"frame_shape={list(SHAPE)}", "--set", "num_input_frames=4"]
    args += ["--set", "num_future_frames=4", "--set", f"data={folder}", "--set", "batch_size=4", "--set", "num_workers=0"]
    args += ["--set", "eval_every=1000", "--set", "eval_sequences=4", "--set", "checkpoint_every=7", "--no-progress", "--max-steps", "300"]
    assert main(["train", *args, "--out", str(tmp_path / "straight")]) == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "videoae", "train", *args, "--out", str(killed)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / LAST_CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < read_checkpoint(killed / LAST_CHECKPOINT).step < 300, "the kill should land mid-run"
    assert main(["train", "--resume", str(killed), "--max-steps", "300", "--no-progress"]) == 0
    straight = read_checkpoint(tmp_path / "straight" / LAST_CHECKPOINT).model_state
    resumed = read_checkpoint(killed / LAST_CHECKPOINT).model_state
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
