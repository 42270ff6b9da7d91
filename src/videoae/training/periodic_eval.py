"""Evaluation while training: the embedded test set (or, for video files, clips of held-out
videos), sharded over processes, and sample GIFs."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from videoae.data.moving_mnist import EMBEDDED_TEST_SEED, embedded_test_set, generate
from videoae.data.video_clips import ClipOptions, is_video_collection, training_clips
from videoae.evaluation.evaluate import evaluate, weighted_mean
from videoae.evaluation.predict import predict_videos
from videoae.models import CompositeModel, ModelConfig
from videoae.training import distributed
from videoae.training.config import RunConfig

EVAL_BATCH_SIZE = 64
NUM_SAMPLE_SEQUENCES = 4
EMBEDDED_FRAMES = 20


def evaluation_videos(num_sequences: int, num_frames: int) -> np.ndarray:
    """The first sequences of the embedded test set, uint8 (N, T, 64, 64); longer clips of the
    same sequences where a model needs more than its 20 frames."""
    if num_frames <= EMBEDDED_FRAMES:
        return embedded_test_set(num_sequences)[:, :num_frames]
    return generate(num_sequences, seed=EMBEDDED_TEST_SEED, digits="test", num_frames=num_frames)


@functools.lru_cache(maxsize=2)
def _heldout_clips(data: str, options: ClipOptions, num_sequences: int) -> np.ndarray:
    """Up to ``num_sequences`` clips spread evenly over the held-out videos, uint8 (N, T, C, H, W),
    decoded once per process: every evaluation of a run scores the same clips."""
    clips = training_clips(data, options, heldout=True)
    chosen = np.unique(np.linspace(0, len(clips) - 1, min(num_sequences, len(clips))).round().astype(np.int64))
    return clips.load(chosen)


def run_evaluation_videos(run: RunConfig) -> np.ndarray:
    """What a run is scored on while training: uint8 (N, T, H, W) embedded test sequences, or
    (N, T, C, H, W) clips of held-out videos when it trains on video files."""
    config = run.model
    if is_video_collection(run.train.data) and run.train.data not in ("generator", "standard"):
        return _heldout_clips(run.train.data, run.clip_options(), run.train.eval_sequences)
    return evaluation_videos(run.train.eval_sequences, config.num_input_frames + config.num_future_frames)


def score(result: dict, config: ModelConfig) -> float:
    """The number a run minimises: prediction (else reconstruction) BCE, or MSE for linear models."""
    section = result["prediction"] if "prediction" in result else result["reconstruction"]
    return float(section["bce"] if config.output == "bernoulli" else section["mse"])


def evaluate_during_training(
    model: CompositeModel, run: RunConfig, dist: distributed.DistState, *, samples_path: Path | None = None
) -> dict:
    """Score ``model`` on ``run.train.eval_sequences`` embedded test sequences.

    Each process scores every ``world_size``-th sequence; the means are combined weighted by
    sequence counts, so every process returns the same result. Process 0 also writes a GIF of a
    few sequences to ``samples_path``.
    """
    config = run.model
    videos = run_evaluation_videos(run)
    shard = videos[dist.rank :: dist.world_size]
    result = evaluate(
        model,
        shard,
        num_input_frames=config.num_input_frames,
        num_future=config.num_future_frames,
        batch_size=EVAL_BATCH_SIZE,
        device=dist.device,
        progress=False,  # the training display is the one display of a run
    )
    result.pop("units", None)  # stated once in the docs, not in every log record
    if dist.enabled:
        result = _mean_over_processes(result, len(shard), dist)
    result["data"]["num_sequences"] = len(videos)
    if samples_path is not None and math.isfinite(score(result, config)):  # a diverged model draws nothing
        write_samples(model, videos[:NUM_SAMPLE_SEQUENCES], samples_path)
    return result


def write_samples(model: CompositeModel, videos: np.ndarray, path: Path, *, frame_ms: int = 200) -> Path:
    """A GIF of input | truth | reconstruction | prediction for a few uint8 (N, T, H, W) videos
    (or (N, T, C, H, W), C 1 or 3)."""
    from videoae.reporting import save_comparison_gif

    return save_comparison_gif(path, **predict_videos(model, videos).panels(), frame_ms=frame_ms)


def _mean_over_processes(result: dict, count: int, dist: distributed.DistState) -> dict:
    """Combine per-process means into the mean over all sequences, weighted by ``count``."""
    gathered: list = [None] * dist.world_size
    torch.distributed.all_gather_object(gathered, (result, count))
    data = result["data"]
    merged = weighted_mean([part for part, _ in gathered], [weight for _, weight in gathered])
    merged["data"] = data
    return merged
