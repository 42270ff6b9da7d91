"""Per-frame metrics against hand-worked values and an independent numpy SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from videoae.errors import InvalidInputError
from videoae.evaluation.metrics import (
    METRICS,
    PROBABILITY_CLAMP,
    PSNR_CAP_DB,
    MetricSums,
    bce_per_frame,
    mae_per_frame,
    mse_per_frame,
    per_frame_metrics,
    psnr_per_frame,
    score_predictions,
    ssim_per_frame,
    summarize,
)


def frames(values, dtype=torch.float64) -> torch.Tensor:
    """One sequence of one frame: (1, 1, H, W)."""
    return torch.tensor(values, dtype=dtype)[None, None]


# -- MSE, MAE, PSNR ---------------------------------------------------------------------------------


def test_errors_on_a_2x2_frame_match_hand_values():
    target = frames([[1.0, 0.0], [0.5, 0.0]])
    prediction = frames([[0.5, 0.0], [0.0, 1.0]])
    # differences 0.5, 0, 0.5, 1: sums per frame, not means
    assert mse_per_frame(prediction, target).item() == pytest.approx(0.25 + 0.25 + 1.0)
    assert mae_per_frame(prediction, target).item() == pytest.approx(0.5 + 0.5 + 1.0)
    assert psnr_per_frame(prediction, target).item() == pytest.approx(10 * math.log10(1 / (1.5 / 4)))


def test_perfect_prediction_scores_zero_error_unit_ssim_and_capped_psnr():
    target = torch.rand(2, 3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    scores = per_frame_metrics(target.clone(), target)
    assert scores["mse"].abs().max().item() == 0.0
    assert scores["mae"].abs().max().item() == 0.0
    assert torch.allclose(scores["ssim"], torch.ones(2, 3), atol=1e-6)
    assert torch.allclose(scores["psnr"], torch.full((2, 3), PSNR_CAP_DB, dtype=scores["psnr"].dtype))
    assert pytest.approx(100.0) == PSNR_CAP_DB


def test_every_metric_returns_one_value_per_frame_of_that_frame_only():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(3, 4, 1, 12, 12, generator=g)
    prediction = torch.rand(3, 4, 1, 12, 12, generator=g)
    scores = per_frame_metrics(prediction, target)
    order = torch.tensor([2, 0, 3, 1])
    shuffled = per_frame_metrics(prediction[:, order], target[:, order])
    for name, values in scores.items():
        assert values.shape == (3, 4), name
        assert torch.allclose(shuffled[name], values[:, order]), name


def test_frames_without_channel_axis_score_like_one_channel():
    g = torch.Generator().manual_seed(2)
    target = torch.rand(2, 2, 12, 12, generator=g)
    prediction = torch.rand(2, 2, 12, 12, generator=g)
    flat = per_frame_metrics(prediction, target)
    channel = per_frame_metrics(prediction.unsqueeze(2), target.unsqueeze(2))
    for name in flat:
        assert torch.allclose(flat[name], channel[name]), name


def test_errors_sum_over_channels_and_ssim_averages_them():
    g = torch.Generator().manual_seed(3)
    target = torch.rand(1, 1, 2, 12, 12, generator=g, dtype=torch.float64)
    prediction = torch.rand(1, 1, 2, 12, 12, generator=g, dtype=torch.float64)
    per_channel = [per_frame_metrics(prediction[:, :, c], target[:, :, c]) for c in range(2)]
    both = per_frame_metrics(prediction, target)
    assert both["mse"].item() == pytest.approx(per_channel[0]["mse"].item() + per_channel[1]["mse"].item())
    assert both["ssim"].item() == pytest.approx((per_channel[0]["ssim"].item() + per_channel[1]["ssim"].item()) / 2)


# -- BCE --------------------------------------------------------------------------------------------


def test_bce_on_a_2x2_frame_matches_hand_value():
    target = frames([[1.0, 0.0], [0.5, 0.0]])
    probabilities = frames([[0.8, 0.1], [0.5, 0.3]])
    expected = -math.log(0.8) - math.log(0.9) - math.log(0.5) - math.log(0.7)
    assert bce_per_frame(target, probabilities=probabilities).item() == pytest.approx(expected)


def test_bce_from_logits_equals_bce_from_probabilities():
    g = torch.Generator().manual_seed(4)
    target = torch.rand(2, 3, 1, 8, 8, generator=g, dtype=torch.float64)
    logits = torch.randn(2, 3, 1, 8, 8, generator=g, dtype=torch.float64) * 4
    from_logits = bce_per_frame(target, logits=logits)
    from_probabilities = bce_per_frame(target, probabilities=torch.sigmoid(logits))
    assert from_logits.shape == (2, 3)
    assert torch.allclose(from_logits, from_probabilities, rtol=1e-9)


def test_bce_clamps_certain_wrong_probabilities_to_a_finite_cost():
    target = frames([[1.0, 0.0]])
    wrong = frames([[0.0, 1.0]])
    per_pixel = -math.log(PROBABILITY_CLAMP)  # about 16.1 nats
    assert bce_per_frame(target, probabilities=wrong).item() == pytest.approx(2 * per_pixel, rel=1e-6)
    assert bce_per_frame(target, probabilities=wrong.float()).item() == pytest.approx(2 * per_pixel, rel=1e-6)
    # certain and right costs (almost) nothing
    assert bce_per_frame(target, probabilities=target).item() == pytest.approx(0.0, abs=1e-5)


def test_bce_from_extreme_logits_is_finite_and_exact():
    target = frames([[1.0, 0.0, 1.0]], dtype=torch.float32)
    logits = frames([[-100.0, 100.0, 100.0]], dtype=torch.float32)
    assert bce_per_frame(target, logits=logits).item() == pytest.approx(200.0, rel=1e-5)


def test_bce_of_soft_targets_against_themselves_is_their_entropy():
    target = frames([[0.5, 0.25]])
    entropy = math.log(2) - (0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert bce_per_frame(target, probabilities=target).item() == pytest.approx(entropy)


def test_bce_needs_exactly_one_prediction():
    target = frames([[1.0]])
    with pytest.raises(InvalidInputError, match="exactly one"):
        bce_per_frame(target)
    with pytest.raises(InvalidInputError, match="exactly one"):
        bce_per_frame(target, probabilities=target, logits=target)


# -- SSIM -------------------------------------------------------------------------------------------


def reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 written out window by window, for one (H, W) frame in [0, 1]."""
    radius, sigma = 5, 1.5
    offsets = np.arange(-radius, radius + 1)
    w = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    w /= w.sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for i in range(x.shape[0] - 2 * radius):
        for j in range(x.shape[1] - 2 * radius):
            a = x[i : i + 2 * radius + 1, j : j + 2 * radius + 1]
            b = y[i : i + 2 * radius + 1, j : j + 2 * radius + 1]
            mu_a, mu_b = (w * a).sum(), (w * b).sum()
            var_a = (w * (a - mu_a) ** 2).sum()
            var_b = (w * (b - mu_b) ** 2).sum()
            cov = (w * (a - mu_a) * (b - mu_b)).sum()
            values.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


