"""SSIM's machinery: the Gaussian window, local statistics of frames, and the SSIM map's mean.

The definition is in :mod:`videoae.evaluation.metrics`; this module computes it fast. Local means
are two banded matrix products (the separable window, valid part only). Frames are centred on
their own mean before local variances are taken, and a target's variance is computed in float64
(see :class:`TargetMoments`), so that float32 gives the float64 values to 1e-6 relative.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from videoae.errors import InvalidInputError

SSIM_WINDOW = 11  # Gaussian window side (Wang et al. 2004)
SSIM_SIGMA = 1.5  # Gaussian window standard deviation, in pixels
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 1.0  # frames hold values in [0, 1]
C1 = (SSIM_K1 * DATA_RANGE) ** 2
C2 = (SSIM_K2 * DATA_RANGE) ** 2


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """The normalised 1-D Gaussian (size,) whose outer product is SSIM's 2-D window."""
    offsets = torch.arange(size, dtype=dtype) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


@functools.lru_cache(maxsize=8)
def _valid_filter_matrix(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(size - 10, size): row i holds the Gaussian window at columns i..i+10 (a valid convolution)."""
    window = gaussian_window()  # float64, then rounded once to ``dtype``
    matrix = torch.zeros(size - SSIM_WINDOW + 1, size, dtype=torch.float64)
    for i in range(matrix.shape[0]):
        matrix[i, i : i + SSIM_WINDOW] = window
    return matrix.to(dtype=dtype, device=device)


def _window_means(maps: Tensor) -> Tensor:
    """SSIM's Gaussian-weighted local means of (..., H, W) maps where the window fits: (..., H-10, W-10).

    The separable filter as two banded matrix products: on a CPU faster than an 11-tap
    convolution (depthwise convolutions over maps stored last included, once the transposes they
    need are counted), and the first product is one large matrix product over every row of every map.
    """
    height, width = maps.shape[-2:]
    rows = _valid_filter_matrix(height, maps.dtype, maps.device)  # (H-10, H)
    cols = _valid_filter_matrix(width, maps.dtype, maps.device)  # (W-10, W)
    return torch.matmul(rows, torch.matmul(maps, cols.T))


@dataclass
class Moments:
    """SSIM's local statistics of frames, computed on the frames minus their own mean.

    Centring keeps variances and covariances (differences of nearly equal local means) exact
    enough in float32: without it, a frame of almost constant grey loses its variance to rounding.
    Frames that hold one value each (an expanded mean) are kept as that value: their local mean is
    the value and their variance zero, with no filtering at all.
    """

    offset: Tensor  # (B, T, C, 1, 1): each frame's mean
    centred: Tensor | None  # (B, T, C, H, W): the frames minus their mean; None for constant frames
    mean: Tensor | None  # (B, T, C, H-10, W-10): local mean of the centred frames
    variance: Tensor | None  # their local variance

    @classmethod
    def of(cls, frames: Tensor, *, wide: bool = False) -> Moments:
        """The moments of ``frames``; ``wide``: compute the variance in float64, then round it."""
        offset = frames.mean(dim=(-2, -1), keepdim=True)
        if frames.shape[-2:] == (1, 1):
            return cls(offset, None, None, None)
        maps = frames.new_empty((2, *frames.shape), dtype=torch.float64 if wide else frames.dtype)
        centred = torch.sub(frames, offset, out=maps[0])
        torch.mul(centred, centred, out=maps[1])
        mean, square = _window_means(maps).unbind(0)
        variance = square.addcmul_(mean, mean, value=-1.0)
        return cls(offset, centred.to(frames.dtype), mean.to(frames.dtype), variance.to(frames.dtype))


@dataclass
class TargetMoments:
    """A target's SSIM terms that do not depend on the prediction, computed once for all of them.

    Its variance is computed in float64, then rounded: inside a digit's stroke, far from the
    frame's mean, the local variance is zero, and float32 computes it as +-1e-7, which next to
    C2 = 9e-4 moved the SSIM of low-SSIM predictions by 1e-6 relative. Predictions need no such
    care: this is the one place where float32 changed a digit.
    """

    moments: Moments
    four_mu: Tensor  # 4 mu_y (the luminance term below is doubled, saving a pass)
    mu_square_c1: Tensor  # mu_y^2 + C1
    variance_c2: Tensor  # variance + C2

    @classmethod
    def of(cls, frames: Tensor) -> TargetMoments:
        moments = Moments.of(frames, wide=True)
        mu = moments.mean + moments.offset
        return cls(moments, mu * 4, torch.mul(mu, mu).add_(C1), moments.variance + C2)


def ssim_from_moments(x: Moments, y: TargetMoments) -> Tensor:
    """Mean SSIM over each frame's pixels and channels, (B, T), of frames ``x`` against target frames ``y``.

    The map is ``(2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2))``,
    written with the factor 2 of the covariance moved into the luminance term.
    """
    mu_x = x.offset if x.mean is None else x.mean + x.offset
    luminance = torch.addcmul(y.mu_square_c1.new_tensor(2 * C1), mu_x, y.four_mu)  # 2 (2 mu_x mu_y + C1)
    denominator = torch.addcmul(y.mu_square_c1, mu_x, mu_x)
    if x.centred is None:  # a constant frame: no variance, no covariance
        numerator = luminance.mul_(C2 / 2)
        denominator = denominator.mul_(y.variance_c2)
    else:
        products = _window_means(x.centred * y.moments.centred)
        numerator = luminance.mul_(products.addcmul_(x.mean, y.moments.mean, value=-1.0).add_(C2 / 2))
        denominator = denominator.mul_(x.variance + y.variance_c2)
    return numerator.div_(denominator).mean(dim=(-2, -1)).mean(dim=2)


def check_ssim_size(frames: Tensor) -> None:
    height, width = frames.shape[-2:]
    if height < SSIM_WINDOW or width < SSIM_WINDOW:
        raise InvalidInputError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {height}x{width}")
