"""Plots of training and evaluation: loss curves and metrics per predicted frame.

matplotlib is imported only when a plot is drawn (``import videoae`` stays fast) and draws with its
Agg backend on a figure of its own: no window ever opens and pyplot's global state is left alone,
so plotting works the same on a headless server and inside a notebook. Every plot is a PNG written
atomically at 100 dpi. Pictures of weights are in :mod:`videoae.reporting.weights`.

Units follow the metric conventions of the project: cross-entropy in nats per frame (summed over a
frame's pixels), MSE/MAE summed over a frame's pixels with values in [0, 1].
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from videoae.atomic import write_atomically
from videoae.errors import InvalidInputError, VideoAEError
from videoae.evaluation.evaluate import BASELINE_DESCRIPTIONS

DPI = 100
CURVES_FIGSIZE = (12.0, 8.0)  # inches: 1200 x 800 px
PER_FRAME_WIDTH = 10.0
PER_FRAME_HEIGHT_PER_METRIC = 2.8
LOG_SCALE_SPAN = 10.0  # a y axis whose positive values span more than a decade is drawn log-scaled
LOG_MINOR_LABELS = (2, 3, 5)  # leading digits labelled between powers of ten on short log axes
LOG_MINOR_LABEL_MAX_DECADES = 2.5
MARKER_MAX_POINTS = 30  # curves this short get a marker on every point (a single record stays visible)
BCE_UNIT = "nats per frame"
PIXEL_SUM_UNIT = "sum over pixels per frame"
TRAINING_LOSS_UNIT = "per frame, summed over pixels"
# Evaluation metrics in the order they are drawn: (name on the axis, unit).
METRIC_AXES = {
    "bce": ("cross-entropy", BCE_UNIT),
    "mse": ("MSE", PIXEL_SUM_UNIT),
    "mae": ("MAE", PIXEL_SUM_UNIT),
    "ssim": ("SSIM", "mean per frame, 1 = identical"),
    "psnr": ("PSNR", "dB"),
}
LOG_SCALE_METRICS = ("bce", "mse", "mae")  # SSIM can be negative and PSNR is a logarithm already
PER_FRAME_METRICS = ("bce", "mse", "ssim")  # MAE and PSNR add little beside MSE
TRAINING_LOSSES = {"loss": "total", "reconstruction_loss": "reconstruction", "prediction_loss": "prediction"}
EVALUATED_PARTS = ("prediction", "reconstruction")
BASELINE_COLOURS = ("tab:gray", "tab:olive", "tab:brown", "tab:pink")


def _matplotlib():
    """Figure and the Agg canvas class, imported on first use."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise VideoAEError("plotting needs matplotlib: pip install 'matplotlib>=3.7'") from error
    return Figure, FigureCanvasAgg


def new_figure(figsize: tuple[float, float]):
    """A matplotlib figure on its own Agg canvas (no pyplot, no window), laid out to fit its text."""
    figure_class, canvas_class = _matplotlib()
    figure = figure_class(figsize=figsize, dpi=DPI, layout="constrained")
    canvas_class(figure)  # attaches the Agg canvas to the figure
    return figure


def save_figure(figure, path: str | os.PathLike[str]) -> Path:
    """Write a figure as PNG at :data:`DPI`, atomically, creating the folder."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"{path}: plots are PNG images; give a file name ending in .png")
    return write_atomically(path, lambda stream: figure.savefig(stream, format="png", dpi=DPI))


def _number(value: object) -> float | None:
    """A finite real number, or None for anything else (missing, NaN, text, booleans)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer of hundreds of digits in a hand-edited log
        return None
    return value if math.isfinite(value) else None


