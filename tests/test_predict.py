"""Inference on videos, evaluation data and rollouts past the trained horizon (library side)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from videoae.data.evaluation_sets import evaluation_data
from videoae.data.moving_mnist import EMBEDDED_TEST_SEED, embedded_test_set, generate
from videoae.data.video_writers import write_npy
from videoae.errors import InvalidInputError
from videoae.evaluation.evaluate import evaluate, evaluate_data
from videoae.evaluation.metrics import per_frame_metrics
from videoae.evaluation.predict import encoder_features, predict_videos
from videoae.models import build_model
from videoae.reporting.prediction_files import save_features, write_prediction

HORIZON = 10  # the tiny preset's trained horizon


def tiny(**overrides):
    torch.manual_seed(0)
    return build_model("tiny", hidden_size=8, **overrides).eval()


@pytest.fixture(scope="module")
def videos() -> np.ndarray:
    return embedded_test_set(6)  # uint8 (6, 20, 64, 64)


# -- rollouts past the trained horizon ----------------------------------------------------------------


@pytest.mark.parametrize("conditional", [True, False])
def test_evaluation_scores_the_free_running_rollout_past_the_horizon(conditional):
    model = tiny(conditional_prediction=conditional)
    future = 25
    clips = generate(2, seed=EMBEDDED_TEST_SEED, digits="test", num_frames=HORIZON + future)
    result = evaluate(model, clips, num_input_frames=HORIZON, num_future=future)
    assert len(result["prediction"]["per_frame"]["bce"]) == future
    frames = torch.from_numpy(clips).float().div(255).unsqueeze(2)
    rollout = model.predict(frames[:, :HORIZON], future)
    expected = per_frame_metrics(rollout, frames[:, HORIZON:])["mse"].double().mean(0)
    np.testing.assert_allclose(result["prediction"]["per_frame"]["mse"], expected.numpy(), rtol=1e-5)


def test_evaluation_feeds_a_conditional_decoder_its_own_output():
    model = tiny(conditional_prediction=True, decoder_training_input="ground_truth")
    clips = torch.from_numpy(generate(2, seed=1, num_frames=20)).float().div(255).unsqueeze(2)
    inputs, truth = clips[:, :10], clips[:, 10:]
    with torch.no_grad():
        model.train()
        teacher_forced = model(inputs, truth)["prediction"]
        model.eval()
        evaluated = model(inputs, truth)["prediction"]
    assert torch.allclose(evaluated, model.predict(inputs, 10), atol=1e-6)
    # Frame 1 sees zeros either way; from frame 2 on the truth would change what the decoder sees.
    assert not torch.allclose(evaluated[:, 1:], teacher_forced[:, 1:], atol=1e-6)


# -- predict_videos -----------------------------------------------------------------------------------


def test_predict_videos_shapes_and_truth(videos):
    model = tiny()
    out = predict_videos(model, videos[:2, :15], num_future=12, batch_size=1)
    assert out.inputs.shape == (2, 10, 64, 64) and out.inputs.dtype == np.float32
    assert out.reconstruction.shape == (2, 10, 64, 64)
    assert out.prediction.shape == (2, 12, 64, 64) and out.prediction.dtype == np.float32
    assert out.truth.shape == (2, 5, 64, 64)  # the frames the video has after its input
    np.testing.assert_array_equal(out.truth, videos[:2, 10:15] / np.float32(255))
    frames = torch.from_numpy(videos[:2, :10].copy()).float().div(255).unsqueeze(2)
    np.testing.assert_allclose(out.prediction, model.predict(frames, 12)[:, :, 0].numpy(), atol=1e-6)


def test_predict_videos_without_frames_after_the_input_has_no_truth(videos):
    out = predict_videos(tiny(), videos[:1, :10])
    assert out.truth is None and out.prediction.shape == (1, HORIZON, 64, 64)


@pytest.mark.parametrize(
    "clip, options, message",
    [
        (np.zeros((1, 12, 32, 32), np.float32), {}, "takes 64x64 frames but the videos have 32x32"),
        (np.zeros((1, 4, 64, 64), np.float32), {}, "have 4 frames"),
        (np.zeros((1, 12, 64, 64), np.float32), {"num_future": 0}, "num_future must be at least 1"),
    ],
)
def test_predict_videos_refuses_what_it_cannot_use(clip, options, message):
    with pytest.raises(InvalidInputError, match=message):
        predict_videos(tiny(), clip, **options)


def test_an_autoencoder_reconstructs_and_has_nothing_to_predict(tmp_path, videos):
    model = tiny(predict=False)
    out = predict_videos(model, videos[:2])
    assert out.prediction is None and out.truth.shape == (2, 10, 64, 64)
    expected = model.reconstruct(torch.tensor(videos[:2, :10]).float().div(255).unsqueeze(2))[:, :, 0]
    np.testing.assert_allclose(out.reconstruction, expected.numpy(), rtol=0, atol=1e-6)
    assert set(out.video(1).panels()) == {"inputs", "truth", "reconstruction", "prediction"}
    with pytest.raises(InvalidInputError, match="no future predictor"):
        write_prediction(tmp_path, "clip", out.video(0))
    assert not tmp_path.joinpath("clip.gif").exists()


def test_write_prediction_writes_gif_png_and_float_frames(tmp_path, videos):
    out = predict_videos(tiny(), videos[:2], num_future=7)
    written = write_prediction(tmp_path / "out", "clip", out.video(1))
    assert {p.name for p in written.values()} == {"clip.gif", "clip.png", "clip_prediction.npy"}
    frames = np.load(written["npy"])
    assert frames.dtype == np.float32 and frames.shape == (7, 64, 64)
    np.testing.assert_array_equal(frames, out.prediction[1])
    with Image.open(written["gif"]) as gif:
        assert gif.n_frames == 10 + 7


# -- features -----------------------------------------------------------------------------------------


def test_features_have_one_vector_per_sequence_and_are_deterministic(videos):
    model = tiny(num_layers=2)
    first = encoder_features(model, videos, batch_size=4)
    assert first.shape == (6, 2 * 2 * 8) and first.dtype == np.float32
    np.testing.assert_array_equal(first, encoder_features(model, videos, batch_size=4))  # bit for bit
    np.testing.assert_allclose(first, encoder_features(model, videos, batch_size=5), atol=1e-6)
    frames = torch.from_numpy(videos[:, :10].copy()).float().div(255).unsqueeze(2)
    np.testing.assert_allclose(first, model.features(frames).numpy(), atol=1e-6)
    assert not np.allclose(first[0], first[1])  # different sequences, different features


def test_features_read_evaluation_data_block_by_block(videos):
    model = tiny()
    data = evaluation_data("embedded", num_frames=10, num_sequences=6)
    from_data = encoder_features(model, data, block_sequences=4)
    np.testing.assert_allclose(from_data, encoder_features(model, videos), atol=1e-6)


def test_save_features_is_atomic(tmp_path):
    path = tmp_path / "feats.npy"
    save_features(path, np.ones((2, 3)))
    assert np.load(path).dtype == np.float32
    with pytest.raises(InvalidInputError, match=".npy"):
        save_features(tmp_path / "feats.txt", np.ones((2, 3)))
    assert [p.name for p in tmp_path.iterdir()] == ["feats.npy"]


# -- evaluation data ----------------------------------------------------------------------------------


def test_embedded_data_of_any_length_starts_as_the_embedded_test_set(videos):
    data = evaluation_data("embedded", num_frames=35, num_sequences=6)
    clips = data.load()
    assert clips.shape == (6, 35, 64, 64) and data.num_digits == 2
    np.testing.assert_array_equal(clips[:, :20], videos)
    np.testing.assert_array_equal(data.load(2, 5), clips[2:5])


@pytest.mark.parametrize("digits", [1, 3])
def test_embedded_data_with_other_digit_counts(digits):
    data = evaluation_data("embedded", num_frames=20, num_sequences=2, num_digits=digits)
    expected = generate(2, seed=EMBEDDED_TEST_SEED, digits="test", num_digits=digits)
    np.testing.assert_array_equal(data.load(), expected)
    assert data.describe()["num_digits"] == digits


def test_file_data_keeps_the_frames_asked_for(tmp_path, videos):
    path = write_npy(tmp_path / "clips.npy", videos[:3])
    data = evaluation_data(str(path), num_frames=15, num_sequences=2)
    assert data.load().shape == (2, 15, 64, 64) and data.num_digits is None
    with pytest.raises(InvalidInputError, match="has 20 frames per sequence but 25 are asked for"):
        evaluation_data(str(path), num_frames=25)
    assert evaluation_data(str(path), num_frames=25, allow_fewer_frames=True).num_frames == 20
    resized = evaluation_data(str(path), frame_size=(32, 32))
    assert resized.frame_size == (32, 32) and resized.describe()["resized_from"] == [64, 64]


def test_evaluate_data_in_blocks_equals_evaluate_at_once(videos):
    model = tiny()
    data = evaluation_data("embedded", num_frames=20, num_sequences=3)
    blocked = evaluate_data(model, data, num_input_frames=10, num_future=10, block_sequences=2)
    whole = evaluate(model, videos[:3], num_input_frames=10, num_future=10)
    for part in ("prediction", "reconstruction"):
        for metric in ("bce", "mse", "ssim"):
            assert blocked[part][metric] == pytest.approx(whole[part][metric], rel=1e-6)
            np.testing.assert_allclose(blocked[part]["per_frame"][metric], whole[part]["per_frame"][metric], rtol=1e-6)
    assert blocked["baselines"]["mean"]["mse"] == pytest.approx(whole["baselines"]["mean"]["mse"], rel=1e-6)
    assert blocked["data"]["source"] == "embedded" and blocked["data"]["num_sequences"] == 3
    assert blocked["data"]["num_future_frames"] == 10


def test_evaluation_data_refuses_digits_for_files_and_resizing_generated_data(tmp_path, videos):
    path = write_npy(tmp_path / "clips.npy", videos[:1])
    with pytest.raises(InvalidInputError, match="num_digits only applies"):
        evaluation_data(str(path), num_digits=3)
    with pytest.raises(InvalidInputError, match="cannot be resized"):
        evaluation_data("embedded", frame_size=(32, 32))
    with pytest.raises(InvalidInputError, match="num_sequences must be at least 1"):
        evaluation_data("embedded", num_sequences=0)
