"""Every reported number pinned to the float64 metrics as they were before evaluation was made fast.

The reference below is that implementation, frozen and run in float64: one stack of five maps per
frame pair, filtered with banded matrices, and cross-entropy from probabilities in float64. The
library now computes in float32, shares the target's statistics between predictions and streams a
few sequences at a time; none of that may move a reported value by more than 1e-6 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videoae.data.moving_mnist import generate
from videoae.evaluation.evaluate import baseline_predictions, evaluate
from videoae.evaluation.metrics import METRICS, per_frame_metrics, score_predictions, summarize
from videoae.models import build_model

REL = 1e-6
NUM_INPUT, NUM_FUTURE = 10, 10


# -- the frozen float64 reference --------------------------------------------------------------------


def _reference_window(size: int) -> torch.Tensor:
    offsets = torch.arange(11, dtype=torch.float64) - 5
    weights = torch.exp(-(offsets**2) / (2 * 1.5**2))
    window = weights / weights.sum()
    matrix = torch.zeros(size - 10, size, dtype=torch.float64)
    for i in range(size - 10):
        matrix[i, i : i + 11] = window
    return matrix


def reference_metrics(prediction: torch.Tensor, target: torch.Tensor, logits: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The five per-frame metrics of (B, T, C, H, W) frames, all in float64."""
    x, y = prediction.double(), target.double()
    pixels = lambda values: values.flatten(2)  # noqa: E731 - (B, T, pixels)
    if logits is not None:
        bce = pixels(F.binary_cross_entropy_with_logits(logits.double(), y, reduction="none")).sum(2)
    else:
        p = x.clamp(1e-7, 1 - 1e-7)
        bce = pixels(-(y * torch.log(p) + (1 - y) * torch.log1p(-p))).sum(2)
    mse = pixels((x - y).square()).sum(2)
    mae = pixels((x - y).abs()).sum(2)
    psnr = 10 * torch.log10(1 / pixels((x - y).square()).mean(2).clamp_min(1e-10))
    batch, steps, channels, height, width = x.shape
    if min(height, width) < 11:  # no SSIM: the window does not fit
        return {"bce": bce, "mse": mse, "mae": mae, "psnr": psnr}
    a, b = x.reshape(-1, height, width), y.reshape(-1, height, width)
    maps = torch.stack([a, b, a * a, b * b, a * b], dim=1)
    maps = _reference_window(height) @ maps @ _reference_window(width).T
    mu_x, mu_y, xx, yy, xy = maps.unbind(dim=1)
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * (xy - mu_x * mu_y) + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * ((xx - mu_x * mu_x) + (yy - mu_y * mu_y) + c2)
    )
    ssim = ssim_map.reshape(batch, steps, -1).mean(dim=2)
    return {"bce": bce, "mse": mse, "mae": mae, "ssim": ssim, "psnr": psnr}


# -- a small set like the demo's ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    """12 Moving MNIST sequences of 20 frames, float32 (B, T, 1, 64, 64)."""
    return torch.from_numpy(generate(12, seed=7, num_frames=NUM_INPUT + NUM_FUTURE)).float().div(255).unsqueeze(2)


