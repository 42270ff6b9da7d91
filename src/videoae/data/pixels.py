"""Pixel values: uint8 0..255 in files and pictures, float in [0, 1] in models and metrics."""

from __future__ import annotations

import numpy as np
import torch

from videoae.errors import InvalidInputError

UINT8_MAX = 255


def to_unit_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (0..255) as float32 in [0, 1]; float frames as float32, unchanged in value."""
    if frames.dtype == torch.uint8:
        return frames.float().div_(UINT8_MAX)
    return frames.float()


def videos_to_tensor(videos: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, T, H, W) or (n, T, C, H, W) uint8 or float videos -> float32 (n, T, C, H, W) in [0, 1] on ``device``."""
    tensor = to_unit_float(torch.from_numpy(np.array(videos)))  # a writable copy: inputs may be read-only views
    return (tensor.unsqueeze(2) if tensor.dim() == 4 else tensor).to(device)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Convert frames to uint8: floats are clipped to [0, 1], scaled by 255 and rounded.

    Args:
        frames: an array of any shape: floats, uint8 (returned as a copy) or bool (0/255).

    Returns:
        uint8 array of the same shape.

    Raises:
        InvalidInputError: NaN/infinite values or a dtype that is neither float, uint8 nor bool.
    """
    array = np.asarray(frames)
    if array.dtype == np.uint8:
        return array.copy()
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(UINT8_MAX)
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidInputError(f"frames have dtype {array.dtype}; pass floats in [0, 1] or uint8")
    if not np.isfinite(array).all():
        raise InvalidInputError("frames hold NaN or infinite values; check the model output before saving it")
    scaled = np.multiply(array, np.float32(UINT8_MAX), dtype=np.float32)
    np.clip(scaled, 0.0, UINT8_MAX, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.uint8)
