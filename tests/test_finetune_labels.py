"""The fine-tuning benchmark's code path (figures are never asserted: only the table's shape and ranges)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

from videoae.models import build_model
from videoae.models.checkpoint import save_checkpoint

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_a_tiny_measurement_prints_every_condition_and_label_count(tmp_path, capsys, monkeypatch):
    # imported by name, as its worker processes find it, from its folder as a script sees it (table1 too)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("finetune_labels")
    try:
        run_tiny_measurement(bench, tmp_path, capsys)
    finally:
        sys.modules.pop("finetune_labels", None)


def run_tiny_measurement(bench, tmp_path, capsys) -> None:
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "tiny.safetensors", build_model("tiny", hidden_size=4, num_input_frames=2), step=0)
    argv = ["--checkpoint", str(checkpoint), "--labels", "10", "20", "--steps", "2", "2", "--test", "16", "--seeds", "2"]
    assert bench.main([*argv, "--jobs", "1", "--json", str(tmp_path / "runs.json")]) == 0
    out = capsys.readouterr().out
    assert "| condition | 10 labels | 20 labels |" in out and "expected full-size run" in out
    for name in bench.CONDITIONS.values():
        assert f"| {name} | " in out
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    assert len(runs) == 2 * 4 * 2 and all(0 <= run["test_map"] <= 1 for run in runs)