def _set_y_scale(axes, values: Iterable[float]) -> None:
    """Log-scale the y axis when its (all positive) values span more than a decade."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if values and min(values) > 0 and max(values) / min(values) > LOG_SCALE_SPAN:
        from matplotlib.ticker import FuncFormatter

        axes.set_yscale("log")
        # Plain numbers (300, 2000) read faster than matplotlib's 3 x 10^2; on a short axis the
        # 2s and 5s between powers of ten are labelled too, on a long one they would crowd.
        decades = math.log10(max(values) / min(values))
        minor = LOG_MINOR_LABELS if decades <= LOG_MINOR_LABEL_MAX_DECADES else ()

        def label(value: float, _position: int) -> str:
            mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
            return f"{value:g}" if mantissa == 1 or mantissa in minor else ""

        axes.yaxis.set_major_formatter(FuncFormatter(label))
        axes.yaxis.set_minor_formatter(FuncFormatter(label))


def _line(axes, xs, ys, **style) -> list[float]:
    """Plot a curve (markers when short) and return its y values, for the y-scale decision."""
    marker = "o" if len(xs) <= MARKER_MAX_POINTS else None
    axes.plot(xs, ys, marker=marker, markersize=3, **style)
    return [y for y in ys if y is not None and math.isfinite(y)]


def _baseline_colours(names: Iterable[str]) -> dict[str, str]:
    """One colour per baseline name, the same in every panel of a figure."""
    return {name: BASELINE_COLOURS[k % len(BASELINE_COLOURS)] for k, name in enumerate(sorted(set(names)))}


def _baseline_lines(axes, baselines: Mapping[str, float], colours: Mapping[str, str]) -> list[float]:
    """Dashed horizontal lines for the baselines' values, labelled with name and value."""
    for name, value in sorted(baselines.items()):
        label = f"{BASELINE_DESCRIPTIONS.get(name, name)} ({value:.4g})"
        axes.axhline(value, linestyle="--", linewidth=1.2, color=colours[name], label=label)
    return list(baselines.values())


def _finish(axes, *, title: str, ylabel: str, xlabel: str | None, empty_text: str, values: list[float], log_ok: bool = True) -> None:
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    if xlabel:
        axes.set_xlabel(xlabel)
    axes.grid(True, alpha=0.3)
    if not values:
        axes.text(0.5, 0.5, empty_text, ha="center", va="center", transform=axes.transAxes, color="0.4")
        axes.set_yticks([])  # an empty panel's 0..1 scale would read as data
        return
    if log_ok:
        _set_y_scale(axes, values)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")


def _collect_records(records: Iterable[Mapping]) -> tuple[dict, dict, dict, dict, int]:
    """Series (steps, values) of training losses, learning rate, evaluations and latest baselines."""
    losses: dict[str, tuple[list, list]] = {key: ([], []) for key in TRAINING_LOSSES}
    rates: tuple[list, list] = ([], [])
    evaluations = {(part, metric): ([], []) for part in EVALUATED_PARTS for metric in ("bce", "mse")}
    baselines: dict[str, dict[str, float]] = {"bce": {}, "mse": {}}
    count = 0
    for index, record in enumerate(records):
        count += 1
        if not isinstance(record, Mapping):
            kind = type(record).__name__
            raise InvalidInputError(f"training record {index} is a {kind}, not a dict; pass parsed JSON lines")
        step = _number(record.get("step"))
        if step is None:
            continue  # a record that cannot be placed on the step axis
        series = [(losses[key], record.get(key)) for key in TRAINING_LOSSES] + [(rates, record.get("lr"))]
        evaluation = record.get("eval")
        if isinstance(evaluation, Mapping):
            for (part, metric), target in evaluations.items():
                numbers = evaluation.get(part)
                series.append((target, numbers.get(metric) if isinstance(numbers, Mapping) else None))
            named = evaluation.get("baselines")
            for name, numbers in named.items() if isinstance(named, Mapping) else ():
                for metric in baselines:
                    value = _number(numbers.get(metric)) if isinstance(numbers, Mapping) else None
                    if value is not None:
                        baselines[metric][name] = value  # the latest evaluation's baselines win
        for (steps, values), raw in series:
            value = _number(raw)
            if value is not None:
                steps.append(step)
                values.append(value)
    if count == 0:
        raise InvalidInputError("no training records to plot; train for at least one logging interval first")
    return losses, rates, evaluations, baselines, count