def test_ssim_of_constant_frames_matches_the_formula():
    a, b = 0.2, 0.7
    x = torch.full((1, 1, 11, 11), a, dtype=torch.float64)
    y = torch.full((1, 1, 11, 11), b, dtype=torch.float64)
    c1 = 0.01**2
    assert ssim_per_frame(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))


@pytest.mark.parametrize("shape", [(16, 16), (13, 12), (11, 20)])
def test_ssim_matches_an_independent_window_by_window_implementation(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.random(shape)
    y = np.clip(x + rng.normal(0, 0.2, shape), 0, 1)  # correlated, so SSIM is far from 0
    ours = ssim_per_frame(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None]).item()
    assert ours == pytest.approx(reference_ssim(x, y), rel=1e-9, abs=1e-12)


def test_ssim_in_float32_agrees_with_float64():
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.random((2, 3, 64, 64)))
    y = torch.from_numpy(rng.random((2, 3, 64, 64)))
    assert torch.allclose(ssim_per_frame(x.float(), y.float()).double(), ssim_per_frame(x, y), atol=1e-5)


def test_ssim_rejects_frames_smaller_than_the_window():
    x = torch.zeros(1, 1, 10, 64)
    with pytest.raises(InvalidInputError, match="11x11"):
        ssim_per_frame(x, x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.0, 1.0))
