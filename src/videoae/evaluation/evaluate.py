"""Scoring a model's reconstructions and future predictions on a set of videos.

The first ``num_input_frames`` frames of each video are the model's input, the following
``num_future`` frames the truth its predictions are scored against. Scores use the conventions of
:mod:`videoae.evaluation.metrics` (nats per frame, errors summed per frame, SSIM and PSNR per frame), averaged
over frames and sequences, beside three baselines that set the scale: repeating the last input
frame, filling every pixel with the mean intensity of the input, and a blank frame of the
background value (black, 0, for Moving MNIST). The blank frame matters for SSIM: on frames that are
mostly background it scores above copy-last (0.72 against 0.58 on 2-digit Moving MNIST), so a model
has beaten the baselines only where it beats all three (:func:`baselines_not_beaten`).

:func:`evaluate` scores an array of videos; :func:`evaluate_data` scores a named data set (see
:mod:`videoae.data.evaluation_sets`) a block of sequences at a time, with the same result. Predictions
may run past the horizon a model was trained on: evaluation is inference, so a conditional
decoder is fed its own previous output for as many frames as there is truth to score.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from videoae.data.evaluation_sets import DEFAULT_BLOCK_SEQUENCES, EvaluationData, source_name
from videoae.data.pixels import to_unit_float
from videoae.errors import InvalidInputError
from videoae.evaluation.metrics import UNITS, MetricSums, score_predictions
from videoae.models import evaluation_mode, model_device
from videoae.progress import progress_callback
from videoae.validation import check_int, resolve_device

logger = logging.getLogger(__name__)

DEFAULT_NUM_INPUT_FRAMES = 10
DEFAULT_BATCH_SIZE = 64
BASELINES = ("copy_last", "mean", "blank")
# The pixel value of an empty frame: Moving MNIST's black background (pixels in [0, 1]).
BACKGROUND_VALUE = 0.0
# What each baseline is, in words, for tables, plots and reports.
BASELINE_DESCRIPTIONS = {
    "copy_last": "repeat the last input frame",
    "mean": "mean intensity of the input",
    "blank": f"blank frame (every pixel {BACKGROUND_VALUE:g}, the background)",
}
# Metrics on which a higher score is better; lower is better on the others.
HIGHER_IS_BETTER = ("ssim", "psnr")


def baseline_predictions(inputs: Tensor, num_future: int) -> dict[str, Tensor]:
    """Predictions that need no model, to put a model's scores on a scale.

    Args:
        inputs: (B, T, ...) input frames in [0, 1].
        num_future: frames to predict.

    Returns:
        ``copy_last``: the last input frame, repeated; ``mean``: every pixel set to the mean of all
        pixels of that sequence's input frames; ``blank``: every pixel :data:`BACKGROUND_VALUE`.
        Each (B, num_future, ...).
    """
    if inputs.dim() < 3 or inputs.shape[1] == 0:
        raise InvalidInputError(f"inputs must have shape (batch, time, ...) with at least one frame, got {tuple(inputs.shape)}")
    if num_future < 1:
        raise InvalidInputError(f"num_future must be >= 1, got {num_future}")
    batch, _, *frame = inputs.shape
    shape = (batch, num_future, *frame)
    pixel_dims = tuple(range(1, inputs.dim()))
    mean = inputs.mean(dim=pixel_dims, keepdim=True)  # (B, 1, 1, ...)
    return {
        "copy_last": inputs[:, -1:].expand(shape),
        "mean": mean.expand(shape),
        "blank": torch.full_like(mean, BACKGROUND_VALUE).expand(shape),
    }


def baselines_not_beaten(result: dict, part: str = "prediction") -> dict[str, list[str]]:
    """The baselines that ``part`` of an evaluation does not beat, metric by metric.

    A tie is not a win. Baselines predict the future frames, so only the prediction is compared
    with them; reconstructions are scored on other frames.

    Args:
        result: :func:`evaluate`'s result (or the same layout read from JSON).
        part: the model's scores to compare.

    Returns:
        ``{metric: [baseline, ...]}`` for every metric both sides have; an empty list where the
        model beats every baseline. Empty when there is no ``part`` or no baseline.
    """
    model = result.get(part)
    baselines = result.get("baselines") or {}
    if not isinstance(model, dict) or not isinstance(baselines, dict):
        return {}
    verdict: dict[str, list[str]] = {}
    for metric, value in model.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue  # the per-frame curves
        scored = {name: scores[metric] for name, scores in baselines.items() if isinstance(scores, dict) and metric in scores}
        if not scored:
            continue
        if metric in HIGHER_IS_BETTER:
            verdict[metric] = [name for name, other in scored.items() if not value > other]
        else:
            verdict[metric] = [name for name, other in scored.items() if not value < other]
    return verdict


METRIC_NAMES = {"bce": "BCE", "mse": "MSE", "mae": "MAE", "ssim": "SSIM", "psnr": "PSNR"}


def baseline_verdict(result: dict) -> list[str]:
    """Which baselines the prediction beats, metric by metric, as sentences for people (empty
    without a prediction or baselines). Where it does not beat every baseline, it says which."""
    not_beaten = baselines_not_beaten(result)
    if not not_beaten:
        return []
    count = len(result["baselines"])
    won = [METRIC_NAMES.get(metric, metric) for metric, names in not_beaten.items() if not names]
    lost = {metric: names for metric, names in not_beaten.items() if names}
    if not lost:
        return [f"verdict: the prediction beats all {count} baselines on every metric."]
    if won:
        words = won[0] if len(won) == 1 else ", ".join(won[:-1]) + " and " + won[-1]
        lines = [f"verdict: the prediction beats all {count} baselines on {words}."]
    else:
        lines = ["verdict: on no metric does the prediction beat every baseline."]
    model = result["prediction"]
    for metric, names in lost.items():
        direction = "higher" if metric in HIGHER_IS_BETTER else "lower"
        others = ", ".join(f"{name} {result['baselines'][name][metric]:.4g}" for name in names)
        lines.append(
            f"  not on {METRIC_NAMES.get(metric, metric)} ({direction} is better): the model's {model[metric]:.4g} does not beat {others}."
        )
    return lines


def _check_videos(videos: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """Validate the videos; returns them as (N, T, C, H, W), uint8 or float, not yet converted."""
    if not isinstance(videos, (np.ndarray, Tensor)):
        raise InvalidInputError(f"videos must be a numpy array or torch tensor, got {type(videos).__name__}")
    if videos.ndim == 4:
        videos = videos[:, :, None]  # (N, T, 1, H, W)
    if videos.ndim != 5:
        raise InvalidInputError(f"videos must have shape (N, T, H, W) or (N, T, C, H, W), got {tuple(videos.shape)}")
    if videos.shape[0] == 0:
        raise InvalidInputError("videos is empty: there are no sequences to evaluate")
    is_uint8 = videos.dtype == (torch.uint8 if isinstance(videos, Tensor) else np.uint8)
    is_float = videos.is_floating_point() if isinstance(videos, Tensor) else np.issubdtype(videos.dtype, np.floating)
    if not (is_uint8 or is_float):
        raise InvalidInputError(f"videos must be uint8 (0-255) or float (0-1), got {videos.dtype}")
    if is_float:
        finite = torch.isfinite(videos).all() if isinstance(videos, Tensor) else np.isfinite(videos).all()
        if not finite:
            raise InvalidInputError("videos contain NaN or infinite values")
        low, high = float(videos.min()), float(videos.max())
        if low < 0.0 or high > 1.0:
            raise InvalidInputError(f"float videos must hold values in [0, 1], got [{low:g}, {high:g}]; pass uint8 frames or divide by 255")
    return videos


def _batch_to_float(videos: np.ndarray | Tensor, start: int, stop: int, device: torch.device) -> Tensor:
    """Sequences [start, stop) as float32 in [0, 1] on ``device``; converting per batch keeps memory flat."""
    chunk = videos[start:stop]
    # A copy: the caller's array may be read-only (the cached embedded test set is).
    chunk = chunk if isinstance(chunk, Tensor) else torch.from_numpy(np.array(chunk))
    chunk = chunk.to(device)
    return to_unit_float(chunk)


def _resolve_frames(total: int, num_input_frames: int, num_future: int | None, needs_future: bool) -> tuple[int, int]:
    """Validate the input/future split of ``total`` frames; returns (input frames, future frames)."""
    num_input_frames = check_int("num_input_frames", num_input_frames, 1)
    if num_input_frames > total:
        raise InvalidInputError(
            f"num_input_frames={num_input_frames} but the videos have only {total} frames; pass a smaller num_input_frames"
        )
    future = total - num_input_frames if num_future is None else check_int("num_future", num_future, 1)
    if num_input_frames + future > total:
        raise InvalidInputError(
            f"num_input_frames + num_future = {num_input_frames + future} but the videos have only {total} frames: "
            "scoring needs true future frames; lower num_future (predicting past the end is done with model.predict)"
        )
    if needs_future and future < 1:
        raise InvalidInputError(
            f"no frames are left after the {num_input_frames} input frames to score predictions against; lower num_input_frames"
        )
    return num_input_frames, future


def evaluate(
    model: nn.Module | None,
    videos: np.ndarray | Tensor,
    *,
    num_input_frames: int = DEFAULT_NUM_INPUT_FRAMES,
    num_future: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
    baselines: bool = True,
    on_progress: Callable[[int], None] | None = None,
    progress: bool | None = None,
) -> dict:
    """Score a model's reconstructions and predictions (and the baselines) on ``videos``.

    The model runs in eval mode without autograd: a conditional decoder is fed its own previous
    output, i.e. true inference. Its train/eval mode is restored afterwards. Where the model gives
    logits, cross-entropy is computed from them.

    Args:
        model: a :class:`~videoae.models.CompositeModel` (or None to score only the baselines).
        videos: uint8 (N, T, H, W) / (N, T, C, H, W) in 0-255, or float in [0, 1], numpy or torch.
        num_input_frames: the first frames of each video, read by the encoder.
        num_future: the frames after them that predictions are scored on (default: all the rest);
            ``num_input_frames + num_future`` may not exceed T.
        batch_size: sequences per forward pass; does not change the result.
        device: where to compute; the model is moved there. Default: where the model is.
        baselines: also score the :data:`BASELINES` predictions of the future.
        on_progress: called with the number of sequences just scored, after every batch (a
            progress bar's ``update``).
        progress: without ``on_progress``, show a progress bar: None (default) only in a notebook,
            True or False always or never.

    Returns:
        ``{"prediction": {...}, "reconstruction": {...}, "baselines": {"copy_last": {...},
        "mean": {...}, "blank": {...}}, "data": {"num_sequences", "num_input_frames", "num_future_frames"},
        "units": {metric: description}}``; each score dict as :func:`videoae.evaluation.metrics.summarize`
        returns it. Keys for decoders the model lacks are absent.
    """
    videos = _check_videos(videos)
    batch_size = check_int("batch_size", batch_size, 1)
    predictor = getattr(model, "predictor", None) if model is not None else None
    reconstructor = getattr(model, "reconstructor", None) if model is not None else None
    num_sequences, total_frames = videos.shape[:2]
    num_input_frames, future = _resolve_frames(total_frames, num_input_frames, num_future, needs_future=predictor is not None or baselines)
    if model is not None:
        frame_shape = tuple(model.config.frame_shape)
        if tuple(videos.shape[2:]) != frame_shape:
            raise InvalidInputError(f"the model expects frames of shape {frame_shape}, the videos have {tuple(videos.shape[2:])}")
    device = (model_device(model) if model is not None else torch.device("cpu")) if device is None else resolve_device(device)
    if model is not None:
        model.to(device)

    sums: dict[str, MetricSums] = {}

    def collect(target: Tensor, predictions: dict[str, Tensor], logits: dict[str, Tensor]) -> None:
        # One call per target: the predictions of the same frames share the target's statistics.
        scores = score_predictions(target, predictions, logits={k: v for k, v in logits.items() if v is not None})
        for name, values in scores.items():
            sums.setdefault(name, MetricSums()).add(values)

    context = evaluation_mode(model) if model is not None else torch.no_grad()
    reporting = progress_callback(num_sequences, "scoring", "seq", show=progress, on_progress=on_progress)
    with context, reporting as on_progress:
        for start in range(0, num_sequences, batch_size):
            stop = min(start + batch_size, num_sequences)
            clips = _batch_to_float(videos, start, stop, device)  # (B, T, C, H, W)
            inputs = clips[:, :num_input_frames]
            truth = clips[:, num_input_frames : num_input_frames + future]
            guesses: dict[str, Tensor] = {}
            logits: dict[str, Tensor | None] = {}
            if model is not None:
                outputs = model(inputs, truth if predictor is not None else None)
                if reconstructor is not None:
                    collect(inputs, {"reconstruction": outputs["reconstruction"]}, {"reconstruction": outputs.get("reconstruction_logits")})
                if predictor is not None:
                    guesses["prediction"], logits["prediction"] = outputs["prediction"], outputs.get("prediction_logits")
            if baselines:
                guesses.update({f"baseline/{name}": guess for name, guess in baseline_predictions(inputs, future).items()})
            if guesses:
                collect(truth, guesses, logits)
            logger.debug("evaluated %d of %d sequences", stop, num_sequences)
            if on_progress is not None:
                on_progress(stop - start)

    result: dict = {}
    for name in ("prediction", "reconstruction"):
        if name in sums:
            result[name] = sums[name].summary()
    if baselines:
        result["baselines"] = {name: sums[f"baseline/{name}"].summary() for name in BASELINES}
    result["data"] = {"num_sequences": int(num_sequences), "num_input_frames": int(num_input_frames), "num_future_frames": int(future)}
    result["units"] = dict(UNITS)
    return result


def weighted_mean(parts: list, weights: list[int]) -> object:
    """The mean of same-shaped results (nested dicts and lists of numbers), weighted by ``weights``."""
    first = parts[0]
    if isinstance(first, dict):
        return {key: weighted_mean([part[key] for part in parts], weights) for key in first}
    if isinstance(first, list):
        return [weighted_mean([part[index] for part in parts], weights) for index in range(len(first))]
    total = sum(weights)
    return sum(float(part) * weight for part, weight in zip(parts, weights)) / total


def evaluate_data(
    model: nn.Module | None,
    data: EvaluationData,
    *,
    num_input_frames: int = DEFAULT_NUM_INPUT_FRAMES,
    num_future: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device | None = None,
    baselines: bool = True,
    block_sequences: int = DEFAULT_BLOCK_SEQUENCES,
    on_progress: Callable[[int], None] | None = None,
    progress: bool | None = None,
) -> dict:
    """:func:`evaluate` on an :class:`~videoae.data.evaluation_sets.EvaluationData`, a block at a time.

    Memory stays bounded by one block whatever the number of sequences and frames (a 100-frame
    rollout on 10,000 sequences included). Means of blocks are combined weighted by their sequence
    counts, which gives the mean over all sequences.

    Args:
        model, num_input_frames, num_future, batch_size, device, baselines, on_progress, progress: as
            for :func:`evaluate` (``on_progress`` and the bar count sequences of the whole data set).
        data: the videos, e.g. from :func:`~videoae.data.evaluation_sets.evaluation_data`.
        block_sequences: sequences loaded at once.

    Returns:
        :func:`evaluate`'s result, with ``data`` describing the data set (source, sequences, digits,
        frame size) and the input and future frames scored.
    """
    results, counts = [], []
    # one display for the whole set, not one per block
    with progress_callback(
        data.num_sequences, f"scoring {source_name(data.source)}", "seq", show=progress, on_progress=on_progress
    ) as report:
        for block in data.blocks(block_sequences):
            results.append(
                evaluate(
                    model,
                    block,
                    num_input_frames=num_input_frames,
                    num_future=num_future,
                    batch_size=batch_size,
                    device=device,
                    baselines=baselines,
                    on_progress=report,
                    progress=False,
                )
            )
            counts.append(len(block))
            logger.debug("evaluated %d of %d sequences", sum(counts), data.num_sequences)
    units, frames = results[0].pop("units"), results[0].pop("data")
    for result in results[1:]:
        del result["units"], result["data"]
    merged = results[0] if len(results) == 1 else weighted_mean(results, counts)
    description = data.describe()
    description.pop("num_frames", None)  # the frames scored are stated next
    merged["data"] = {**description, "num_input_frames": frames["num_input_frames"], "num_future_frames": frames["num_future_frames"]}
    merged["units"] = units
    return merged