def plot_training_curves(records: list[dict], path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Training loss, learning rate and evaluation metrics against the training step, as one PNG.

    Records are the trainer's JSON lines, of two kinds: training logs ``{"step", "loss", "lr",
    "reconstruction_loss", "prediction_loss", ...}`` and evaluations ``{"step", "eval":
    {"prediction": {"bce", "mse"}, "reconstruction": {...}, "baselines": {"copy_last": {...},
    "mean": {...}}}}``. Missing keys, NaN and non-numbers are skipped; the baselines drawn are those
    of the latest evaluation.

    Args:
        records: parsed records, in any order of steps.
        path: destination ``.png``; its folder is created.
        title: figure title; default "videoae training".

    Returns:
        The path written.
    """
    losses, rates, evaluations, baselines, count = _collect_records(records)
    if not any(steps for steps, _ in [*losses.values(), rates, *evaluations.values()]):
        raise InvalidInputError(f"none of the {count} records has a 'step' with a number under 'loss', 'lr' or 'eval'; nothing to plot")
    figure = new_figure(CURVES_FIGSIZE)
    (loss_axes, rate_axes), (bce_axes, mse_axes) = figure.subplots(2, 2, sharex=True)
    from matplotlib.ticker import MaxNLocator

    loss_axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # shared by all four panels
    colours = _baseline_colours([*baselines["bce"], *baselines["mse"]])
    values: list[float] = []
    for key, label in TRAINING_LOSSES.items():
        steps, ys = losses[key]
        if steps:
            values += _line(loss_axes, steps, ys, label=label, linewidth=1.5 if key == "loss" else 1.0)
    _finish(
        loss_axes,
        title="training loss",
        ylabel=f"loss ({TRAINING_LOSS_UNIT})",
        xlabel=None,
        empty_text="no training loss logged",
        values=values,
    )
    steps, ys = rates
    values = _line(rate_axes, steps, ys, color="tab:purple") if steps else []
    _finish(rate_axes, title="learning rate", ylabel="learning rate", xlabel=None, empty_text="no learning rate logged", values=values)
    for axes, metric in ((bce_axes, "bce"), (mse_axes, "mse")):
        values = []
        for part in EVALUATED_PARTS:
            steps, ys = evaluations[(part, metric)]
            if steps:
                values += _line(axes, steps, ys, label=f"model: {part}")
        if values:
            values += _baseline_lines(axes, baselines[metric], colours)
        name, unit = METRIC_AXES[metric]
        _finish(
            axes,
            title=f"evaluation: {name}",
            ylabel=f"{name} ({unit})",
            xlabel="training step",
            empty_text="no evaluation yet",
            values=values,
        )
    all_steps = [step for steps, _ in [*losses.values(), rates, *evaluations.values()] for step in steps]
    if min(all_steps) == max(all_steps):  # one step: show it against the run from step 0, not alone
        step = max(all_steps)
        loss_axes.set_xlim(*((0.0, step * 1.1) if step > 0 else (-0.5, 0.5)))
    # a title holds a user's folder name: "$" would start matplotlib's mathtext (and can fail to parse)
    figure.suptitle((title or "videoae training").replace("$", r"\$"))
    return save_figure(figure, path)


def _curve(values: object) -> np.ndarray | None:
    """A per-frame list as floats with NaN for unusable entries; None when nothing is usable."""
    if not isinstance(values, (list, tuple, np.ndarray)):
        return None
    curve = np.array([np.nan if _number(v) is None else _number(v) for v in values], dtype=np.float64)
    return curve if np.isfinite(curve).any() else None


def _prediction_curves(metrics: Mapping) -> dict[str, np.ndarray]:
    """The prediction's per-frame curves, wherever the evaluation layout keeps them."""
    if isinstance(metrics.get("eval"), Mapping):  # a trainer's evaluation record
        metrics = metrics["eval"]
    prediction, per_frame = metrics.get("prediction"), metrics.get("per_frame")
    candidates = [
        prediction.get("per_frame") if isinstance(prediction, Mapping) else None,  # videoae.evaluation.evaluate
        per_frame.get("prediction") if isinstance(per_frame, Mapping) else None,
        per_frame,
    ]
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            found = {metric: _curve(candidate.get(metric)) for metric in PER_FRAME_METRICS}
            curves = {metric: curve for metric, curve in found.items() if curve is not None}
            if curves:
                return curves
    return {}


