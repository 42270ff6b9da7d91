"""The two members of the family, flat and spatial: how a frame enters and leaves the recurrent core.

- ``cell="lstm"`` (the paper): a frame is a vector of its D values, the core an
  :class:`~videoae.models.lstm.LSTMStack`, the readout a linear layer back to D values.
- ``cell="convlstm"`` (Shi et al. 2015): a (C, H, W) frame is cut into ``patch_size`` blocks,
  space-to-depth (64x64x1 becomes 16x16x16 at patch 4), the core a
  :class:`~videoae.models.convlstm.ConvLSTMStack` on that grid, the readout a 1x1 convolution back
  to the blocks, put back in place.

Both are bijections between a frame and its model-space values, so losses summed over model space
are summed over the frame's pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from videoae.models.config import ModelConfig
from videoae.models.convlstm import ConvLSTMStack
from videoae.models.deferred_grad import weight_product
from videoae.models.lstm import LSTMStack


def is_spatial(config: ModelConfig) -> bool:
    """True for the ConvLSTM member of the family."""
    return config.cell == "convlstm"


def model_input_size(config: ModelConfig) -> int:
    """Values per frame (flat) or channels per grid position (spatial) that the core reads."""
    if is_spatial(config):
        return config.frame_shape[0] * config.patch_size**2
    return config.frame_size


def grid_size(config: ModelConfig) -> tuple[int, int]:
    """(H, W) of the spatial core's maps: the frame's, divided by the patch size."""
    return config.frame_shape[1] // config.patch_size, config.frame_shape[2] // config.patch_size


def to_model_space(frames: Tensor, config: ModelConfig) -> Tensor:
    """(T, B, *frame_shape) -> (T, B, D) flat, or (T, B, C * p * p, H / p, W / p) spatial."""
    steps, batch = frames.shape[:2]
    if is_spatial(config):
        return F.pixel_unshuffle(frames.flatten(0, 1), config.patch_size).unflatten(0, (steps, batch))
    return frames.reshape(steps, batch, config.frame_size)


def to_frame_space(values: Tensor, config: ModelConfig) -> Tensor:
    """The inverse of :func:`to_model_space`: (T, B, ...) -> (T, B, *frame_shape)."""
    steps, batch = values.shape[:2]
    if is_spatial(config):
        return F.pixel_shuffle(values.flatten(0, 1), config.patch_size).unflatten(0, (steps, batch))
    return values.reshape(steps, batch, *config.frame_shape)


def recurrent_stack(config: ModelConfig, input_size: int) -> LSTMStack | ConvLSTMStack:
    """The core of an encoder or decoder: ``input_size`` values (flat) or channels (spatial), 0 for none."""
    options = dict(
        peepholes=config.peepholes,
        forget_bias=config.forget_bias,
        init=config.init,
        init_range=config.init_range,
        peephole_init_range=config.peephole_init_range,
        dropout=config.dropout,
    )
    if is_spatial(config):
        return ConvLSTMStack(
            input_size, config.hidden_size, config.num_layers, kernel_size=config.kernel_size, grid_size=grid_size(config), **options
        )
    return LSTMStack(input_size, config.hidden_size, config.num_layers, **options)


def make_readout(config: ModelConfig) -> nn.Linear | nn.Conv2d:
    """The layer from the top hidden state to model-space values (logits, or linear outputs)."""
    size = model_input_size(config)
    return nn.Conv2d(config.hidden_size, size, kernel_size=1) if is_spatial(config) else nn.Linear(config.hidden_size, size)


def read_out(layer: nn.Linear | nn.Conv2d, hidden: Tensor) -> Tensor:
    """Every timestep at once: (T, B, H) -> (T, B, D), or (T, B, C, h, w) -> (T, B, C', h, w)."""
    if isinstance(layer, nn.Conv2d):
        return layer(hidden.flatten(0, 1)).unflatten(0, hidden.shape[:2])
    return layer(hidden)


def readout_stepper(layer: nn.Linear | nn.Conv2d) -> Callable[[Tensor], Tensor]:
    """One timestep's readout, (B, ...) -> (B, ...). Create one per forward pass: the flat one
    defers its weight gradient to one product per backward pass."""
    if isinstance(layer, nn.Conv2d):
        return layer
    product = weight_product(layer.weight)
    return lambda hidden: product(hidden) + layer.bias
