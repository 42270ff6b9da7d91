"""videoae.train: a run from Python with the preset's recipe, the same run folder as the command, resumable by it."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

import videoae
from videoae.cli import main
from videoae.data.moving_mnist import generate
from videoae.errors import InvalidInputError
from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import CONFIG_FILE, LAST_CHECKPOINT
from videoae.training.loop import TrainingInterrupted
from videoae.training.recipes import RECIPES

# The flat demo's model and recipe: its steps take milliseconds (conv-small's first bf16 steps take
# seconds while oneDNN prepares its kernels); the recipe code is the same for every preset.
PRESET = "small"
# Small enough for seconds on a CPU; given to both the function and the command.
QUICK = {"eval_sequences": 4, "hidden_size": 16}


def saved_config(run_dir) -> dict:
    return json.loads((run_dir / CONFIG_FILE).read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return videoae.train(PRESET, out=tmp_path_factory.mktemp("nb") / "run", max_steps=2, **QUICK)


def test_train_returns_the_model_ready_for_inference_with_its_metrics_and_folder(run):
    assert run.step == 2 and run.stop_reason == "max_steps"
    assert (run.run_dir / LAST_CHECKPOINT).is_file()
    assert not run.model.training
    clips = torch.from_numpy(generate(2, seed=5)[:, :10]).float().div(255).unsqueeze(2)
    torch.testing.assert_close(run.model.predict(clips), videoae.load(run.run_dir).predict(clips), rtol=0, atol=0)
    assert run.metrics["data"]["num_sequences"] == 4
    assert set(run.metrics["baselines"]) == {"copy_last", "mean", "blank"}
    assert np.isfinite(run.metrics["prediction"]["bce"])
    assert repr(run).startswith(f"TrainedRun({run.run_dir}: 2 steps, stopped by its step limit; last evaluation: prediction BCE ")


def test_train_uses_the_presets_recipe_exactly_as_the_command(run, tmp_path, capsys):
    command = tmp_path / "command"
    assert (
        main(["train", "--preset", PRESET, "--max-steps", "2", *[f"--set={k}={v}" for k, v in QUICK.items()], "--out", str(command)]) == 0
    )
    capsys.readouterr()
    assert saved_config(run.run_dir) == saved_config(command)
    recipe = {key: value for key, value in RECIPES[PRESET].train.items() if key not in ("max_steps", *QUICK)}
    train_settings = saved_config(run.run_dir)["train"]
    assert {key: train_settings[key] for key in recipe} == recipe  # batch 16, lr 2e-3, clip 100, ...


def test_a_run_made_in_python_resumes_with_the_command_then_in_python(run, capsys):
    assert main(["train", "--resume", str(run.run_dir), "--max-steps", "3"]) == 0
    assert "to step 3" in capsys.readouterr().out
    assert read_checkpoint(run.run_dir / LAST_CHECKPOINT, load_optimizer=False).step == 3
    with pytest.raises(InvalidInputError, match=r"already holds a run .* resume=True"):
        videoae.train(PRESET, out=run.run_dir, max_steps=4, **QUICK)
    continued = videoae.train(PRESET, out=run.run_dir, max_steps=4, resume=True, **QUICK)
    assert continued.step == 4
    with pytest.raises(InvalidInputError, match="holds a run of another configuration"):
        videoae.train(PRESET, out=run.run_dir, max_steps=5, resume=True, lr=0.5, **QUICK)


def test_minutes_is_the_time_budget(tmp_path):
    quick = videoae.train("tiny", out=tmp_path / "timed", minutes=0.005, batch_size=2, num_workers=0, **QUICK)
    assert quick.stop_reason == "max_minutes" and quick.step >= 1
    assert saved_config(quick.run_dir)["train"]["max_minutes"] == 0.005


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"learning_rate": 0.1}, "videoae.train(learning_rate=...): 'learning_rate' is not a setting; did you mean lr?"),
        ({"lr": -1}, "lr"),
        ({"minutes": 2, "max_minutes": 3}, "give the time budget once: minutes=M or max_minutes=M, not both"),
        ({"batch_size": "many"}, "batch_size"),
    ],
)
def test_bad_settings_get_one_line_before_any_folder_is_made(tmp_path, settings, message):
    with pytest.raises(InvalidInputError) as caught:
        videoae.train("conv-small", out=tmp_path / "never", **settings)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "never").exists()


def test_an_interrupted_kernel_saves_and_says_how_to_continue_from_python(tmp_path, monkeypatch):
    import videoae.training.loop as loop

    class InterruptAtStep3(loop.TrainingProgress):
        def update(self, step: int) -> None:
            super().update(step)
            if step == 3:  # what Jupyter's "interrupt the kernel" sends
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(loop, "TrainingProgress", InterruptAtStep3)
    settings = {"max_steps": 10, "batch_size": 2, "num_workers": 0, **QUICK}
    with pytest.raises(TrainingInterrupted, match=r"interrupted after step 3 .*in Python: the same videoae.train call with resume=True"):
        videoae.train("tiny", out=tmp_path / "run", **settings)
    assert read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT, load_optimizer=False).step == 3
    monkeypatch.undo()
    assert videoae.train("tiny", out=tmp_path / "run", resume=True, **settings).step == 10
