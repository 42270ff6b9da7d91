"""Faults that must not lose work: divergence, kills, a second writer, bad settings and bad files
on resume. Each test names the guarantee it checks (docs/training.md, "Reliability")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from videoae.models import CompositeModel
from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE
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


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no handler sees it."""


def _kill_at_evaluation(monkeypatch, call: int) -> None:
    import videoae.training.loop as loop

    original, calls = loop.evaluate_during_training, {"n": 0}

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise _Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate_during_training", evaluate)


def _logged(run_dir: Path) -> list[dict]:
    # throughput is wall-clock time: the one field that may differ
    lines = (run_dir / METRICS_FILE).read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seq_per_s"} for line in lines]


def _same_checkpoint(a: Path, b: Path) -> bool:
    first, second = read_checkpoint(a), read_checkpoint(b)
    same_tensors = all(torch.equal(first.model_state[k], second.model_state[k]) for k in first.model_state)
    return same_tensors and (first.step, first.metrics) == (second.step, second.metrics)


def test_a_kill_during_an_evaluation_on_a_checkpoint_step_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    run = tiny_run(max_steps=9, checkpoint_every=3, eval_every=3, log_every=2)
    train(run, tmp_path / "straight", progress=False)
    _kill_at_evaluation(monkeypatch, call=2)  # the evaluation of step 6, a checkpoint step
    with pytest.raises(_Killed):
        train(run, tmp_path / "killed", progress=False)
    monkeypatch.undo()
    train(run, tmp_path / "killed", resume=True, progress=False)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _logged(killed) == _logged(straight)
    assert _same_checkpoint(killed / BEST_CHECKPOINT, straight / BEST_CHECKPOINT)
    assert _same_checkpoint(killed / LAST_CHECKPOINT, straight / LAST_CHECKPOINT)
    samples = sorted(p.name for p in (straight / "samples").iterdir())
    assert samples == sorted(p.name for p in (killed / "samples").iterdir()) == ["step_000003.gif", "step_000006.gif", "step_000009.gif"]
    assert all((straight / "samples" / n).read_bytes() == (killed / "samples" / n).read_bytes() for n in samples)


def test_a_resumed_run_logs_the_same_loss_means_as_an_uninterrupted_one(tmp_path: Path, monkeypatch) -> None:
    # checkpoints at 3 and 6, log lines every 4 steps: the interval 5..8 spans the resume
    run = tiny_run(max_steps=8, checkpoint_every=3, log_every=4, eval_every=100)
    train(run, tmp_path / "straight", progress=False)
    original, calls = CompositeModel.forward, {"n": 0}

    def forward(self, *args, **kwargs):
        calls["n"] += self.training
        if calls["n"] == 8:  # killed during step 8: resumes from step 6
            raise _Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompositeModel, "forward", forward)
    with pytest.raises(_Killed):
        train(run, tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    train(run, tmp_path / "resumed", resume=True, progress=False)
    assert _logged(tmp_path / "resumed") == _logged(tmp_path / "straight")
