"""A run of a minute or less still leaves a loss in its log and curves that read against step 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoae.reporting import plots
from videoae.run_folder import read_metrics
from videoae.training.config import RunConfig
from videoae.training.loop import train


def test_a_run_stopped_by_its_time_limit_before_a_log_step_still_logs_its_loss(tmp_path: Path):
    run = RunConfig.from_dict(
        {
            "model": {"preset": "tiny", "hidden_size": 8},
            "train": {
                "batch_size": 4,
                "eval_sequences": 4,
                "num_workers": 0,
                "log_every": 100_000,
                "max_steps": 1_000_000,
                "max_minutes": 0.01,
            },
        }
    )
    result = train(run, tmp_path / "run", progress=False)
    assert result.stop_reason == "max_minutes" and result.step < 100_000
    losses = [record for record in read_metrics(tmp_path / "run") if "loss" in record]
    assert [record["step"] for record in losses] == [result.step]


def test_one_evaluation_is_drawn_against_the_run_from_step_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    drawn = []
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: drawn.append(figure) or Path(path))
    plots.plot_training_curves([{"step": 8, "eval": {"prediction": {"bce": 400.0, "mse": 100.0}}}], tmp_path / "c.png")
    low, high = drawn[0].axes[0].get_xlim()
    assert low == 0.0 and high > 8  # not 7.5 to 8.5
