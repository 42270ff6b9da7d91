"""Shared fixtures: a tiny model trained once per test session, as a real run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoae.run_config import RunConfig


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of the ``tiny`` preset trained for 12 steps (config, metrics, checkpoints,
    samples), for commands that take a RUN or a checkpoint. Do not modify it: copy it first."""
    from videoae.train import train

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    run = RunConfig.from_dict(
        {
            "model": {"preset": "tiny", "hidden_size": 8},
            "train": {"max_steps": 12, "batch_size": 4, "eval_every": 6, "eval_sequences": 8, "checkpoint_every": 6, "log_every": 3, "num_workers": 0},
        }
    )
    train(run, run_dir, progress=False)
    return run_dir
