"""What the optimizer does at each step: the optimizer itself, the learning rate, scheduled sampling.

Each is a pure function of the step and the train config, so a resumed run continues every
schedule exactly where it stopped.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from videoae.training.config import TrainConfig


def lr_at(step: int, config: TrainConfig) -> float:
    """The learning rate of ``step``: linear warm-up, then constant or cosine decay."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.min_lr_ratio
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def ground_truth_at(step: int, config: TrainConfig) -> float | None:
    """Scheduled sampling's probability of feeding ground truth at ``step`` (None: the model's own)."""
    if config.ground_truth_decay_steps == 0:
        return None
    return max(0.0, 1.0 - step / config.ground_truth_decay_steps)


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam, RMSProp, or SGD with momentum (the authors'), fused where PyTorch offers it."""
    params = model.parameters()
    fused = device.type in ("cpu", "cuda")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, fused=fused)
    return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, foreach=True)