def test_metric_bounds_and_psnr_mse_relation(seed, scale):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(1, 2, 12, 12, generator=g, dtype=torch.float64)
    prediction = (target + scale * (torch.rand(1, 2, 12, 12, generator=g, dtype=torch.float64) - target)).clamp(0, 1)
    scores = per_frame_metrics(prediction, target)
    assert (scores["mse"] >= 0).all() and (scores["mae"] >= scores["mse"] - 1e-12).all()  # |d| >= d^2 in [0,1]
    assert (scores["ssim"] <= 1 + 1e-9).all() and (scores["ssim"] >= -1 - 1e-9).all()
    assert (scores["psnr"] <= PSNR_CAP_DB + 1e-9).all()
    pixels = 144
    expected_psnr = 10 * torch.log10(1 / (scores["mse"] / pixels).clamp_min(1e-10))
    assert torch.allclose(scores["psnr"], expected_psnr)


# -- validation and summary -------------------------------------------------------------------------


def test_metrics_reject_mismatched_and_non_float_frames():
    x = torch.zeros(1, 2, 12, 12)
    with pytest.raises(InvalidInputError, match="same shape"):
        mse_per_frame(x, torch.zeros(1, 3, 12, 12))
    with pytest.raises(InvalidInputError, match="255"):
        mse_per_frame(x.to(torch.uint8), x)
    with pytest.raises(InvalidInputError, match="height, width"):
        mse_per_frame(torch.zeros(2, 12, 12), torch.zeros(2, 12, 12))


def test_summarize_averages_over_sequences_and_frames():
    per_frame = {"mse": torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]), "ssim": torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.5, 1.0]])}
    summary = summarize(per_frame)
    assert summary["mse"] == pytest.approx(3.0)
    assert summary["ssim"] == pytest.approx(0.5)
    assert summary["per_frame"] == {"mse": [2.0, 3.0, 4.0], "ssim": [0.5, 0.5, 0.5]}
    assert isinstance(summary["mse"], float)


def test_summarize_rejects_values_that_are_not_sequences_by_frames():
    with pytest.raises(InvalidInputError, match="'mse'"):
        summarize({"mse": torch.zeros(3)})


# -- several predictions at once, streamed sums -----------------------------------------------------


def test_expanded_predictions_score_like_the_frames_they_repeat():
    g = torch.Generator().manual_seed(6)
    target = torch.rand(3, 4, 1, 16, 16, generator=g)
    last = torch.rand(3, 1, 1, 16, 16, generator=g)
    level = torch.rand(3, 1, 1, 1, 1, generator=g)
    expanded = {"frame": last.expand(target.shape), "level": level.expand(target.shape)}
    written = {name: values.contiguous() for name, values in expanded.items()}
    scores = score_predictions(target, expanded)
    for name, frames in written.items():
        reference = per_frame_metrics(frames, target)
        for metric in METRICS:
            assert torch.allclose(scores[name][metric], reference[metric], rtol=1e-5, atol=1e-6), (name, metric)


def test_score_predictions_checks_its_arguments():
    target = torch.rand(1, 2, 12, 12)
    with pytest.raises(InvalidInputError, match="no such prediction"):
        score_predictions(target, {"a": target}, logits={"b": target})
    with pytest.raises(InvalidInputError, match="unknown metric"):
        score_predictions(target, {"a": target}, metrics=("sharpness",))
    with pytest.raises(InvalidInputError, match="same shape"):
        score_predictions(target, {"a": torch.rand(1, 3, 12, 12)})


def test_metric_sums_give_the_summary_of_all_sequences_added():
    g = torch.Generator().manual_seed(7)
    parts = [{"mse": torch.rand(n, 5, generator=g, dtype=torch.float64)} for n in (3, 1, 4)]
    sums = MetricSums()
    for part in parts:
        sums.add(part)
    expected = summarize({"mse": torch.cat([part["mse"] for part in parts])})
    summary = sums.summary()
    assert summary["mse"] == pytest.approx(expected["mse"], rel=1e-12)
    assert summary["per_frame"]["mse"] == pytest.approx(expected["per_frame"]["mse"], rel=1e-12)
    with pytest.raises(InvalidInputError, match="frames per sequence"):
        sums.add({"mse": torch.rand(2, 4, dtype=torch.float64)})
    with pytest.raises(InvalidInputError, match="at least one sequence"):
        MetricSums().summary()
