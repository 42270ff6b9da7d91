"""A preset brings the training recipe it was measured with; a new run says how long it will take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import videoae.training.loop
from videoae.cli import main
from videoae.models import preset
from videoae.training.config import RunConfig, TrainConfig
from videoae.training.loop import TrainResult
from videoae.training.recipes import RECIPES, expected_duration, with_recipe


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
    """The run configs `videoae train` would train with (nothing is trained)."""
    runs: list[RunConfig] = []

    def fake_train(run, run_dir, *, resume=False, resume_if_exists=False, progress=True):
        runs.append(run)
        return TrainResult(Path(run_dir), run.train.max_steps, "max_steps", None, None)

    monkeypatch.setattr(videoae.training.loop, "train", fake_train)
    return runs


def test_train_with_the_demos_preset_uses_the_demos_recipe_and_says_how_long(tmp_path, capsys, started):
    from videoae.cli.demo import demo_config

    assert main(["train", "--preset", "conv-small", "--out", str(tmp_path / "first")]) == 0
    train = started[0].train
    demo = demo_config(8.0).train
    for key in ("batch_size", "lr", "precision", "grad_clip", "ground_truth_decay_steps", "optimizer", "schedule"):
        assert getattr(train, key) == getattr(demo, key), key
    assert (train.batch_size, train.lr, train.precision, train.max_steps) == (16, 2e-3, "auto", 1000)
    out = capsys.readouterr().out
    assert out.startswith("expected: about 10 minutes of training, plus evaluations (1,000 steps at ~1.6 steps/s")
    assert "2-core Intel Xeon" in out  # the machine the rate comes from


def test_config_and_set_values_win_over_the_recipe(tmp_path, capsys, started):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"train": {"batch_size": 32}}))
    argv = ["train", "--preset", "conv-small", "--config", str(config), "--set", "lr=1e-3", "--max-steps", "50"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 0
    train = started[0].train
    assert (train.batch_size, train.lr, train.max_steps, train.precision) == (32, 1e-3, 50, "auto")
    assert "no step rate has been measured with these settings (batch_size=32" in capsys.readouterr().out


def test_resume_keeps_the_runs_own_config_and_never_meets_a_recipe(tmp_path, capsys, started):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    saved = RunConfig(model=preset("conv-small"), train=TrainConfig(batch_size=64, lr=1e-3, num_workers=0))
    (run_dir / "config.json").write_text(json.dumps(saved.to_dict()))
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert started[0].train == saved.train
    assert "expected" not in capsys.readouterr().out


def test_a_preset_without_a_measured_recipe_says_so():
    run = RunConfig.from_dict(with_recipe({"model": "conv-openstl"}, "small"))
    assert run.train == TrainConfig()
    assert expected_duration(run.model, run.train).startswith("no step rate has been measured for the preset 'conv-openstl'")


def test_the_papers_model_says_plainly_that_it_takes_an_hour_on_a_cpu():
    run = RunConfig.from_dict(with_recipe({"model": "paper"}, "small"))
    assert run.train == TrainConfig()  # no CPU recipe: the defaults, at their measured step time
    assert expected_duration(run.model, run.train).startswith("about 64 minutes of training")


def test_no_model_means_the_default_presets_recipe_and_a_time_limit_caps_the_estimate():
    run = RunConfig.from_dict(with_recipe({}, "small"))
    assert run.train.batch_size == RECIPES["small"].train["batch_size"] == 16
    limited = RunConfig.from_dict(with_recipe({"model": "conv-small", "train": {"max_minutes": 3}}, "small"))
    assert expected_duration(limited.model, limited.train).startswith("at most 3 minutes (the time limit")
