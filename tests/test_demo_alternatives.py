"""The demo-alternatives benchmark's code path: every variant trains, scores and draws (figures
are never asserted, only shapes and that the losses are finite)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def alternatives(load_benchmark):
    return load_benchmark("demo_alternatives")


@pytest.mark.parametrize("variant", ["flat", "conv", "mlp", "context"])
def test_every_design_maps_videos_to_frame_logits(alternatives, variant: str) -> None:
    model = alternatives.Composite(variant)
    videos = torch.rand(3, 20, 64, 64)
    for frames in (1, 10):
        reconstruction, prediction = model(videos, frames)
        assert reconstruction.shape == prediction.shape == (3, frames, 64, 64)


def test_a_short_run_scores_and_draws(alternatives, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(alternatives, "TEST_SEQUENCES", 8)
    for variant in ("curriculum", "one-frame"):
        result = alternatives.run(variant, minutes=0.002, out=tmp_path)
        assert result["steps"] >= 1
        assert all(math.isfinite(result[key]) for key in ("reconstruction_bce", "prediction_bce", "prediction_mse"))
        assert result["strip"].is_file()
