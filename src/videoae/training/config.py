"""The configuration of a training run: the model's config and the trainer's, from presets, files
(JSON or YAML) and ``key=value`` overrides, validated before anything is trained."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoae.data.video_io import AUTO_LAYOUT, LAYOUTS
from videoae.errors import InvalidInputError
from videoae.models.config import ModelConfig, preset
from videoae.run_folder import CONFIG_FILE
from videoae.validation import coerce_fields, did_you_mean, raise_first_failure, reject_unknown_keys

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("fp32", "bf16", "auto")
TRAIN_LAYOUTS = (AUTO_LAYOUT, *LAYOUTS)
DEFAULT_PRESET = "small"  # the model of a run that names none
# Per-process seeds add multiples of a stride to the seed; torch seeds must fit in 64 bits.
MAX_SEED = 2**62


@dataclass
class TrainConfig:
    """How to train: data, optimisation, evaluation, logging and hardware."""

    # data: "generator" (Moving MNIST made on the fly), "standard" (the first 9,000 sequences of
    # mnist_test_seq.npy, the seed notebook's split) or a path to a video file videoae reads
    data: str = "generator"
    # axis order of a 4-D array file: TNHW (frames first, mnist_test_seq.npy's), NTHW (sequences
    # first, generate()'s), or auto: frames first, but an array that then has more frames per
    # sequence than sequences is refused until its layout is named
    layout: str = AUTO_LAYOUT
    digits: str = "train"  # generator digits: bundled split, "mnist", or a digit file
    num_digits: int = 2
    speed: tuple[float, float] = (0.1, 0.1)  # generator step per frame (the paper: 0.1)
    seed: int = 0  # model initialisation and the training data stream
    num_workers: int = 2  # DataLoader worker processes per training process
    # optimisation
    batch_size: int = 64  # global: split across processes
    optimizer: str = "adam"  # adam | rmsprop | sgd (with momentum: the authors' newer code)
    lr: float = 1e-3
    momentum: float = 0.9  # sgd and rmsprop
    weight_decay: float = 0.0  # L2 (the authors: 1e-4 with sgd)
    grad_clip: float = 0.0  # maximum global gradient norm; 0 disables clipping
    schedule: str = "constant"  # constant | cosine (decays to min_lr_ratio * lr at max_steps)
    warmup_steps: int = 0  # linear warm-up from 0
    min_lr_ratio: float = 0.0
    # Scheduled sampling (model decoder_training_input "scheduled"): the probability of feeding a
    # conditional decoder ground truth falls linearly from 1 to 0 over this many steps, then stays
    # 0; with 0 the model's fixed ground_truth_probability is used.
    ground_truth_decay_steps: int = 0
    max_steps: int = 1000
    max_minutes: float = 0.0  # stop (and save) after this wall time; 0: no limit
    # evaluation and logging
    eval_every: int = 200  # steps between evaluations on the embedded test set (and at the end)
    eval_sequences: int = 256  # sequences of the embedded test set used while training
    log_every: int = 10  # steps between metrics log lines (each is a host sync)
    checkpoint_every: int = 100  # steps between saves of checkpoints/last.safetensors
    tensorboard: bool = False  # also log to RUN/tensorboard (needs the tensorboard package)
    # hardware
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast) | auto (bf16 where the device computes it fast: AMX CPUs, CUDA)
    compile: bool = False  # torch.compile the model

    def __post_init__(self) -> None:
        coerce_fields(self, "train")
        self.validate()

    def validate(self) -> None:
        """Raise InvalidInputError naming the first impossible value."""
        checks = [
            (0 <= self.seed <= MAX_SEED, f"seed must be in [0, {MAX_SEED}]"),
            (self.num_digits >= 1, "num_digits must be >= 1"),
            (self.layout in TRAIN_LAYOUTS, f"layout must be one of {', '.join(TRAIN_LAYOUTS)}"),
            (len(self.speed) == 2 and 0 <= self.speed[0] <= self.speed[1], "speed must be [low, high] with 0 <= low <= high"),
            (self.num_workers >= 0, "num_workers must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (math.isfinite(self.lr) and self.lr > 0, "lr must be a positive number"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.grad_clip >= 0, "grad_clip must be >= 0 (0 disables it)"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (self.ground_truth_decay_steps >= 0, "ground_truth_decay_steps must be >= 0 (0: the model's fixed probability)"),
            (self.max_steps >= 1, "max_steps must be >= 1"),
            (self.max_minutes >= 0, "max_minutes must be >= 0 (0: no limit)"),
            (
                self.eval_every >= 1 and self.log_every >= 1 and self.checkpoint_every >= 1,
                "eval_every, log_every and checkpoint_every must be >= 1",
            ),
            (self.eval_sequences >= 1, "eval_sequences must be >= 1"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"), "device must be auto, cpu, cuda or cuda:N"),
        ]
        raise_first_failure(checks, "train")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["speed"] = list(self.speed)
        return data


@dataclass
class RunConfig:
    """A model config and a train config: everything a run needs, saved as RUN/config.json."""

    model: ModelConfig = field(default_factory=lambda: preset(DEFAULT_PRESET))
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """From ``{"model": preset name | {"preset": name, key: value...} | {...}, "train": {...}}``."""
        unknown = sorted(set(data) - {"model", "train"})
        if unknown:
            raise InvalidInputError(f"unknown config section(s): {', '.join(unknown)}; use 'model' and 'train'")
        model_data = data.get("model", DEFAULT_PRESET)
        if isinstance(model_data, str):
            model = preset(model_data)
        elif isinstance(model_data, dict):
            model_data = dict(model_data)
            base = preset(model_data.pop("preset", DEFAULT_PRESET))
            model = base.replace(**model_data)
        else:
            raise InvalidInputError("config 'model' must be a preset name or a mapping of model settings")
        train_data = data.get("train", {})
        if not isinstance(train_data, dict):
            raise InvalidInputError("config 'train' must be a mapping of train settings")
        return cls(model=model, train=_train_from_dict(train_data))

    def with_overrides(self, assignments: list[str]) -> RunConfig:
        """Apply ``key=value`` strings: ``model.hidden_size=256``, ``train.lr=3e-4`` or a bare key
        that names a field of exactly one of the two configs (``lr=3e-4``). Values are JSON
        (numbers, true/false, lists) or plain strings."""
        model, train = self.model.to_dict(), self.train.to_dict()
        sections = {"model": model, "train": train}
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            if not sep or not key:
                raise InvalidInputError(f"--set {assignment!r}: expected key=value, e.g. train.lr=3e-4")
            section_name, dot, name = key.rpartition(".")
            if dot:
                if section_name not in sections:
                    raise InvalidInputError(f"--set {key}: unknown section {section_name!r}; use model.KEY or train.KEY")
                section = sections[section_name]
                if name not in section:
                    raise InvalidInputError(
                        f"--set {key}: unknown {section_name} setting {name!r}; {did_you_mean(name, section)}known: {', '.join(sorted(section))}"
                    )
            else:
                owners = [s for s in sections.values() if name in s]
                if len(owners) != 1:
                    known = set(model) | set(train)
                    problem = (
                        "is in both model and train: prefix it"
                        if owners
                        else f"is not a setting; {did_you_mean(name, known)}known: {', '.join(sorted(known))}"
                    )
                    raise InvalidInputError(f"--set {key}: {name!r} {problem}")
                section = owners[0]
            section[name] = _parse_value(text)
        return RunConfig(model=ModelConfig.from_dict(model), train=_train_from_dict(train))


def _train_from_dict(data: dict[str, Any]) -> TrainConfig:
    reject_unknown_keys(TrainConfig, data, "train")
    try:
        return TrainConfig(**data)
    except TypeError as err:
        raise InvalidInputError(f"invalid train config: {err}") from None


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a run config from a ``.json``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:  # noqa: BLE001 - any parse error becomes one clear line
        raise InvalidInputError(f"{path}: not a valid {path.suffix.lstrip('.') or 'JSON'} config ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: a config must be a mapping with 'model' and/or 'train'")
    return data


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The config a run was started with (``RUN/config.json``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise InvalidInputError(f"{run_dir}: not a videoae run folder (no {CONFIG_FILE}); start one with videoae train --out DIR")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        detail = "nested too deeply" if isinstance(err, RecursionError) else " ".join(str(err).split())
        raise InvalidInputError(f"{path}: damaged run config ({detail}); restore it, or start a new run with --out") from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path}: damaged run config (a {type(data).__name__}, not a mapping); restore it, or start a new run with --out"
        )
    return RunConfig.from_dict({"model": data.get("model", {}), "train": data.get("train", {})})
