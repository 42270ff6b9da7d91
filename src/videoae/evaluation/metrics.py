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
  sigma=1.5, use_sample_covariance=False, data_range=1)`` (checked against a window-by-window implementation, not against skimage itself). Frames must be at least 11x11.
- ``psnr``: ``10 log10(1 / m)`` in dB, with ``m`` the frame's **mean** squared error per pixel
  (data range 1). A perfect frame would score +inf; ``m`` is floored at ``PSNR_MSE_FLOOR``, which
  caps PSNR at ``PSNR_CAP_DB`` (100 dB) so averages stay finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from videoae.errors import InvalidInputError

PROBABILITY_CLAMP = 1e-7  # probabilities are clamped to [this, 1 - this] before the log
PSNR_MSE_FLOOR = 1e-10  # per-pixel MSE floor for PSNR
PSNR_CAP_DB = 10.0 * math.log10(1.0 / PSNR_MSE_FLOOR)  # the PSNR of a perfect frame: 100 dB

SSIM_WINDOW = 11  # Gaussian window side (Wang et al. 2004)
SSIM_SIGMA = 1.5  # Gaussian window standard deviation, in pixels
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 1.0  # frames hold values in [0, 1]

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


def _pair(prediction: Tensor, target: Tensor, prediction_name: str = "prediction") -> tuple[Tensor, Tensor]:
    """Validate two same-shaped frame tensors and bring them to one float dtype."""
    _frames(prediction, prediction_name)
    _frames(target, "target")
    if prediction.shape != target.shape:
        raise InvalidInputError(
            f"{prediction_name} and target must have the same shape, got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(prediction.dtype, target.dtype), torch.float32)
    return prediction.to(dtype), target.to(dtype)


def _sum_per_frame(values: Tensor) -> Tensor:
    return values.flatten(2).sum(dim=2)  # (B, T)


# -- the metrics ----------------------------------------------------------------------------------


def bce_per_frame(target: Tensor, *, probabilities: Tensor | None = None, logits: Tensor | None = None) -> Tensor:
    """Bernoulli cross-entropy in nats per frame, summed over each frame's pixels.

    Args:
        target: (B, T, ...) frames in [0, 1] (soft targets allowed).
        probabilities: predicted pixel probabilities, same shape; clamped to
            ``[PROBABILITY_CLAMP, 1 - PROBABILITY_CLAMP]``.
        logits: predicted logits, same shape; preferred (numerically stable). Give exactly one.

    Returns:
        (B, T) cross-entropy per frame (float64 when computed from probabilities).
    """
    if (probabilities is None) == (logits is None):
        raise InvalidInputError("bce_per_frame needs exactly one of probabilities= or logits=")
    if logits is not None:
        logits, target = _pair(logits, target, "logits")
        return _sum_per_frame(F.binary_cross_entropy_with_logits(logits, target, reduction="none"))
    probabilities, target = _pair(probabilities, target, "probabilities")
    # In float64: in float32, 1 - 1e-7 rounds to 1 - 1.19e-7 and the clamp would cost 15.9 nats.
    probabilities, target = probabilities.double(), target.double()
    p = probabilities.clamp(PROBABILITY_CLAMP, 1.0 - PROBABILITY_CLAMP)
    return _sum_per_frame(-(target * torch.log(p) + (1.0 - target) * torch.log1p(-p)))


def mse_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """Squared error summed over each frame's pixels (and channels): (B, T)."""
    prediction, target = _pair(prediction, target)
    return _sum_per_frame((prediction - target).square())


def mae_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """Absolute error summed over each frame's pixels (and channels): (B, T)."""
    prediction, target = _pair(prediction, target)
    return _sum_per_frame((prediction - target).abs())


def psnr_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB per frame, ``10 log10(1 / mean squared error per pixel)``, capped at 100 dB: (B, T)."""
    prediction, target = _pair(prediction, target)
    mse = (prediction - target).square().flatten(2).mean(dim=2)
    return 10.0 * torch.log10(DATA_RANGE**2 / mse.clamp_min(PSNR_MSE_FLOOR))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """The normalised 1-D Gaussian (size,) whose outer product is SSIM's 2-D window."""
    offsets = torch.arange(size, dtype=dtype) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def _valid_filter_matrix(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(size - 10, size): row i holds the Gaussian window at columns i..i+10 (a valid convolution)."""
    window = gaussian_window(dtype=dtype)
    matrix = torch.zeros(size - SSIM_WINDOW + 1, size, dtype=dtype)
    for i in range(matrix.shape[0]):
        matrix[i, i : i + SSIM_WINDOW] = window
    return matrix.to(device)


def ssim_per_frame(prediction: Tensor, target: Tensor) -> Tensor:
    """SSIM per frame (Gaussian window 11, sigma 1.5, data range 1, no padding), mean over pixels and channels.

    Args:
        prediction: (B, T, C, H, W) or (B, T, H, W) frames in [0, 1], H and W at least 11.
        target: the same shape.

    Returns:
        (B, T) SSIM per frame; 1 for a perfect prediction.
    """
    prediction, target = _pair(prediction, target)
    if prediction.dim() == 4:
        prediction, target = prediction.unsqueeze(2), target.unsqueeze(2)
    batch, steps, channels, height, width = prediction.shape
    if height < SSIM_WINDOW or width < SSIM_WINDOW:
        raise InvalidInputError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {height}x{width}")
    x = prediction.reshape(-1, height, width)
    y = target.reshape(-1, height, width)
    maps = torch.stack([x, y, x * x, y * y, x * y], dim=1)  # (N, 5, H, W)
    # The separable Gaussian filter as two banded matrix products (valid part only): much faster
    # on a CPU than a convolution with an 11-tap kernel.
    rows = _valid_filter_matrix(height, maps.dtype, maps.device)  # (H-10, H)
    cols = _valid_filter_matrix(width, maps.dtype, maps.device)  # (W-10, W)
    maps = rows @ maps @ cols.T  # (N, 5, H-10, W-10)
    mu_x, mu_y, xx, yy, xy = maps.unbind(dim=1)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.reshape(batch, steps, -1).mean(dim=2)


def per_frame_metrics(prediction: Tensor, target: Tensor, *, logits: Tensor | None = None) -> dict[str, Tensor]:
    """All five metrics per frame, each (B, T), keyed as :data:`METRICS`.

    Args:
        prediction: (B, T, ...) predicted frames in [0, 1].
        target: the true frames, same shape.
        logits: the logits behind ``prediction`` if the model has them (used for ``bce``).
    """
    bce = bce_per_frame(target, logits=logits) if logits is not None else bce_per_frame(target, probabilities=prediction)
    return {
        "bce": bce,
        "mse": mse_per_frame(prediction, target),
        "mae": mae_per_frame(prediction, target),
        "ssim": ssim_per_frame(prediction, target),
        "psnr": psnr_per_frame(prediction, target),
    }


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
