"""Faults that must not lose work: divergence, kills, a second writer, bad settings and bad files
on resume. Each test names the guarantee it checks (docs/training.md, "Reliability")."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import BEST_CHECKPOINT, LAST_CHECKPOINT
from videoae.training.config import RunConfig
from videoae.training.loop import TrainingDiverged, train

FAST = dict(batch_size=4, eval_sequences=8, num_workers=0, log_every=2, checkpoint_every=3, eval_every=5)
TINY_MODEL = {"preset": "tiny", "hidden_size": 8}


def tiny_run(**train_options) -> RunConfig:
    return RunConfig.from_dict({"model": TINY_MODEL, "train": {**FAST, **train_options}})


def all_finite(path: Path) -> bool:
    checkpoint = read_checkpoint(path)
    tensors = [*checkpoint.model_state.values()]
    for state in checkpoint.optimizer_state["state"].values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return all(torch.isfinite(t).all() for t in tensors)


def test_an_update_that_breaks_the_weights_is_never_saved(tmp_path: Path) -> None:
    # lr=1e38: the loss of step 1 is finite, the weights after it are not
    run = tiny_run(max_steps=20, checkpoint_every=1, log_every=1, lr=1e38)
    with pytest.raises(TrainingDiverged, match="weights or optimizer state became non-finite.*no checkpoint was written"):
        train(run, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / LAST_CHECKPOINT).exists()


def test_resuming_with_a_diverging_learning_rate_keeps_the_good_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(tiny_run(max_steps=3), run_dir, progress=False)
    with pytest.raises(TrainingDiverged, match=r"last good checkpoint .* is kept"):
        train(tiny_run(max_steps=20, checkpoint_every=1, eval_every=1, lr=1e38), run_dir, resume=True, progress=False)
    # (an update to huge but finite weights can still be saved: finiteness is what is checked)
    assert all_finite(run_dir / LAST_CHECKPOINT) and all_finite(run_dir / BEST_CHECKPOINT)
