"""Scores of a classifier on held-out videos: mean average precision (several classes per video) and accuracy (one).

- ``map``: macro mean average precision. For each class, rank the videos by the class's score;
  average precision is the mean, over the class's positives, of the precision among the videos
  ranked at or above each positive (1: every positive ranked above every negative). Classes
  without a positive among the scored videos have no AP and are left out of the mean. Ties are
  broken by the order of the videos, as ``argsort`` leaves them.
- ``accuracy``: the fraction of videos whose highest-scoring class is their class.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import Tensor

from videoae.data.labels import MULTI_LABEL, SINGLE_LABEL
from videoae.data.pixels import videos_to_tensor
from videoae.errors import InvalidInputError
from videoae.models.classifier import VideoClassifier
from videoae.models.composite import evaluation_mode, model_device
from videoae.validation import check_int

DEFAULT_BATCH_SIZE = 256  # videos per forward pass when scoring: no activations are kept

SCORE_NAMES = {MULTI_LABEL: "map", SINGLE_LABEL: "accuracy"}  # the score each task is judged by (higher is better)


def average_precision(scores: Tensor, targets: Tensor) -> Tensor:
    """Average precision of each column (class) of ``scores`` (N, C) against 0/1 ``targets`` (N, C): (C,), NaN for a class with no positive."""
    if scores.shape != targets.shape or scores.dim() != 2:
        raise InvalidInputError(f"scores and targets must both be (N, C), got {tuple(scores.shape)} and {tuple(targets.shape)}")
    scores, targets = scores.float(), targets.float()
    order = scores.argsort(dim=0, descending=True, stable=True)
    hits = targets.gather(0, order)  # (N, C), sorted by score
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=hits.dtype, device=hits.device)[:, None]
    positives = hits.sum(0)
    return (precision * hits).sum(0) / positives.where(positives > 0, torch.tensor(float("nan"), device=hits.device))


def mean_average_precision(scores: Tensor, targets: Tensor) -> float:
    """The mean of :func:`average_precision` over the classes that have a positive."""
    return float(average_precision(scores, targets).nanmean())


def accuracy(logits: Tensor, classes: Tensor) -> float:
    """The fraction of rows of ``logits`` (N, K) whose largest value is at ``classes`` (N,)."""
    if logits.dim() != 2 or classes.shape != logits.shape[:1]:
        raise InvalidInputError(f"logits must be (N, K) and classes (N,), got {tuple(logits.shape)} and {tuple(classes.shape)}")
    return float((logits.argmax(1) == classes).float().mean())


def classification_score(logits: Tensor, targets: Tensor, task: str) -> dict[str, float]:
    """The held-out score of a task: ``{"map": ...}`` for multi-label targets (N, K), ``{"accuracy": ...}`` for classes (N,)."""
    if task == MULTI_LABEL:
        return {"map": mean_average_precision(logits, targets)}
    if task == SINGLE_LABEL:
        return {"accuracy": accuracy(logits, targets)}
    raise InvalidInputError(f"unknown task {task!r}; use {MULTI_LABEL} or {SINGLE_LABEL}")


def chance_score(targets: Tensor, task: str) -> float:
    """What guessing scores: for mAP each class's prevalence (a random ranking's expected AP),
    averaged over the classes present; for accuracy the largest class's share."""
    if task == MULTI_LABEL:
        prevalence = targets.float().mean(0)
        return float(prevalence[prevalence > 0].mean())
    return float(torch.bincount(targets).max() / len(targets))


def classifier_logits(
    classifier: VideoClassifier, videos: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE, bf16: bool = False
) -> Tensor:
    """Logits (N, K), float32 on the CPU, of ``videos`` (N, T, [C,] H, W) (uint8, or float in [0, 1]), in eval mode.

    Args:
        classifier: the classifier.
        videos: the videos; the first ``num_input_frames`` frames of each are read.
        batch_size: videos per forward pass; does not change the result beyond float rounding.
        bf16: under bf16 autocast (where the device multiplies bf16 in hardware).
    """
    batch_size = check_int("batch_size", batch_size, 1)
    device = model_device(classifier)
    steps = classifier.config.num_input_frames
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    parts = []
    with evaluation_mode(classifier), autocast:
        for start in range(0, len(videos), batch_size):
            parts.append(classifier(videos_to_tensor(videos[start : start + batch_size, :steps], device)).float().cpu())
    return torch.cat(parts)
