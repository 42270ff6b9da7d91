"""The configuration of a fine-tuning run, and its record in the run folder's ``config.json``.

A fine-tuning run folder's config holds four sections: ``model`` (the autoencoder's config, the
encoder's architecture), ``classifier`` (:class:`~videoae.models.classifier.ClassifierConfig`),
``finetune`` (:class:`FinetuneConfig`) and ``data`` (what was trained on: its size and a digest of
its labels, and whatever the caller adds, such as the files' paths).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoae.errors import InvalidInputError
from videoae.models.classifier import ClassifierConfig
from videoae.models.config import ModelConfig
from videoae.run_folder import CONFIG_FILE
from videoae.training.config import MAX_SEED, OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig
from videoae.validation import MAX_STEPS, coerce_fields, load_json, raise_first_failure, reject_unknown_keys

SECTIONS = ("model", "classifier", "finetune", "data")
# The settings a resumed run may change: it then trains further (or less far).
FINETUNE_LIMITS = ("max_steps",)
# The optimisation settings that mean the same as a training run's: the schedule and the optimizer
# are the training loop's own (training/schedules.py), given these.
OPTIMISATION_FIELDS = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup_steps", "min_lr_ratio", "max_steps")


@dataclass
class FinetuneConfig:
    """How a classifier is trained on labelled videos."""

    max_steps: int = 300  # optimizer steps in all
    batch_size: int = 32  # labelled videos per step
    optimizer: str = "adam"  # adam | rmsprop | sgd, as in training
    lr: float = 1e-3
    momentum: float = 0.9  # sgd and rmsprop
    weight_decay: float = 0.0  # L2 on every trained weight
    schedule: str = "constant"  # constant | cosine (decays to min_lr_ratio * lr at max_steps)
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0  # maximum global gradient norm (0: none): a new head's first gradients can be large
    seed: int = 0  # the order of the training videos, the validation split and dropout
    # Videos held out of the labelled set to choose the best checkpoint (and stop early) when no
    # separate validation set is given; at least one.
    validation_fraction: float = 0.2
    eval_every: int = 50  # steps between scores on the validation videos (and at the end)
    # Evaluations in a row without a better validation score after which the run stops (0: never).
    patience: int = 0
    log_every: int = 10  # steps between loss lines in the metrics log
    checkpoint_every: int = 50  # steps between saves of checkpoints/last.safetensors
    eval_batch_size: int = 256  # videos per forward pass when scoring
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # fp32 | bf16 (autocast) | auto (bf16 where the device multiplies it in hardware: training/runtime.py)
    precision: str = "auto"

    def __post_init__(self) -> None:
        coerce_fields(self, "finetune")
        self.validate()

    def validate(self) -> None:
        """Raise InvalidInputError naming the first impossible value."""
        checks = [
            (1 <= self.max_steps <= MAX_STEPS, f"max_steps must be in [1, 2**{MAX_STEPS.bit_length() - 1}]"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (math.isfinite(self.lr) and self.lr > 0, "lr must be a positive number"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (self.grad_clip >= 0, "grad_clip must be >= 0 (0 disables it)"),
            (0 <= self.seed <= MAX_SEED, f"seed must be in [0, {MAX_SEED}]"),
            (0 < self.validation_fraction < 1, "validation_fraction must be between 0 and 1 (exclusive)"),
            (self.patience >= 0, "patience must be >= 0 (0: never stop early)"),
            (
                min(self.eval_every, self.log_every, self.checkpoint_every, self.eval_batch_size) >= 1,
                "eval_every, log_every, checkpoint_every and eval_batch_size must be >= 1",
            ),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"), "device must be auto, cpu, cuda or cuda:N"),
        ]
        raise_first_failure(checks, "finetune")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        """Build from a dict, rejecting unknown keys by name."""
        reject_unknown_keys(cls, data, "finetune")
        return cls(**data)

    def optimisation(self) -> TrainConfig:
        """The optimizer and learning-rate settings as the training loop's schedules read them."""
        return TrainConfig(**{name: getattr(self, name) for name in OPTIMISATION_FIELDS})


@dataclass
class FinetuneRunConfig:
    """Everything a fine-tuning run folder's ``config.json`` holds."""

    model: ModelConfig
    classifier: ClassifierConfig
    finetune: FinetuneConfig
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The sections of ``config.json``."""
        return {
            "model": self.model.to_dict(),
            "classifier": self.classifier.to_dict(),
            "finetune": self.finetune.to_dict(),
            "data": self.data,
        }

    def differences(self, other: FinetuneRunConfig) -> list[str]:
        """``section.key (this, other)`` for every setting that differs, but the limits a resumed run may change."""
        mine, theirs = self.to_dict(), other.to_dict()
        found = []
        for section in SECTIONS:
            for key in sorted(set(mine[section]) | set(theirs[section])):
                if section == "finetune" and key in FINETUNE_LIMITS:
                    continue
                if mine[section].get(key) != theirs[section].get(key):
                    found.append(f"{section}.{key} ({mine[section].get(key)!r} saved, {theirs[section].get(key)!r} now)")
        return found


def read_finetune_config(run_dir: str | Path) -> FinetuneRunConfig:
    """The config of a fine-tuning run folder.

    Raises:
        InvalidInputError: no such file, or not a fine-tuning run's config.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise InvalidInputError(
            f"{run_dir}: not a videoae run folder (no {CONFIG_FILE}); start a fine-tuning run with videoae finetune --out DIR"
        )
    try:
        data = load_json(path.read_bytes())
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"cannot read {path} ({err}); restore it, or start a new run") from None
    if not isinstance(data, dict) or "finetune" not in data:
        raise InvalidInputError(
            f"{path} is not the config of a fine-tuning run (no 'finetune' section); resume a training run with videoae train --resume"
        )
    if not all(isinstance(data.get(section), dict) for section in SECTIONS):
        raise InvalidInputError(f"{path}: every one of the sections {', '.join(SECTIONS)} must be a mapping; restore the file")
    return FinetuneRunConfig(
        model=ModelConfig.from_dict(data["model"]),
        classifier=ClassifierConfig.from_dict(data["classifier"]),
        finetune=FinetuneConfig.from_dict(data["finetune"]),
        data=data["data"],
    )
