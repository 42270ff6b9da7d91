"""A decoder's learned motion: the frame it was fed, moved along a flow field read from its state.

Moving MNIST's digits translate rigidly, so the next frame is mostly the previous one moved. A
decoder with ``skip_connection="warp"`` reads a displacement in pixels for every pixel from its
hidden maps (a 3x3 convolution, upsampled from the grid to the frame), samples the fed frame there
(bilinear, zeros outside), and adds the result's logits to its readout; its readout then only
draws what moving cannot explain. The flow starts at zero, so the decoder starts by copying.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FlowWarp(nn.Module):
    """Hidden maps (N, C, h, w) and a fed frame in model space (N, c * p * p, h, w) -> the fed
    frame moved by the flow the maps say, in model space.

    Args:
        channels: hidden channels C.
        patch_size: p, the side of the blocks a frame is cut into.
    """

    def __init__(self, channels: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.flow = nn.Conv2d(channels, 2, kernel_size=3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """No motion at first: the decoder starts by copying the fed frame."""
        nn.init.zeros_(self.flow.weight)
        nn.init.zeros_(self.flow.bias)

    def forward(self, hidden: Tensor, fed: Tensor) -> Tensor:
        frame = F.pixel_shuffle(fed, self.patch_size)  # (N, c, H, W)
        height, width = frame.shape[-2:]
        flow = F.interpolate(self.flow(hidden).float(), size=(height, width), mode="bilinear", align_corners=False)  # (N, 2, H, W) pixels
        # grid_sample wants where to read each output pixel, in [-1, 1] coordinates (x, y).
        ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=fed.device)
        xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=fed.device)
        base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H, W, 2)
        scale = torch.tensor([2.0 / width, 2.0 / height], device=fed.device)
        grid = base - flow.permute(0, 2, 3, 1) * scale  # a pixel moving by +flow is read from -flow
        moved = F.grid_sample(frame.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return F.pixel_unshuffle(moved.to(fed.dtype), self.patch_size)