def plot_per_frame(metrics: Mapping, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Prediction metrics against the number of frames after the input, one panel per metric.

    Draws cross-entropy, MSE and SSIM (those present), one value per predicted frame, read from
    ``metrics["prediction"]["per_frame"]`` as :func:`videoae.evaluation.evaluate` writes it (also accepted:
    ``metrics["per_frame"]["prediction"]``, a flat ``metrics["per_frame"]``, or a trainer's
    ``{"step", "eval": ...}`` record). Baselines in ``metrics["baselines"][name]`` are drawn as
    curves from their own ``"per_frame"`` when present, else as dashed lines at their overall values.

    Args:
        metrics: the evaluation's JSON, parsed.
        path: destination ``.png``; its folder is created.
        title: figure title; default "prediction quality per predicted frame".

    Returns:
        The path written.
    """
    curves = _prediction_curves(metrics) if isinstance(metrics, Mapping) else {}
    if not curves:
        raise InvalidInputError(
            "metrics has no per-frame curves (expected metrics['prediction']['per_frame'] with 'bce', 'mse' or "
            "'ssim' lists, as videoae.evaluation.evaluate writes them); evaluate a model that has a future predictor"
        )
    metrics = metrics["eval"] if isinstance(metrics.get("eval"), Mapping) else metrics
    baselines = metrics.get("baselines")
    baselines = baselines if isinstance(baselines, Mapping) else {}
    colours = _baseline_colours(str(name) for name in baselines)
    figure = new_figure((PER_FRAME_WIDTH, PER_FRAME_HEIGHT_PER_METRIC * len(curves) + 0.6))
    all_axes = np.atleast_1d(figure.subplots(len(curves), 1, sharex=True, squeeze=False)[:, 0])
    for axes, (metric, curve) in zip(all_axes, curves.items()):
        frames = np.arange(1, len(curve) + 1)
        values = _line(axes, frames, curve, label="model", color="tab:blue", linewidth=1.5)
        constants = {}
        for name, numbers in sorted(baselines.items()):
            if not isinstance(numbers, Mapping):
                continue
            own = numbers.get("per_frame")
            baseline_curve = _curve(own.get(metric)) if isinstance(own, Mapping) else None
            if baseline_curve is not None:
                style = {"color": colours[name], "linestyle": "--", "linewidth": 1.0}
                values += _line(
                    axes, np.arange(1, len(baseline_curve) + 1), baseline_curve, label=BASELINE_DESCRIPTIONS.get(name, name), **style
                )
            elif (value := _number(numbers.get(metric))) is not None:
                constants[name] = value
        values += _baseline_lines(axes, constants, colours)
        name, unit = METRIC_AXES[metric]
        axes.xaxis.get_major_locator().set_params(integer=True)
        _finish(axes, title=name, ylabel=f"{name} ({unit})", xlabel=None, empty_text="", values=values, log_ok=metric in LOG_SCALE_METRICS)
    all_axes[-1].set_xlabel("frames after the input")
    all_axes[-1].set_xlim(0.5, max(len(c) for c in curves.values()) + 0.5)
    figure.suptitle(title or "prediction quality per predicted frame")
    return save_figure(figure, path)
