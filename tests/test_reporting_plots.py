"""Plots of training and evaluation: curves from trainer records, per-frame metrics, weight pictures."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from videoae.errors import InvalidInputError
from videoae.reporting import plot_per_frame, plot_training_curves, plot_weights
from videoae.reporting.plots import CURVES_FIGSIZE, DPI, _set_y_scale, new_figure


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as picture:
        picture.verify()  # a complete, uncorrupted PNG
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        return picture.size


def training_records(num_steps: int = 40, eval_every: int = 10) -> list[dict]:
    records = []
    for step in range(num_steps):
        loss = 3000 * math.exp(-step / 10) + 340
        records.append(
            {"step": step, "loss": loss, "reconstruction_loss": loss / 2, "prediction_loss": loss / 2, "lr": 1e-3, "seq_per_s": 50.0}
        )
        if step % eval_every == 0:
            baselines = {"copy_last": {"bce": 3300.0, "mse": 286.0}, "mean": {"bce": 806.0, "mse": 165.0}}
            evaluation = {"prediction": {"bce": loss, "mse": loss / 15}, "baselines": baselines}
            records.append({"step": step, "eval": evaluation})
    return records


def test_training_curves_are_a_readable_png(tmp_path):
    path = plot_training_curves(training_records(), tmp_path / "run" / "curves.png", title="test run")
    assert path == tmp_path / "run" / "curves.png"
    assert png_size(path) == (CURVES_FIGSIZE[0] * DPI, CURVES_FIGSIZE[1] * DPI)
    assert [p.name for p in path.parent.iterdir()] == ["curves.png"]  # no temporary file left


@pytest.mark.parametrize(
    "records",
    [
        [{"step": 0, "loss": 1234.5}],  # a single record
        [{"step": 5, "eval": {"prediction": {"bce": 400.0}}}],  # a single evaluation, no baselines
        [{"step": 0, "loss": float("nan"), "lr": 1e-3}, {"step": 1, "loss": 2.0}, {"loss": 3.0}, {"step": 2}],
        [
            {"step": 1, "loss": "n/a", "lr": None, "eval": {"prediction": "oops", "baselines": {"mean": 3}}},
            {"step": 2, "lr": 1e-4, "eval": {"prediction": {"mse": float("inf")}, "baselines": None}},
            {"step": 3, "eval": {"prediction": {"mse": 20.0}, "baselines": ["copy_last", 286.0]}},
        ],
    ],
    ids=["single-record", "single-evaluation", "nan-and-missing-keys", "malformed-values"],
)
def test_training_curves_skip_what_they_cannot_use(tmp_path, records):
    assert png_size(plot_training_curves(records, tmp_path / "c.png")) == (1200, 800)


@pytest.mark.parametrize(
    "records",
    [[], [{"loss": 1.0}], [{"step": 1, "loss": float("nan")}], [{"step": 1}, ["not", "a", "dict"]]],
    ids=["empty", "no-step", "only-nan", "not-a-dict"],
)
def test_training_curves_with_nothing_to_plot_are_rejected(tmp_path, records):
    with pytest.raises(InvalidInputError):
        plot_training_curves(records, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plots_refuse_a_file_name_that_would_lie_about_the_format(tmp_path):
    with pytest.raises(InvalidInputError, match=r"\.png"):
        plot_training_curves(training_records(), tmp_path / "curves.pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("values", "scale"),
    [([300.0, 3300.0], "log"), ([300.0, 2999.0], "linear"), ([-1.0, 500.0], "linear"), ([0.5, 0.9], "linear")],
)
def test_y_axis_is_log_scaled_only_beyond_a_decade_of_positive_values(values, scale):
    axes = new_figure((4.0, 3.0)).subplots()
    _set_y_scale(axes, values)
    assert axes.get_yscale() == scale


def per_frame_metrics(num_frames: int) -> dict:
    """The layout videoae.evaluation.evaluate writes: per-frame curves inside each score dict."""
    frames = np.arange(1, num_frames + 1)
    curves = {"bce": (300 + 5 * frames).tolist(), "mse": (20 + 2 * frames).tolist(), "ssim": (0.9 - 0.004 * frames).tolist()}
    return {
        "prediction": {"bce": 500.0, "mse": 120.0, "ssim": 0.7, "per_frame": curves},
        "baselines": {
            "copy_last": {"bce": 3300.0, "mse": 286.0, "per_frame": {"mse": (200 + frames).tolist()}},
            "mean": {"bce": 806.0, "mse": 165.0},
        },
    }


def test_per_frame_plot_of_a_100_frame_rollout(tmp_path):
    width, height = png_size(plot_per_frame(per_frame_metrics(100), tmp_path / "per_frame.png"))
    assert width == 1000 and height > 700  # three stacked panels
    _, one_panel = png_size(plot_per_frame({"per_frame": {"mse": [1.0, 2.0]}}, tmp_path / "one.png"))
    assert one_panel < height / 2


def test_per_frame_plot_of_a_real_evaluation(tmp_path):
    torch = pytest.importorskip("torch")
    from videoae.evaluation.evaluate import evaluate

    videos = torch.rand(3, 8, 16, 16)
    metrics = evaluate(None, videos, num_input_frames=4)  # the baselines alone: no model needed
    metrics["prediction"] = metrics["baselines"]["mean"]
    width, height = png_size(plot_per_frame(metrics, tmp_path / "p.png"))
    assert width == 1000 and height > 700


def test_per_frame_plot_reads_a_flat_mapping_with_gaps(tmp_path):
    metrics = {"per_frame": {"mse": [30.0, float("nan"), None, 50.0]}}
    assert png_size(plot_per_frame(metrics, tmp_path / "p.png"))[0] == 1000


@pytest.mark.parametrize(
    "metrics",
    [
        {},
        {"per_frame": {}},
        {"per_frame": {"prediction": {"bce": [float("nan")]}}},
        {"per_frame": [1, 2]},
        {"prediction": {"bce": 3.0}},
        {"prediction": {"per_frame": {"mae": [1.0]}}},
    ],
)
def test_per_frame_plot_without_curves_is_rejected(tmp_path, metrics):
    with pytest.raises(InvalidInputError, match="per-frame"):
        plot_per_frame(metrics, tmp_path / "p.png")


@pytest.mark.parametrize("layout", ["flat", "frames"])
def test_weight_tiles_plot(tmp_path, layout):
    weight = np.random.default_rng(0).normal(size=(10, 8 * 8)).astype(np.float32)
    weight[3] = 0.0  # a dead unit must not divide by zero
    if layout == "frames":
        weight = weight.reshape(10, 8, 8)
    width, height = png_size(plot_weights(weight, tmp_path / "w.png", frame_shape=(8, 8), num_tiles=64))
    assert width > 200 and height > 150


def test_a_long_weight_title_is_wrapped_inside_a_narrow_figure(tmp_path, monkeypatch):
    from videoae.reporting import weights

    drawn = []
    monkeypatch.setattr(weights, "save_figure", lambda figure, path: drawn.append(figure) or path)
    title = "encoder input weights (first 8 of 32 channels, cell-input gate g, layer 1) " * 2
    plot_weights(np.ones((8, 5 * 5)), tmp_path / "w.png", frame_shape=(5, 5), title=title)
    (figure,) = drawn
    (text,) = figure.texts
    extent = text.get_window_extent(figure.canvas.get_renderer())
    assert "\n" in text.get_text() and extent.x0 >= 0 and extent.x1 <= figure.bbox.width
    assert text.get_text().split() == title.split()  # wrapped, nothing lost


@pytest.mark.parametrize(
    ("weight", "match"),
    [
        (np.zeros((64, 5)), "weight.T"),  # a readout weight (pixels, units) handed over untransposed
        (np.zeros((5, 63)), "units"),
        (np.full((2, 64), np.nan), "NaN"),
        (np.zeros((0, 64)), "units"),
    ],
)
def test_bad_weights_are_rejected_with_a_hint(tmp_path, weight, match):
    with pytest.raises(InvalidInputError, match=match):
        plot_weights(weight, tmp_path / "w.png", frame_shape=(8, 8))


@pytest.mark.slow
def test_importing_videoae_reporting_does_not_import_matplotlib():
    code = "import sys, videoae.reporting; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
