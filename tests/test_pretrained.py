"""The trained model that ships with videoae: it loads through the checkpoint path and works."""

from __future__ import annotations

import videoae
from videoae.evaluation.evaluate import evaluate
from videoae.models import preset
from videoae.models.checkpoint import PRETRAINED_DIR, pretrained_names, read_checkpoint
from videoae.training.periodic_eval import evaluation_videos

MAX_SHIPPED_BYTES = 10_000_000  # package data stays small: weights only, no optimizer state


def test_the_shipped_models_are_weights_only_and_match_their_presets():
    assert "conv-small" in pretrained_names()
    for name in pretrained_names():
        path = PRETRAINED_DIR / f"{name}.safetensors"
        assert path.stat().st_size < MAX_SHIPPED_BYTES, name
        checkpoint = read_checkpoint(path)
        assert checkpoint.optimizer_state is None and checkpoint.step > 0, name
        assert checkpoint.model_config == preset(name), name


def test_the_shipped_model_predicts_and_reconstructs_better_than_the_baselines():
    model = videoae.load("pretrained:conv-small")
    videos = evaluation_videos(32, 20)
    result = evaluate(model, videos, num_input_frames=10, num_future=10)
    baselines = result["baselines"]
    best_baseline = min(baselines["mean"]["bce"], baselines["copy_last"]["bce"])
    assert result["prediction"]["bce"] < best_baseline
    assert result["reconstruction"]["bce"] < result["prediction"]["bce"]
