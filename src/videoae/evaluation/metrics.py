"""Per-frame video metrics, with the conventions of the paper and of today's benchmarks.

Every function takes float tensors of frames, (B, T, C, H, W) or (B, T, H, W), with values in
[0, 1], and returns one value per frame, a (B, T) tensor; callers average over frames and
sequences (:func:`summarize` does). The conventions, so that every number says what it is:

- ``bce``: Bernoulli cross-entropy in **nats per frame**, the unit of Srivastava et al. 2015,
  Table 1: per pixel ``-[y ln p + (1 - y) ln(1 - p)]`` (natural log, soft targets ``y`` allowed),
  **summed** over the frame's pixels. Computed from logits with a numerically stable formula where
  a model gives them; from probabilities otherwise, clamped to ``[PROBABILITY_CLAMP,
  1 - PROBABILITY_CLAMP]`` so that a confident wrong pixel costs about 16.1 nats, not infinity.
  Even a perfect predictor pays the targets' own entropy (about 87 nats per frame on Moving MNIST).
- ``mse``, ``mae``: squared / absolute error **summed** over the frame's pixels (and channels),
  the "per frame" convention of OpenSTL and most papers since 2022. Some repositories print MSE
  per *sequence*, summed over 10 frames: multiply ours by the number of frames to compare.
- ``ssim``: structural similarity (Wang et al. 2004) with an 11x11 Gaussian window of sigma 1.5,
  data range 1, K1 = 0.01, K2 = 0.03, population (not sample) covariances, computed only where
  the window fits inside the frame (no padding), then **averaged** over the frame's pixels and
  channels. It follows the definition of skimage's ``structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1)`` (checked against a window-by-window
  implementation, not against skimage itself). Frames must be at least 11x11.
- ``psnr``: ``10 log10(1 / m)`` in dB, with ``m`` the frame's **mean** squared error per pixel
  (data range 1; for RGB frames the mean over all 3 x H x W values, one PSNR per frame, not per channel). A perfect frame would score +inf; ``m`` is floored at ``PSNR_MSE_FLOOR``, which
  caps PSNR at ``PSNR_CAP_DB`` (100 dB) so averages stay finite.

How they are computed, so that scoring stays cheap next to a model's forward pass: in the inputs'
dtype (float32 for models and videos), with each frame centred on its mean before SSIM's local
variances are taken, and the target's local variance in float64 (inside a digit's stroke float32
rounding would move SSIM); the per-frame values agree with a float64 computation to better than
1e-6 relative in their averages (``tests/test_metrics_pinned.py``). :func:`score_predictions` scores
several predictions of the same frames at once, computing the target's statistics once and a
repeated frame (an ``expand``-ed tensor, as the baselines are) once per sequence, a few sequences
at a time so that memory stays flat.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from videoae.errors import InvalidInputError
from videoae.evaluation.ssim import DATA_RANGE, Moments, TargetMoments, check_ssim_size, ssim_from_moments

PROBABILITY_CLAMP = 1e-7  # probabilities are clamped to [this, 1 - this] before the log
LOG_PROBABILITY_CLAMP = math.log(PROBABILITY_CLAMP)
PSNR_MSE_FLOOR = 1e-10  # per-pixel MSE floor for PSNR
PSNR_CAP_DB = 10.0 * math.log10(1.0 / PSNR_MSE_FLOOR)  # the PSNR of a perfect frame: 100 dB

# Frames scored at once: enough to spread each operation's overhead, few enough that memory stays flat.
SCORE_CHUNK_FRAMES = 64

METRICS = ("bce", "mse", "mae", "ssim", "psnr")
UNITS = {
    "bce": "nats per frame (Bernoulli cross-entropy summed over the frame's pixels)",
    "mse": "squared error summed over the frame's pixels (values in [0, 1])",
    "mae": "absolute error summed over the frame's pixels (values in [0, 1])",
    "ssim": "per-frame SSIM (Gaussian window 11, sigma 1.5, data range 1), higher is better",
    "psnr": f"dB per frame, 10 log10(1 / per-pixel MSE), capped at {PSNR_CAP_DB:g}",
}


# -- validation -----------------------------------------------------------------------------------


def _frames(x: Tensor, name: str) -> Tensor:
    """Validate a (B, T, C, H, W) or (B, T, H, W) float tensor."""
    if not isinstance(x, Tensor):
        raise InvalidInputError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.dim() not in (4, 5):
        raise InvalidInputError(f"{name} must have shape (batch, time, [channels,] height, width), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InvalidInputError(f"{name} must be a float tensor with values in [0, 1], got {x.dtype}; divide uint8 frames by 255")
    return x


def _check_pair(prediction: Tensor, target: Tensor, prediction_name: str = "prediction") -> None:
    """Validate two same-shaped frame tensors."""
    _frames(prediction, prediction_name)
    _frames(target, "target")
    if prediction.shape != target.shape:
        raise InvalidInputError(
            f"{prediction_name} and target must have the same shape, got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def _common_dtype(*tensors: Tensor) -> torch.dtype:
    """The float dtype metrics are computed in: the widest of the inputs', at least float32."""
    return functools.reduce(torch.promote_types, [t.dtype for t in tensors], torch.float32)