def _blurry_guess(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft, slightly displaced blobs, as a briefly trained model draws them: (probabilities, logits)."""
    window = torch.exp(-((torch.arange(9.0) - 4) ** 2) / 8)
    window = (window / window.sum()).float()
    flat = frames.reshape(-1, 1, *frames.shape[-2:])
    flat = F.conv2d(F.conv2d(flat, window.view(1, 1, 1, 9), padding=(0, 4)), window.view(1, 1, 9, 1), padding=(4, 0))
    logits = torch.logit(torch.roll(flat, 1, -1).reshape(frames.shape).clamp(0.02, 0.97))
    return torch.sigmoid(logits), logits


def _assert_close(ours: dict, reference: dict, what: str) -> None:
    summary_ours, summary_reference = summarize(ours), summarize(reference)
    for name in METRICS:
        assert summary_ours[name] == pytest.approx(summary_reference[name], rel=REL), f"{what} {name}"
        assert summary_ours["per_frame"][name] == pytest.approx(summary_reference["per_frame"][name], rel=REL), f"{what} {name}"


def test_every_metric_of_a_model_and_of_the_baselines_matches_the_float64_reference(clips):
    inputs, truth = clips[:, :NUM_INPUT], clips[:, NUM_INPUT:]
    guess, logits = _blurry_guess(truth)
    cases = {"from logits": (guess, logits), "from probabilities": (guess, None)}
    cases.update({name: (frames, None) for name, frames in baseline_predictions(inputs, NUM_FUTURE).items()})
    for what, (prediction, prediction_logits) in cases.items():
        ours = per_frame_metrics(prediction, truth, logits=prediction_logits)
        _assert_close(ours, reference_metrics(prediction, truth, prediction_logits), what)


def test_scoring_several_predictions_at_once_matches_the_reference_for_each(clips):
    inputs, truth = clips[:, :NUM_INPUT], clips[:, NUM_INPUT:]
    guess, logits = _blurry_guess(truth)
    predictions = {"model": guess, **baseline_predictions(inputs, NUM_FUTURE)}
    scores = score_predictions(truth, predictions, logits={"model": logits})
    assert set(scores) == set(predictions)
    for name, prediction in predictions.items():
        _assert_close(scores[name], reference_metrics(prediction, truth, logits if name == "model" else None), name)


def test_evaluate_reports_the_reference_values_of_a_model_and_its_baselines(clips):
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    videos = clips[:, :, 0]
    # Batches of 5 split the 12 sequences unevenly: the streamed sums must not care.
    result = evaluate(model, videos, num_input_frames=NUM_INPUT, num_future=NUM_FUTURE, batch_size=5)
    inputs, truth = clips[:, :NUM_INPUT], clips[:, NUM_INPUT:]
    with torch.no_grad():
        outputs = model(inputs, truth)
    expected = {
        "prediction": reference_metrics(outputs["prediction"], truth, outputs.get("prediction_logits")),
        "reconstruction": reference_metrics(outputs["reconstruction"], inputs, outputs.get("reconstruction_logits")),
    }
    expected.update({f"baselines/{n}": reference_metrics(g, truth) for n, g in baseline_predictions(inputs, NUM_FUTURE).items()})
    reported = {"prediction": result["prediction"], "reconstruction": result["reconstruction"]}
    reported.update({f"baselines/{n}": s for n, s in result["baselines"].items()})
    for what, reference in expected.items():
        summary = summarize(reference)
        for name in METRICS:
            assert reported[what][name] == pytest.approx(summary[name], rel=REL), f"{what} {name}"
            assert reported[what]["per_frame"][name] == pytest.approx(summary["per_frame"][name], rel=REL), f"{what} {name}"


def test_the_reference_is_the_published_definition():
    """The frozen reference itself agrees with hand values, so the pin cannot drift with it."""
    target = torch.tensor([[1.0, 0.0], [0.5, 0.0]], dtype=torch.float64)[None, None, None]
    probabilities = torch.tensor([[0.8, 0.1], [0.5, 0.3]], dtype=torch.float64)[None, None, None]
    expected = -math.log(0.8) - math.log(0.9) - math.log(0.5) - math.log(0.7)
    assert reference_metrics(probabilities, target)["bce"].item() == pytest.approx(expected)
    a, b = np.full((1, 1, 1, 11, 11), 0.2), np.full((1, 1, 1, 11, 11), 0.7)
    ssim = reference_metrics(torch.from_numpy(a), torch.from_numpy(b))["ssim"].item()
    assert ssim == pytest.approx((2 * 0.2 * 0.7 + 1e-4) / (0.2**2 + 0.7**2 + 1e-4))
