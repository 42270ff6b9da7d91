"""The training progress bar follows the limit that ends the run, and never promises more time than the budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import videoae.progress
from videoae.training import progress as progress_module
from videoae.training.config import RunConfig
from videoae.training.loop import train
from videoae.training.progress import TrainingProgress

EIGHT_MINUTES = 8.0


@pytest.fixture()
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr taken for a terminal (pytest captures it into a file)."""
    monkeypatch.setattr(videoae.progress, "wants_bar", lambda stream: True)


def clock_at(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: seconds)


def seconds(text: str) -> int:
    parts = [int(part) for part in text.split(":")]
    return sum(value * 60**power for power, value in enumerate(reversed(parts)))


def test_a_time_bounded_run_shows_the_budget_not_the_step_limit(monkeypatch, capsys, terminal):
    # The demo: 8 minutes, a step limit nobody reaches. The old bar read 0%, ETA 20 hours.
    bar = TrainingProgress(step=0, max_steps=1_000_000, max_minutes=EIGHT_MINUTES, started=0.0, enabled=True)
    clock_at(monkeypatch, 179.0)
    bar.set_stats(loss=512.34, seq_per_s=45.1)
    bar.update(4985)
    bar.close()
    line = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert " 37%|" in line
    assert "| 02:59<05:01 of 08:00, step 4985, loss 512.3, 45.1 seq/s" in line


def test_the_time_left_is_never_more_than_the_budget_left():
    bar = TrainingProgress(step=0, max_steps=1_000_000, max_minutes=EIGHT_MINUTES, started=0.0, enabled=False)
    budget = EIGHT_MINUTES * 60
    for elapsed, step in [(0.5, 1), (10.0, 30), (100.0, 9000), (479.0, 40_000), (600.0, 50_000)]:
        fraction, remaining, steps_bound = bar.estimate(step, elapsed)
        assert remaining <= max(0.0, budget - elapsed)
        assert 0.0 <= fraction <= 1.0
        assert not steps_bound


def test_when_the_steps_will_end_a_time_bounded_run_first_the_bar_follows_them():
    bar = TrainingProgress(step=0, max_steps=200, max_minutes=60.0, started=0.0, enabled=False)
    fraction, remaining, steps_bound = bar.estimate(100, 30.0)  # 100 steps in 30 s: 30 s more to go
    assert steps_bound and remaining == pytest.approx(30.0) and fraction == pytest.approx(0.5)


def test_a_step_bounded_run_counts_steps(capsys, terminal):
    bar = TrainingProgress(step=5, max_steps=20, max_minutes=0.0, started=0.0, enabled=True)
    bar.update(10)
    bar.close()
    assert "10/20" in capsys.readouterr().err


def test_a_disabled_bar_writes_nothing(capsys):
    bar = TrainingProgress(step=0, max_steps=20, max_minutes=1.0, started=0.0, enabled=False)
    bar.update(3)
    bar.set_stats(loss=1.0, seq_per_s=2.0)
    bar.close()
    assert capsys.readouterr().err == ""


def test_a_real_time_bounded_run_never_shows_an_eta_past_its_budget(tmp_path: Path, capsys, terminal):
    run = RunConfig.from_dict(
        {
            "model": {"preset": "tiny", "hidden_size": 8},
            "train": {"batch_size": 4, "eval_sequences": 4, "num_workers": 0, "log_every": 2, "max_steps": 1_000_000, "max_minutes": 0.02},
        }
    )
    result = train(run, tmp_path / "run", progress=True)
    assert result.stop_reason == "max_minutes"
    shown = re.findall(r"(\d+:\d\d)<(\d+:\d\d) of (\d+:\d\d)", capsys.readouterr().err)
    assert shown, "the bar showed no time budget"
    for elapsed, remaining, budget in shown:
        assert seconds(budget) == 1  # 0.02 minutes, shown in whole seconds
        assert seconds(remaining) <= max(0, seconds(budget) - seconds(elapsed)) + 1  # +1: each is rounded down


def test_the_train_command_draws_no_bar_into_a_log_but_plain_lines(tmp_path: Path, capsys, monkeypatch):
    from videoae.cli import main

    options = ["--set", "hidden_size=8", "--set", "batch_size=4", "--set", "num_workers=0", "--set", "eval_sequences=4"]
    assert main(["train", "--preset", "tiny", "--max-steps", "2", *options, "--out", str(tmp_path / "quick")]) == 0
    assert "train" not in capsys.readouterr().err  # a log gets no bar, and no line for a second's work
    monkeypatch.setattr(videoae.progress, "PLAIN_INTERVAL_SECONDS", 0.0)  # a line at every update
    assert main(["train", "--preset", "tiny", "--max-steps", "4", *options, "--out", str(tmp_path / "long")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("train: ")]
    assert lines and re.fullmatch(r"train: 4/4 step \(100%\), \d\d:\d\d elapsed, done, loss [\d.]+, [\d.]+ seq/s", lines[-1]), lines


def test_a_time_bounded_run_in_a_log_says_elapsed_budget_and_time_left(monkeypatch, capsys):
    monkeypatch.setattr(videoae.progress, "PLAIN_INTERVAL_SECONDS", 0.0)
    clock_at(monkeypatch, 0.0)
    bar = TrainingProgress(step=0, max_steps=1_000_000, max_minutes=EIGHT_MINUTES, started=0.0, enabled=True)
    clock_at(monkeypatch, 179.0)
    bar.set_stats(loss=512.34, seq_per_s=45.1)
    bar.update(4985)
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "train: 37%, 02:59 elapsed of 08:00, 05:01 left, step 4985, loss 512.3, 45.1 seq/s" in err.splitlines()
