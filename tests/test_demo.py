"""`videoae demo`: trains the demo's model (or shows the shipped one), scores it and draws it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from videoae.cli import demo as demo_module
from videoae.cli import main
from videoae.cli.demo import SHIPPED_MODEL
from videoae.models import build_model
from videoae.models import checkpoint as checkpoint_module
from videoae.models.checkpoint import save_checkpoint

DRAWN = ["eval.json", "per_frame.png", "samples.gif", "samples.png"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
@pytest.mark.parametrize("preset", [None, "small"])
def test_the_demo_trains_evaluates_draws_and_says_what_next(tmp_path: Path, capsys, preset: str | None) -> None:
    out_dir = tmp_path / "demo"
    options = ["--preset", preset] if preset else []
    code, out, _ = run(capsys, "demo", *options, "--minutes", "0.05", "--eval-sequences", "8", "--out", out_dir, "--no-progress")
    assert code == 0
    trained = preset or demo_module.DEMO_PRESET
    assert f"training {trained!r}" in out
    assert ("why this model" in out) == (preset is None)
    assert "baseline: copy_last" in out and "baseline: mean" in out and "baseline: blank" in out and "model: prediction" in out
    for name in [*DRAWN, "training_curves.png", "checkpoints/best.safetensors"]:
        assert (out_dir / name).is_file(), name
    metrics = json.loads((out_dir / "eval.json").read_text())
    assert metrics["data"]["num_sequences"] == 8 and len(metrics["prediction"]["per_frame"]["bce"]) == 10
    next_steps = out[out.index("next:") : out.index("verdict:")].splitlines()[1:]  # the verdict closes the output
    assert [line.split()[0] for line in next_steps] == ["train", "evaluate", "predict"]
    assert f"videoae train --resume {out_dir}" in out and f"videoae eval {out_dir}" in out and f"videoae predict {out_dir}" in out


def test_the_pretrained_demo_shows_a_shipped_model_without_training(tmp_path: Path, capsys, monkeypatch) -> None:
    shipped = tmp_path / "shipped"
    torch.manual_seed(0)
    save_checkpoint(shipped / f"{SHIPPED_MODEL}.safetensors", build_model(SHIPPED_MODEL, hidden_size=4), step=100)
    monkeypatch.setattr(checkpoint_module, "PRETRAINED_DIR", shipped)
    code, out, _ = run(capsys, "demo", "--pretrained", "--eval-sequences", "4", "--out", tmp_path / "shown")
    assert code == 0 and f"the pretrained '{SHIPPED_MODEL}'" in out and "trained" not in out.split("\n")[1]
    for name in DRAWN:
        assert (tmp_path / "shown" / name).is_file(), name
    assert not (tmp_path / "shown" / "checkpoints").exists()
    assert f"videoae eval pretrained:{SHIPPED_MODEL}" in out and f"videoae predict pretrained:{SHIPPED_MODEL}" in out
    assert "baseline: blank" in out and "blank is all 0 (background)" in out
    # the closing lines say in words which baselines the model does not beat (this untrained one: most)
    closing = out[out.index("next:") :].splitlines()
    verdict = [line for line in closing if "verdict" in line or line.startswith("  not on ")]
    assert verdict and verdict[0].startswith("verdict: ") and closing[-len(verdict) :] == verdict
    assert any("does not beat" in line for line in verdict)
    # the same name works wherever a checkpoint does
    assert run(capsys, "eval", f"pretrained:{SHIPPED_MODEL}", "--num-sequences", "4")[0] == 0


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--minutes", "0"], ["--minutes must be positive"]),
        (["--eval-sequences", "0"], ["--eval-sequences must be at least 1"]),
        (["--preset", "nope"], ["unknown model preset 'nope'"]),
        (["--pretrained", "nope"], ["no pretrained model named 'nope'"]),
        (["--pretrained", "--minutes", "3"], ["drop --preset and --minutes"]),
    ],
)
def test_bad_demo_options_are_one_line(tmp_path: Path, capsys, argv: list[str], words: list[str]) -> None:
    code, _, err = run(capsys, "demo", *argv, "--out", tmp_path / "x")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "x").exists()
