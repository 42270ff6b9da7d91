"""Evaluation: baselines, the result's shape, inference mode and the reference points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from videoae.data.moving_mnist import embedded_test_set
from videoae.errors import InvalidInputError
from videoae.evaluation.evaluate import baseline_predictions, baseline_verdict, baselines_not_beaten, evaluate
from videoae.evaluation.metrics import METRICS, PSNR_CAP_DB, mse_per_frame
from videoae.models import build_model


@pytest.fixture(scope="module")
def videos() -> np.ndarray:
    return embedded_test_set(8)


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return build_model("tiny")


def scalars(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if k != "per_frame"}


# -- baselines --------------------------------------------------------------------------------------


def test_baseline_predictions_by_hand():
    inputs = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]])  # (1, 2, 2, 2)
    guesses = baseline_predictions(inputs, 3)
    assert guesses["copy_last"].shape == (1, 3, 2, 2)
    assert torch.equal(guesses["copy_last"], inputs[:, 1:].expand(1, 3, 2, 2))
    assert torch.equal(guesses["mean"], torch.full((1, 3, 2, 2), 0.75))


def test_mean_baseline_is_per_sequence():
    inputs = torch.stack([torch.zeros(2, 1, 3, 3), torch.ones(2, 1, 3, 3)])
    mean = baseline_predictions(inputs, 1)["mean"]
    assert mean[0].max().item() == 0.0 and mean[1].min().item() == 1.0


def test_copy_last_scores_perfectly_on_a_static_video():
    frame = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    static = np.broadcast_to(frame, (3, 6, 16, 16)).copy()
    result = evaluate(None, static, num_input_frames=2)
    copy_last = result["baselines"]["copy_last"]
    assert copy_last["mse"] == 0.0 and copy_last["mae"] == 0.0
    assert copy_last["ssim"] == pytest.approx(1.0)
    assert copy_last["psnr"] == pytest.approx(PSNR_CAP_DB)
    assert len(copy_last["per_frame"]["mse"]) == 4


def test_mean_baseline_scores_match_hand_values():
    # inputs half black, half white (mean 0.5); the future all white
    video = np.zeros((1, 3, 12, 12), dtype=np.uint8)
    video[0, :2, :6] = 255
    video[0, 2] = 255
    mean = evaluate(None, video, num_input_frames=2)["baselines"]["mean"]
    assert mean["mse"] == pytest.approx(144 * 0.25)
    assert mean["mae"] == pytest.approx(144 * 0.5)
    assert mean["bce"] == pytest.approx(144 * math.log(2))
    assert mean["psnr"] == pytest.approx(10 * math.log10(4))


# -- the model --------------------------------------------------------------------------------------


def test_result_shape_for_a_composite_model(model, videos):
    result = evaluate(model, videos, batch_size=3)
    assert set(result) == {"prediction", "reconstruction", "baselines", "data", "units"}
    assert set(result["baselines"]) == {"copy_last", "mean", "blank"}
    assert result["data"] == {"num_sequences": 8, "num_input_frames": 10, "num_future_frames": 10}
    for scores in [result["prediction"], result["reconstruction"], *result["baselines"].values()]:
        assert set(scalars(scores)) == set(METRICS)
        assert all(math.isfinite(v) for v in scalars(scores).values())
        assert set(scores["per_frame"]) == set(METRICS)
        assert all(len(curve) == 10 and all(math.isfinite(v) for v in curve) for curve in scores["per_frame"].values())


def test_prediction_is_true_inference_and_bce_uses_the_models_loss_units(model, videos):
    """A conditional decoder must be fed its own output; BCE must agree with the model's loss."""
    assert model.config.conditional_prediction and model.config.decoder_training_input == "ground_truth"
    model.train()
    result = evaluate(model, videos, batch_size=8)
    frames = torch.from_numpy(videos.copy()).float().div(255).unsqueeze(2)
    inputs, future = frames[:, :10], frames[:, 10:]
    predicted = model.predict(inputs, num_future=10)
    assert result["prediction"]["mse"] == pytest.approx(mse_per_frame(predicted, future).mean().item(), rel=1e-5)
    model.eval()
    with torch.no_grad():
        losses = model(inputs, future)
    assert result["prediction"]["bce"] == pytest.approx(losses["prediction_loss"].item(), rel=1e-5)
    assert result["reconstruction"]["bce"] == pytest.approx(losses["reconstruction_loss"].item(), rel=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_model_mode_is_restored(model, videos, training):
    model.train(training)
    evaluate(model, videos[:2], baselines=False)
    assert model.training is training


def test_batch_size_does_not_change_the_result(model, videos):
    whole = evaluate(model, videos, batch_size=8)
    pieces = evaluate(model, videos, batch_size=3)
    for group in ("prediction", "reconstruction"):
        for name in METRICS:
            assert pieces[group][name] == pytest.approx(whole[group][name], rel=1e-5), (group, name)
            assert pieces[group]["per_frame"][name] == pytest.approx(whole[group]["per_frame"][name], rel=1e-5)


def test_float_videos_with_channels_score_like_uint8(model, videos):
    as_float = torch.from_numpy(videos.copy()).float().div(255).unsqueeze(2)  # (N, T, 1, H, W)
    a = evaluate(model, videos[:4], num_future=5)
    b = evaluate(model, as_float[:4], num_future=5)
    assert b["data"]["num_future_frames"] == 5 and len(b["prediction"]["per_frame"]["mse"]) == 5
    for name in METRICS:
        assert b["prediction"][name] == pytest.approx(a["prediction"][name], rel=1e-6)


def test_decoders_the_model_lacks_are_absent(videos):
    autoencoder = build_model("tiny", predict=False)
    result = evaluate(autoencoder, videos[:2], baselines=False)
    assert "prediction" not in result and "baselines" not in result
    assert len(result["reconstruction"]["per_frame"]["bce"]) == 10
    predictor = build_model("tiny", reconstruct=False)
    assert "reconstruction" not in evaluate(predictor, videos[:2], baselines=False)


# -- validation -------------------------------------------------------------------------------------


def test_scoring_past_the_last_frame_is_refused(model, videos):
    with pytest.raises(InvalidInputError, match="only 20 frames"):
        evaluate(model, videos[:2], num_input_frames=10, num_future=11)
    with pytest.raises(InvalidInputError, match="no frames are left"):
        evaluate(model, videos[:2], num_input_frames=20)


def test_bad_videos_are_refused_with_a_clear_message(model, videos):
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        evaluate(model, videos[:2].astype(np.float32))  # 0-255 floats
    with pytest.raises(InvalidInputError, match="frames of shape"):
        evaluate(model, np.zeros((2, 20, 32, 32), dtype=np.uint8))
    with pytest.raises(InvalidInputError, match="uint8"):
        evaluate(model, videos[:2].astype(np.int64))
    with pytest.raises(InvalidInputError, match="batch_size"):
        evaluate(model, videos[:2], batch_size=0)


# -- the reference points of REFERENCE.md -------------------------------------------------------------


def test_baselines_reproduce_the_published_reference_points():
    """Copy-last MSE ~286 / BCE ~3300, mean MSE ~165 / BCE ~806: the conventions are right."""
    baselines = evaluate(None, embedded_test_set(200))["baselines"]
    assert baselines["copy_last"]["mse"] == pytest.approx(286, rel=0.15)
    assert baselines["copy_last"]["bce"] == pytest.approx(3300, rel=0.15)
    assert baselines["mean"]["mse"] == pytest.approx(165, rel=0.15)
    assert baselines["mean"]["bce"] == pytest.approx(806, rel=0.15)


def test_a_blank_frame_is_a_baseline_and_it_scores_like_an_all_black_prediction():
    videos = embedded_test_set(16)
    inputs = torch.from_numpy(videos[:, :10]).float().div(255)
    assert torch.equal(baseline_predictions(inputs, 2)["blank"], torch.zeros(16, 2, 64, 64))
    result = evaluate(None, videos)
    truth = torch.from_numpy(videos[:, 10:]).float().div(255)
    blank = result["baselines"]["blank"]
    assert blank["mse"] == pytest.approx(mse_per_frame(torch.zeros_like(truth), truth).mean().item(), rel=1e-5)


def test_on_ssim_the_blank_frame_beats_copy_last_so_a_model_must_beat_both():
    """The newcomer's finding: on mostly black frames an all-black guess scores SSIM ~0.72, above
    copy-last's ~0.58 (docs/evaluation.md, 1,000 sequences)."""
    baselines = evaluate(None, embedded_test_set(200))["baselines"]
    assert baselines["blank"]["ssim"] == pytest.approx(0.72, abs=0.03)
    assert baselines["blank"]["ssim"] > baselines["copy_last"]["ssim"] + 0.1
    model_between = {"ssim": 0.68, "mse": 94.0, "bce": 388.0, "mae": 213.0, "psnr": 16.7}
    verdict = baselines_not_beaten({"prediction": model_between, "baselines": baselines})
    assert verdict["ssim"] == ["blank"] and verdict["mae"] == ["blank"]
    assert verdict["mse"] == [] and verdict["bce"] == [] and verdict["psnr"] == []


def test_the_verdict_names_each_metric_and_baseline_not_beaten_in_words():
    scores = {"bce": 10.0, "mse": 5.0, "mae": 5.0, "ssim": 0.9, "psnr": 30.0}
    worse = {"bce": 20.0, "mse": 9.0, "mae": 9.0, "ssim": 0.5, "psnr": 20.0}
    assert baseline_verdict({"prediction": scores, "baselines": {"copy_last": worse, "blank": worse}}) == [
        "verdict: the prediction beats all 2 baselines on every metric."
    ]
    tie = {**worse, "mse": 5.0, "ssim": 0.95}
    lines = baseline_verdict({"prediction": scores, "baselines": {"copy_last": worse, "blank": tie}})
    assert lines[0] == "verdict: the prediction beats all 2 baselines on BCE, MAE and PSNR."
    assert "not on MSE (lower is better): the model's 5 does not beat blank 5." in lines[1]  # a tie is no win
    assert "not on SSIM (higher is better): the model's 0.9 does not beat blank 0.95." in lines[2]
    assert baseline_verdict({"reconstruction": scores, "baselines": {"blank": worse}}) == []  # nothing predicted