def _pair(prediction: Tensor, target: Tensor, prediction_name: str = "prediction") -> tuple[Tensor, Tensor]:
    """Validate two same-shaped frame tensors and bring them to one float dtype."""
    _check_pair(prediction, target, prediction_name)
    dtype = _common_dtype(prediction, target)
    return prediction.to(dtype), target.to(dtype)


def _compact(x: Tensor) -> Tensor:
    """``x`` with its broadcast (stride-0) time and channel axes cut to length 1, and its pixel axes
    too when both are broadcast: the values an expanded tensor repeats, to be computed on once."""
    index = [slice(None)] * x.dim()
    for axis in range(1, x.dim() - 2):
        if x.stride(axis) == 0:
            index[axis] = slice(0, 1)
    if x.stride(-1) == 0 and x.stride(-2) == 0:
        index[-2:] = [slice(0, 1), slice(0, 1)]
    return x[tuple(index)]


def _per_frame(values: Tensor) -> Tensor:
    """(B, T, C, H, W) values summed over each frame's channels and pixels: (B, T)."""
    return values.flatten(2).sum(dim=2)


# -- the metrics ----------------------------------------------------------------------------------


def _bce_from_probabilities(probabilities: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy per frame of clamped probabilities (compact: broadcast over the target)."""
    p = probabilities.clamp(PROBABILITY_CLAMP, 1.0)
    # The upper clamp is applied to the log instead: 1 - 1e-7 has no float32 value, and the nearest
    # one would make a confident wrong pixel cost 15.9 nats instead of 16.1.
    log_not_p = torch.log1p(-p).clamp_min_(LOG_PROBABILITY_CLAMP)
    log_odds = torch.log(p).sub_(log_not_p)
    # y ln p + (1 - y) ln(1 - p) as one pass over the (possibly repeated) prediction's logs.
    return _per_frame(torch.addcmul(log_not_p, target, log_odds)).neg_()


def bce_per_frame(target: Tensor, *, probabilities: Tensor | None = None, logits: Tensor | None = None) -> Tensor:
    """Bernoulli cross-entropy in nats per frame, summed over each frame's pixels.

    Args:
        target: (B, T, ...) frames in [0, 1] (soft targets allowed).
        probabilities: predicted pixel probabilities, same shape; clamped to
            ``[PROBABILITY_CLAMP, 1 - PROBABILITY_CLAMP]``.
        logits: predicted logits, same shape; preferred (numerically stable). Give exactly one.

    Returns:
        (B, T) cross-entropy per frame, in the inputs' float dtype (at least float32).
    """
    if (probabilities is None) == (logits is None):
        raise InvalidInputError("bce_per_frame needs exactly one of probabilities= or logits=")
    if logits is not None:
        logits, target = _pair(logits, target, "logits")
        return _per_frame(F.binary_cross_entropy_with_logits(logits, target, reduction="none"))
    probabilities, target = _pair(probabilities, target, "probabilities")
    return _bce_from_probabilities(_compact(probabilities), target)


def mse_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """Squared error summed over each frame's pixels (and channels): (B, T)."""
    prediction, target = _pair(prediction, target)
    return _per_frame((prediction - target).square())


def mae_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """Absolute error summed over each frame's pixels (and channels): (B, T)."""
    prediction, target = _pair(prediction, target)
    return _per_frame((prediction - target).abs())


def _psnr(squared_error_sums: Tensor, num_values: int) -> Tensor:
    mse = squared_error_sums / num_values
    return 10.0 * torch.log10(DATA_RANGE**2 / mse.clamp_min(PSNR_MSE_FLOOR))


def psnr_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB per frame, ``10 log10(1 / mean squared error per pixel)``, capped at 100 dB: (B, T)."""
    prediction, target = _pair(prediction, target)
    return _psnr(_per_frame((prediction - target).square()), prediction[0, 0].numel())


def _with_channels(x: Tensor) -> Tensor:
    return x.unsqueeze(2) if x.dim() == 4 else x


def ssim_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """SSIM per frame (Gaussian window 11, sigma 1.5, data range 1, no padding), mean over pixels and channels.

    Args:
        prediction: (B, T, C, H, W) or (B, T, H, W) frames in [0, 1], H and W at least 11.
        target: the same shape.

    Returns:
        (B, T) SSIM per frame; 1 for a perfect prediction.
    """
    prediction, target = _pair(prediction, target)
    check_ssim_size(target)
    return score_predictions(target, {"": prediction}, metrics=("ssim",))[""]["ssim"]


def per_frame_metrics(prediction: Tensor, target: Tensor, *, logits: Tensor | None = None) -> dict[str, Tensor]:
    """All five metrics per frame, each (B, T), keyed as :data:`METRICS`.

    Args:
        prediction: (B, T, ...) predicted frames in [0, 1].
        target: the true frames, same shape.
        logits: the logits behind ``prediction`` if the model has them (used for ``bce``).
    """
    return score_predictions(target, {"": prediction}, logits=None if logits is None else {"": logits})[""]


def _chunk_sequences(target: Tensor) -> int:
    """Sequences scored at once: about ``SCORE_CHUNK_FRAMES`` frames, at least one sequence."""
    frames_per_sequence = max(1, target[0].numel() // (target.shape[-1] * target.shape[-2]))
    return max(1, SCORE_CHUNK_FRAMES // frames_per_sequence)


def score_predictions(
    target: Tensor,
    predictions: Mapping[str, Tensor],
    *,
    logits: Mapping[str, Tensor] | None = None,
    metrics: Sequence[str] = METRICS,
) -> dict[str, dict[str, Tensor]]:
    """Every metric of several predictions of the same target frames, each (B, T).

    Gives the values of :func:`per_frame_metrics` for each prediction, with less work: the
    target's SSIM statistics are computed once for all predictions; a prediction that repeats one
    frame over time or one value over a frame (an ``expand``-ed tensor, as the baselines are) is
    filtered once, not once per frame; and a few sequences are scored at a time, so no frame's
    intermediate maps outlive its chunk and memory stays flat however many frames there are.

    Args:
        target: (B, T, ...) true frames in [0, 1].
        predictions: name -> predicted frames, each target's shape (or expanded to it).
        logits: name -> the logits behind that prediction, where a model gives them (for ``bce``).
        metrics: the metrics to compute (default all of :data:`METRICS`).

    Returns:
        ``{name: {metric: (B, T) values}}``.
    """
    logits = dict(logits or {})
    if unknown := set(logits) - set(predictions):
        raise InvalidInputError(f"logits given for {sorted(unknown)} but no such prediction")
    if unknown := set(metrics) - set(METRICS):
        raise InvalidInputError(f"unknown metric(s) {sorted(unknown)}; choose from {', '.join(METRICS)}")
    _frames(target, "target")
    for name, prediction in predictions.items():
        _check_pair(prediction, target, f"prediction {name}".strip())
    for values in logits.values():
        _check_pair(values, target, "logits")
    dtype = _common_dtype(target, *predictions.values(), *logits.values())
    target = _with_channels(target.to(dtype))
    # Compacted before the conversion, which would write out every repeated value.
    compact = {name: _compact(_with_channels(p)).to(dtype) for name, p in predictions.items()}
    full_logits = {name: _with_channels(values).to(dtype) for name, values in logits.items()}
    if "ssim" in metrics:
        check_ssim_size(target)
    num_values = target[0, 0].numel()
    parts: dict[str, dict[str, list[Tensor]]] = {name: {metric: [] for metric in metrics} for name in predictions}
    step = _chunk_sequences(target)
    for start in range(0, target.shape[0], step):
        y = target[start : start + step]
        y_moments = TargetMoments.of(y) if "ssim" in metrics else None
        for name, prediction in compact.items():
            x = prediction[start : start + step]
            out = parts[name]
            difference = x - y if {"mse", "mae", "psnr"} & set(metrics) else None
            squared = _per_frame(difference.square()) if "mse" in metrics or "psnr" in metrics else None
            if "bce" in metrics:
                if name in full_logits:
                    bce = _per_frame(F.binary_cross_entropy_with_logits(full_logits[name][start : start + step], y, reduction="none"))
                else:
                    bce = _bce_from_probabilities(x, y)
                out["bce"].append(bce)
            if "mse" in metrics:
                out["mse"].append(squared)
            if "mae" in metrics:
                out["mae"].append(_per_frame(difference.abs_()))
            if "ssim" in metrics:
                out["ssim"].append(ssim_from_moments(Moments.of(x), y_moments))
            if "psnr" in metrics:
                out["psnr"].append(_psnr(squared, num_values))
    return {name: {metric: torch.cat(values) for metric, values in scores.items()} for name, scores in parts.items()}


class MetricSums:
    """Running sums of per-frame metrics over sequences, for :func:`summarize`'s means without
    keeping every sequence's values."""

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._count = 0

    def add(self, per_frame: Mapping[str, Tensor]) -> None:
        """Add the (N, T) values of N more sequences (T the same every time)."""
        counts = set()
        for name, values in per_frame.items():
            if not isinstance(values, Tensor) or values.dim() != 2 or values.numel() == 0:
                raise InvalidInputError(f"MetricSums needs a non-empty (sequences, frames) tensor per metric; {name!r} is not")
            counts.add(values.shape[0])
            total = values.detach().double().sum(dim=0).cpu()  # (T,)
            if name in self._sums and self._sums[name].shape != total.shape:
                raise InvalidInputError(f"{name!r} has {total.numel()} frames per sequence, earlier values {self._sums[name].numel()}")
            self._sums[name] = self._sums[name] + total if name in self._sums else total
        if len(counts) > 1:
            raise InvalidInputError("every metric must hold values of the same sequences")
        self._count += counts.pop() if counts else 0

    def summary(self) -> dict:
        """As :func:`summarize` of every value added."""
        if not self._count:
            raise InvalidInputError("no values to summarize: add the scores of at least one sequence")
        summary: dict = {name: float(total.sum()) / (self._count * total.numel()) for name, total in self._sums.items()}
        summary["per_frame"] = {name: [float(v) / self._count for v in total] for name, total in self._sums.items()}
        return summary


def summarize(per_frame: dict[str, Tensor]) -> dict:
    """Means over sequences (and frames, for the scalars) of per-frame metrics.

    Args:
        per_frame: metric name -> (N, T) per-frame values of N sequences.

    Returns:
        ``{name: float mean over all frames and sequences, ..., "per_frame": {name: [T floats],
        the mean over sequences at each frame position]}}``.
    """
    summary: dict = {}
    curves: dict[str, list[float]] = {}
    for name, values in per_frame.items():
        if not isinstance(values, Tensor) or values.dim() != 2 or values.numel() == 0:
            raise InvalidInputError(f"summarize needs a non-empty (sequences, frames) tensor per metric; {name!r} is not")
        values = values.detach().double()
        summary[name] = float(values.mean())
        curves[name] = [float(v) for v in values.mean(dim=0)]
    summary["per_frame"] = curves
    return summary
