"""Resume of the spatial family, whose convolution weights are channels-last: the optimizer state
read from a checkpoint must take its parameters' layout, or fused Adam pairs weights with other
weights' moments (``training.loop.match_parameter_layouts``)."""

from __future__ import annotations

from pathlib import Path

import torch

from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import LAST_CHECKPOINT
from videoae.training.config import RunConfig
from videoae.training.loop import train


def test_a_spatial_run_resumed_from_its_checkpoint_ends_bit_identical(tmp_path: Path) -> None:
    options = dict(max_steps=8, batch_size=4, eval_every=100, eval_sequences=4, checkpoint_every=4, log_every=2, num_workers=0)
    run = RunConfig.from_dict({"model": {"preset": "conv-small", "hidden_size": 4}, "train": {**options, "device": "cpu"}})
    train(run, tmp_path / "straight", progress=False)
    train(run.with_overrides(["max_steps=4"]), tmp_path / "stopped", progress=False)
    train(run, tmp_path / "stopped", resume=True, progress=False)
    straight = read_checkpoint(tmp_path / "straight" / LAST_CHECKPOINT).model_state
    resumed = read_checkpoint(tmp_path / "stopped" / LAST_CHECKPOINT).model_state
    assert any(weight.dim() == 4 for weight in straight.values())  # convolutions: channels-last in the model
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
