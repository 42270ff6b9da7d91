"""`videoae eval`, `videoae predict` and `videoae features` on a tiny trained run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videoae.cli import main
from videoae.data import standard_test_set as sts
from videoae.data.moving_mnist import EMBEDDED_TEST_SEED, embedded_test_set, generate
from videoae.data.video_writers import write_gif, write_npy
from videoae.evaluation.evaluate import evaluate
from videoae.evaluation.metrics import METRICS
from videoae.models import build_model
from videoae.models.checkpoint import save_checkpoint

SCORE_KEYS = {*METRICS, "per_frame"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fails(capsys, *argv: str) -> str:
    """Run a command that must fail with one clear line and exit code 2; returns the line."""
    code, out, err = run(capsys, *argv)
    assert code == 2, out + err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("videoae: error: ")
    return err


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Two 15-frame videos in one .npy (frames first, the standard layout)."""
    return write_npy(tmp_path_factory.mktemp("clips") / "two.npy", generate(2, seed=5, num_frames=15))


@pytest.fixture(scope="module")
def small_frames_model(tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.safetensors", build_model("tiny", frame_shape=(1, 32, 32)), step=0)


# -- eval ---------------------------------------------------------------------------------------------


def test_eval_writes_the_documented_json_and_plot(trained_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    code, stdout, _ = run(capsys, "eval", trained_run, "--num-sequences", "4", "--json", out)
    assert code == 0
    record = json.loads(out.read_text())
    assert set(record) == {"prediction", "reconstruction", "baselines", "data", "checkpoint"}
    assert set(record["prediction"]) == SCORE_KEYS and set(record["reconstruction"]) == SCORE_KEYS
    assert set(record["baselines"]) == {"copy_last", "mean", "blank"}
    assert all(set(scores) == SCORE_KEYS for scores in record["baselines"].values())
    assert {len(curve) for curve in record["prediction"]["per_frame"].values()} == {10}
    assert {len(curve) for curve in record["reconstruction"]["per_frame"].values()} == {10}
    data = record["data"]
    assert (data["source"], data["num_sequences"], data["num_digits"]) == ("embedded", 4, 2)
    assert (data["num_input_frames"], data["num_future_frames"]) == (10, 10)
    assert record["checkpoint"].endswith("best.safetensors")
    assert Image.open(out.with_suffix(".png")).format == "PNG"
    for row in ("model: prediction", "model: reconstruction", "baseline: copy_last", "baseline: mean", "baseline: blank"):
        assert row in stdout
    assert "blank is all 0 (background)" in stdout and "verdict: " in stdout
    assert "nats per frame" in stdout and "multiply by the number of frames for per-sequence" in stdout
    mse = float(next(line for line in stdout.splitlines() if line.startswith("model: prediction")).split()[3])
    assert mse == pytest.approx(record["prediction"]["mse"], abs=0.01)


def test_eval_rolls_out_past_the_trained_horizon(trained_run, tmp_path, capsys):
    out = tmp_path / "long.json"
    assert run(capsys, "eval", trained_run, "--num-sequences", "2", "--future", "25", "--json", out, "--no-plot")[0] == 0
    record = json.loads(out.read_text())
    assert {len(curve) for curve in record["prediction"]["per_frame"].values()} == {25}
    assert len(record["baselines"]["copy_last"]["per_frame"]["mse"]) == 25
    assert record["data"]["num_future_frames"] == 25


@pytest.mark.parametrize("digits", [1, 3])
def test_eval_on_out_of_domain_digit_counts(trained_run, tmp_path, capsys, digits):
    record = evaluation_of(trained_run, tmp_path, capsys, "--num-sequences", "2", "--num-digits", digits)
    assert record["data"]["num_digits"] == digits
    videos = generate(2, seed=EMBEDDED_TEST_SEED, digits="test", num_digits=digits)
    expected = evaluate(None, videos)["baselines"]["mean"]["mse"]
    assert record["baselines"]["mean"]["mse"] == pytest.approx(expected, rel=1e-9)
    assert expected != pytest.approx(evaluate(None, embedded_test_set(2))["baselines"]["mean"]["mse"])


def evaluation_of(run_dir: Path, tmp_path: Path, capsys, *extra: str) -> dict:
    out = tmp_path / "reference.json"
    assert run(capsys, "eval", run_dir, *extra, "--json", out, "--no-plot")[0] == 0
    assert not out.with_suffix(".png").exists()
    return json.loads(out.read_text())


def test_eval_on_a_video_file_scores_the_frames_after_the_input(trained_run, clips, tmp_path, capsys):
    record = evaluation_of(trained_run, tmp_path, capsys, "--data", clips)
    assert record["data"]["source"] == str(clips) and record["data"]["num_sequences"] == 2
    # 15 frames: the trained horizon (10) is capped by the 5 frames left after the input.
    assert len(record["prediction"]["per_frame"]["bce"]) == 5
    err = fails(capsys, "eval", trained_run, "--data", clips, "--future", "6")
    assert "15 frames per sequence" in err and "--future 5" in err


def test_eval_on_the_standard_test_file(trained_run, tmp_path, capsys, monkeypatch):
    fake = np.ascontiguousarray(generate(6, seed=9).transpose(1, 0, 2, 3))  # (20, 6, 64, 64)
    path = sts.standard_test_set_path(tmp_path / "data")
    path.parent.mkdir(parents=True)
    np.save(path, fake)
    monkeypatch.setenv("VIDEOAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(sts, "STANDARD_TEST_SET_SHAPE", fake.shape)
    monkeypatch.setattr(sts, "NUM_TEST_SEQUENCES", 2)
    record = evaluation_of(trained_run, tmp_path, capsys, "--data", "standard", "--num-sequences", "2")
    assert record["data"]["source"] == "standard" and record["data"]["num_sequences"] == 2
    out = tmp_path / "test_split.json"
    assert run(capsys, "eval", trained_run, "--data", "standard-test", "--json", out, "--no-plot")[0] == 0
    assert json.loads(out.read_text())["data"]["num_sequences"] == 2
    assert "at most 10 can be scored" in fails(capsys, "eval", trained_run, "--data", "standard", "--future", "11")


def test_eval_without_the_standard_file_says_how_to_download_it(trained_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIDEOAE_DATA_DIR", str(tmp_path / "empty"))
    assert "videoae data download moving-mnist" in fails(capsys, "eval", trained_run, "--data", "standard")


# -- predict ------------------------------------------------------------------------------------------


def test_predict_writes_a_set_of_files_per_video(trained_run, clips, tmp_path, capsys):
    gif = write_gif(tmp_path / "one.gif", generate(1, seed=2, num_frames=10)[0])
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "predict", trained_run, clips, gif, "-o", out, "--future", "12")
    assert code == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("two_0", "two_1", "one"):
        assert {f"{stem}.gif", f"{stem}.png", f"{stem}_prediction.npy", f"{stem}.mp4"} <= names
        assert str(out / f"{stem}_prediction.npy") in stdout and str(out / f"{stem}.mp4") in stdout
        frames = np.load(out / f"{stem}_prediction.npy")
        assert frames.dtype == np.float32 and frames.shape == (12, 64, 64)
        assert frames.min() >= 0.0 and frames.max() <= 1.0
    assert len(names) == 12
    with Image.open(out / "two_0.gif") as animation:
        assert animation.n_frames == 10 + 12
    assert not np.array_equal(np.load(out / "two_0_prediction.npy"), np.load(out / "two_1_prediction.npy"))


def test_predict_on_a_folder_of_frames_refuses_other_sizes_unless_resized(trained_run, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(generate(1, seed=4, num_frames=12, image_size=32)[0]):
        Image.fromarray(frame).save(folder / f"frame{t}.png")
    out = tmp_path / "out"
    err = fails(capsys, "predict", trained_run, folder, "-o", out)
    assert "32x32" in err and "64x64" in err and "--resize" in err
    assert not out.exists()
    code, stdout, stderr = run(capsys, "predict", trained_run, folder, "-o", out, "--resize", "--future", "3")
    assert code == 0 and "resizing 32x32 frames to the model's 64x64" in stderr
    assert np.load(out / "frames_prediction.npy").shape == (3, 64, 64)
    assert str(out / "frames.gif") in stdout


# -- features -----------------------------------------------------------------------------------------


def test_features_of_embedded_sequences(trained_run, tmp_path, capsys):
    out = tmp_path / "feats.npy"
    code, stdout, _ = run(capsys, "features", trained_run, "embedded", "--num-sequences", "5", "-o", out)
    assert code == 0 and "(5, 16)" in stdout
    features = np.load(out)
    assert features.dtype == np.float32 and features.shape == (5, 2 * 1 * 8)  # tiny: 1 layer of 8 units
    again = tmp_path / "again.npy"
    assert run(capsys, "features", trained_run, "embedded", "--num-sequences", "5", "-o", again, "--batch-size", "5")[0] == 0
    np.testing.assert_array_equal(np.load(again), features)


def test_features_of_a_video_file(trained_run, clips, tmp_path, capsys):
    out = tmp_path / "feats.npy"
    assert run(capsys, "features", trained_run, clips, "-o", out)[0] == 0
    assert np.load(out).shape == (2, 16)


# -- bad input: one line, exit code 2, nothing damaged -------------------------------------------------


@pytest.fixture()
def damaged_checkpoint(trained_run, tmp_path) -> Path:
    copy = tmp_path / "damaged.safetensors"
    shutil.copy(trained_run / "checkpoints" / "best.safetensors", copy)
    with open(copy, "r+b") as handle:
        handle.truncate(copy.stat().st_size // 2)
    return copy


@pytest.mark.parametrize("command", ["eval", "features", "predict"])
def test_bad_checkpoints_are_refused(command, tmp_path, capsys, damaged_checkpoint, small_frames_model, clips):
    tail = {"eval": [], "features": ["embedded", "-o", tmp_path / "f.npy"], "predict": [clips, "-o", tmp_path / "p"]}[command]
    assert "does not exist" in fails(capsys, command, tmp_path / "missing.safetensors", *tail)
    assert "damaged" in fails(capsys, command, damaged_checkpoint, *tail)
    (tmp_path / "empty").mkdir()
    assert "no checkpoint in" in fails(capsys, command, tmp_path / "empty", *tail)
    err = fails(capsys, command, small_frames_model, *tail)
    assert "32x32" in err and "64x64" in err
    assert not (tmp_path / "f.npy").exists() and not (tmp_path / "p").exists()


@pytest.mark.parametrize("future", ["0", "-2"])
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_future_must_be_positive(trained_run, clips, tmp_path, capsys, command, future):
    tail = [] if command == "eval" else [clips, "-o", tmp_path / "p"]
    assert f"--future must be at least 1, got {future}" in fails(capsys, command, trained_run, *tail, "--future", future)


def test_unreadable_videos_and_empty_folders_are_refused(trained_run, clips, tmp_path, capsys):
    broken = tmp_path / "broken.gif"
    broken.write_bytes(b"GIF89a not really")
    empty = tmp_path / "no_frames"
    empty.mkdir()
    out = tmp_path / "out"
    assert "cannot read it as an image" in fails(capsys, "predict", trained_run, clips, broken, "-o", out)
    assert not out.exists()  # every input is read before anything is written
    assert "no PNG or JPEG frames" in fails(capsys, "predict", trained_run, empty, "-o", out)
    assert "cannot read it as an image" in fails(capsys, "eval", trained_run, "--data", broken)
    assert "no PNG or JPEG frames" in fails(capsys, "features", trained_run, empty, "-o", tmp_path / "f.npy")


def test_outputs_that_are_files_or_folders_are_refused_and_left_intact(trained_run, clips, tmp_path, capsys):
    existing = tmp_path / "existing.npy"
    existing.write_bytes(b"keep me")
    assert "is a file, not a folder" in fails(capsys, "predict", trained_run, clips, "-o", existing)
    assert "is a file, not a folder" in fails(capsys, "eval", trained_run, "--json", existing / "eval.json")
    assert "is a folder" in fails(capsys, "features", trained_run, "embedded", "-o", tmp_path)
    # A failure after the output was named leaves the old file as it was.
    broken = tmp_path / "broken.gif"
    broken.write_bytes(b"GIF89a not really")
    fails(capsys, "features", trained_run, broken, "-o", existing)
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gif", "existing.npy"]


def test_digits_only_apply_to_the_embedded_set(trained_run, clips, capsys):
    assert "--num-digits only applies to the embedded test set" in fails(capsys, "eval", trained_run, "--data", clips, "--num-digits", "3")


def test_the_embedded_data_is_the_embedded_test_set(trained_run, tmp_path, capsys):
    """`eval` on the embedded set and on the same sequences written to a file agree exactly."""
    path = write_npy(tmp_path / "embedded.npy", embedded_test_set(2))
    from_file = evaluation_of(trained_run, tmp_path, capsys, "--data", path)
    embedded = evaluation_of(trained_run, tmp_path, capsys, "--num-sequences", "2")
    assert from_file["prediction"]["bce"] == pytest.approx(embedded["prediction"]["bce"], rel=1e-6)
    assert embedded["data"]["seed"] == EMBEDDED_TEST_SEED


def test_an_autoencoder_is_scored_on_reconstruction_and_cannot_predict(tmp_path, clips, capsys):
    checkpoint = save_checkpoint(tmp_path / "ae.safetensors", build_model("tiny", hidden_size=8, predict=False), step=0)
    out = tmp_path / "ae.json"
    code, stdout, _ = run(capsys, "eval", checkpoint, "--num-sequences", "2", "--json", out)
    assert code == 0 and "model: prediction" not in stdout and "no per-frame plot" in stdout
    assert set(json.loads(out.read_text())) == {"reconstruction", "baselines", "data", "checkpoint"}
    assert "without a future predictor" in fails(capsys, "predict", checkpoint, clips, "-o", tmp_path / "p")
    assert "no future predictor" in fails(capsys, "eval", checkpoint, "--plot", tmp_path / "x.png")


# -- what predict can use -----------------------------------------------------------------------------


def test_generated_gifs_are_predicted_as_they_are(trained_run, tmp_path, capsys):
    clips = tmp_path / "clips"
    assert run(capsys, "data", "generate", "--format", "gif", "--num", "2", "-o", clips)[0] == 0
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, "predict", trained_run, *sorted(clips.iterdir()), "-o", out)
    assert code == 0 and "resiz" not in stderr
    assert np.load(out / "sequence_000001_prediction.npy").shape == (10, 64, 64)


@pytest.mark.parametrize("num, picture", [(1, "one video inside a border"), (4, "2 x 2 videos side by side")])
@pytest.mark.parametrize("resize", [False, True])
def test_preview_pictures_are_refused_with_the_command_that_makes_videos(trained_run, tmp_path, capsys, num, picture, resize):
    preview = tmp_path / "preview.gif"
    assert run(capsys, "data", "preview", "--num", num, "-o", preview)[0] == 0
    err = fails(capsys, "predict", trained_run, preview, "-o", tmp_path / "out", *(["--resize"] if resize else []))
    assert picture in err and "videoae data generate --format gif" in err
    assert not (tmp_path / "out").exists()


def test_frames_of_another_shape_are_refused_with_how_to_crop_them(trained_run, tmp_path, capsys):
    wide = tmp_path / "wide.npy"
    np.save(wide, np.random.default_rng(0).integers(0, 256, (12, 36, 64), dtype=np.uint8))  # one 64x36 video
    err = fails(capsys, "predict", trained_run, wide, "-o", tmp_path / "out", "--resize")
    assert "64x36" in err and "squash" in err and "ffmpeg" in err and "crop=" in err


def test_a_moving_mnist_video_with_black_rows_is_not_mistaken_for_a_picture(trained_run, tmp_path, capsys):
    video = generate(1, seed=1, num_frames=12)
    video[:, :, :3] = 0  # rows that stay black in every frame are background, not lines between tiles
    path = write_npy(tmp_path / "black_rows.npy", video)
    assert run(capsys, "predict", trained_run, path, "-o", tmp_path / "out")[0] == 0


@pytest.mark.parametrize(
    "command, phases",
    [
        (["eval", "--num-sequences", "3"], ["scoring the embedded test set"]),
        (["features", "embedded", "--num-sequences", "3"], ["encoding the embedded test set"]),
        (["predict", "CLIPS"], ["reading videos", "predicting and writing"]),
    ],
)
def test_long_commands_show_their_phase_on_a_terminal_only(trained_run, clips, tmp_path, capsys, monkeypatch, command, phases):
    import videoae.progress

    def argv(name: str) -> list:
        out = ["-o", tmp_path / name] if command[0] == "predict" else ["-o", tmp_path / f"{name}.npy"] if command[0] == "features" else []
        return [command[0], trained_run, *[clips if arg == "CLIPS" else arg for arg in command[1:]], *out]

    code, _, stderr = run(capsys, *argv("quiet"))
    assert code == 0 and stderr == ""  # nothing in a log or a pipe
    monkeypatch.setattr(videoae.progress, "wants_bar", lambda stream: True)
    code, _, stderr = run(capsys, *argv("loud"))
    assert code == 0 and all(phase in stderr for phase in phases)


# -- outputs never replace inputs, never collide, and are checked before any work -----------------------


def test_predict_into_its_input_folder_never_replaces_the_input(trained_run, tmp_path, capsys):
    clip = write_gif(tmp_path / "clip.gif", generate(1, seed=3, num_frames=12)[0])
    before = clip.read_bytes()
    for out in (tmp_path, tmp_path / ".." / tmp_path.name):
        assert "would replace the input" in fails(capsys, "predict", trained_run, clip, "-o", out)
    assert clip.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_features_never_write_over_their_input_file(trained_run, clips, tmp_path, capsys, link):
    data = tmp_path / "videos.npy"
    shutil.copy(clips, data)
    before = data.read_bytes()
    output = {"same": data, "symlink": tmp_path / "sym.npy", "hardlink": tmp_path / "hard.npy"}[link]
    if link == "symlink":
        output.symlink_to(data)
    elif link == "hardlink":
        os.link(data, output)
    assert "would replace the input" in fails(capsys, "features", trained_run, data, "-o", output)
    assert data.read_bytes() == before


def test_eval_plot_never_replaces_a_frame_of_its_data(trained_run, tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(generate(1, seed=4, num_frames=14)[0]):
        Image.fromarray(frame).save(frames / f"{index:03d}.png")
    before = (frames / "000.png").read_bytes()
    assert "would replace the input" in fails(capsys, "eval", trained_run, "--data", frames, "--plot", frames / "000.png")
    assert "would add a frame to the input folder" in fails(capsys, "predict", trained_run, frames, "-o", frames)
    assert (frames / "000.png").read_bytes() == before and len(list(frames.iterdir())) == 14


def test_predict_refuses_two_videos_that_would_share_a_name_before_writing(trained_run, tmp_path, capsys):
    write_npy(tmp_path / "a.npy", generate(2, seed=1, num_frames=12))  # videos a_0 and a_1
    write_npy(tmp_path / "a_0.npy", generate(1, seed=2, num_frames=12))
    out = tmp_path / "out"
    err = fails(capsys, "predict", trained_run, tmp_path / "a.npy", tmp_path / "a_0.npy", "-o", out)
    assert "would both write" in err and "a.npy (video 0)" in err
    assert not out.exists()


def test_predict_checks_every_output_before_the_work(trained_run, clips, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "two_1.png").mkdir(parents=True)  # the second video's strip cannot be written
    assert "two_1.png: is a folder" in fails(capsys, "predict", trained_run, clips, "-o", out)
    assert [p.name for p in out.iterdir()] == ["two_1.png"], "no partial outputs"


def test_predict_refuses_an_input_whose_output_names_would_be_too_long(trained_run, tmp_path, capsys):
    clip = write_gif(tmp_path / ("v" * 245 + ".gif"), generate(1, seed=3, num_frames=12)[0])
    err = fails(capsys, "predict", trained_run, clip, "-o", tmp_path / "out")
    assert "_prediction.npy" in err and "past the 255 bytes a file name may have" in err and len(err) < 400
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_an_output_folder_that_is_a_symlink_loop_is_named_as_such(trained_run, clips, tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert "symbolic link that leads nowhere" in fails(capsys, "predict", trained_run, clips, "-o", loop)
    assert "symbolic link that leads nowhere" in fails(capsys, "features", trained_run, clips, "-o", loop / "f.npy")


def test_sequences_first_arrays_get_advice_about_the_layout_not_the_input_frames(trained_run, tmp_path, capsys):
    # (N, T, 1, H, W): the shape the 5-D message recommends, read as T=2 under the default layout
    np.save(tmp_path / "five.npy", generate(2, seed=1, num_frames=12)[:, :, None])
    err = fails(capsys, "predict", trained_run, tmp_path / "five.npy", "-o", tmp_path / "out")
    assert "as 12 video(s) of 2 frames" in err and "pass --layout NTHW" in err
    code, _, _ = run(capsys, "predict", trained_run, tmp_path / "five.npy", "--layout", "NTHW", "-o", tmp_path / "out")
    assert code == 0
    err = fails(capsys, "features", trained_run, tmp_path / "five.npy", "-o", tmp_path / "f.npy")
    assert "pass --layout NTHW" in err


def test_a_huge_future_is_refused_before_allocating(trained_run, clips, tmp_path, capsys):
    assert "more than the limit" in fails(capsys, "predict", trained_run, clips, "--future", 10**9, "-o", tmp_path / "out")
    assert not (tmp_path / "out").exists()
