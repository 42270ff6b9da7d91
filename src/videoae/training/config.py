"""The configuration of a training run: the model's config and the trainer's, from presets, files
(JSON or YAML) and ``key=value`` overrides, validated before anything is trained."""

from __future__ import annotations

import dataclasses
import json
import math
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videoae.data.video_io import AUTO_LAYOUT, LAYOUTS
from videoae.errors import InvalidInputError
from videoae.models.config import ModelConfig, preset
from videoae.run_folder import CONFIG_FILE
from videoae.validation import (
    MAX_STEPS,
    TOO_MANY_DIGITS,
    check_config_size,
    coerce_fields,
    did_you_mean,
    load_json,
    quote,
    quote_name,
    raise_first_failure,
    reject_unknown_keys,
)

if TYPE_CHECKING:
    from videoae.data.video_clips import ClipOptions

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("fp32", "bf16", "auto")
# The settings a run may change when it continues (with --resume's --max-steps and --max-minutes,
# or a new limit in a requeued job's command); any other change would make it another run.
RUN_LIMITS = ("max_steps", "max_minutes")
TRAIN_LAYOUTS = (AUTO_LAYOUT, *LAYOUTS)
DEFAULT_PRESET = "small"  # the model of a run that names none
# Per-process seeds add multiples of a stride to the seed; torch seeds must fit in 64 bits.
MAX_SEED = 2**62
# DataLoader worker processes per training process: each is a forked process, so a typo of 10**6
# must be refused, not attempted; no machine needs more.
MAX_NUM_WORKERS = 256
# A config file is a few hundred bytes; this bounds what is read (and quoted) from one.
MAX_CONFIG_BYTES = 2**20


@dataclass
class TrainConfig:
    """How to train: data, optimisation, evaluation, logging and hardware."""

    # data: "generator" (Moving MNIST made on the fly), "standard" (the first 9,000 sequences of
    # mnist_test_seq.npy, the seed notebook's split), a path to a video file videoae reads, or video
    # files cut into clips: a folder (recursive), a glob, a .txt list or a clip cache
    data: str = "generator"
    # clips of video files: every frame_step-th frame, after resampling to fps (0: the videos' own)
    frame_step: int = 1
    fps: float = 0.0
    eval_data: str = ""  # held-out videos scored while training; "": eval_fraction of data's videos
    eval_fraction: float = 0.1
    # axis order of a 4-D array file: TNHW (frames first, mnist_test_seq.npy's), NTHW (sequences
    # first, generate()'s), or auto: frames first, but an array that then has more frames per
    # sequence than sequences is refused until its layout is named
    layout: str = AUTO_LAYOUT
    digits: str = "train"  # generator digits: bundled split, "mnist", or a digit file
    num_digits: int = 2
    speed: tuple[float, float] = (0.1, 0.1)  # generator step per frame (the paper: 0.1)
    seed: int = 0  # model initialisation and the training data stream
    # start from trained weights instead of a random initialisation: a checkpoint, a run folder
    # (its best checkpoint) or "pretrained:NAME"; a new run only (a resumed one has its own)
    init_from: str = ""
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
    precision: str = (
        "fp32"  # fp32 | bf16 (autocast) | auto (bf16 where the device multiplies it in hardware: AMX or AVX-512 BF16 CPUs, CUDA)
    )
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
            (0 <= self.num_workers <= MAX_NUM_WORKERS, f"num_workers must be in [0, {MAX_NUM_WORKERS}]"),
            (self.frame_step >= 1, "frame_step must be >= 1"),
            (math.isfinite(self.fps) and self.fps >= 0, "fps must be >= 0 (0: each video's own frame rate)"),
            (0 < self.eval_fraction < 1, "eval_fraction must be between 0 and 1 (exclusive)"),
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
            (1 <= self.max_steps <= MAX_STEPS, f"max_steps must be in [1, 2**{MAX_STEPS.bit_length() - 1}]"),
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

    def __post_init__(self) -> None:
        check_memory(self)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "train": self.train.to_dict()}

    def clip_options(self) -> ClipOptions:
        """How clips of video files are cut for this run: the model's frames, the train config's rest."""
        from videoae.data.video_clips import ClipOptions

        train, model = self.train, self.model
        return ClipOptions(
            frame_shape=tuple(model.frame_shape),
            num_frames=model.num_input_frames + model.num_future_frames,
            frame_step=train.frame_step,
            fps=train.fps,
            eval_data=train.eval_data,
            eval_fraction=train.eval_fraction,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """From ``{"model": preset name | {"preset": name, key: value...} | {...}, "train": {...}}``."""
        unknown = sorted(set(data) - {"model", "train"}, key=str)
        if unknown:
            raise InvalidInputError(f"unknown config section(s): {', '.join(map(quote_name, unknown))}; use 'model' and 'train'")
        model_data = data.get("model", DEFAULT_PRESET)
        if isinstance(model_data, str):
            model = preset(model_data)
        elif isinstance(model_data, dict):
            model_data = dict(model_data)
            base = preset(model_data.pop("preset", DEFAULT_PRESET))
            model = ModelConfig.from_dict({**base.to_dict(), **model_data})  # keys checked there, whatever their type
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
        pairs = []
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            if not sep or not key:
                raise InvalidInputError(f"--set {quote(assignment)}: expected key=value, e.g. train.lr=3e-4")
            pairs.append((key, _parse_value(key, text)))
        return self._with_values(pairs, "--set {key}")

    def with_settings(self, settings: Mapping[str, Any]) -> RunConfig:
        """Apply settings given as Python values, named as for :meth:`with_overrides`
        (``{"lr": 3e-4, "model.hidden_size": 256}``): the keyword arguments of ``videoae.train``."""
        return self._with_values(list(settings.items()), "videoae.train({key}=...)")

    def _with_values(self, pairs: list[tuple[str, Any]], how: str) -> RunConfig:
        """Apply ``(key, value)`` pairs in order; ``how`` names one in messages (``--set {key}``)."""
        model, train = self.model.to_dict(), self.train.to_dict()
        sections = {"model": model, "train": train}
        for key, value in pairs:
            section_name, dot, name = key.rpartition(".")
            if dot:
                if section_name not in sections:
                    raise InvalidInputError(
                        f"{how.format(key=quote_name(key))}: unknown section {quote(section_name)}; use model.KEY or train.KEY"
                    )
                section = sections[section_name]
                if name not in section:
                    raise InvalidInputError(
                        f"{how.format(key=quote_name(key))}: unknown {section_name} setting {quote(name)}; {did_you_mean(name, section)}known: {', '.join(sorted(section))}"
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
                    raise InvalidInputError(f"{how.format(key=quote_name(key))}: {quote(name)} {problem}")
                section = owners[0]
            section[name] = value
        return RunConfig(model=ModelConfig.from_dict(model), train=_train_from_dict(train))


def config_differences(saved: dict[str, Any], requested: dict[str, Any], *, prefix: str = "") -> list[str]:
    """The settings, other than :data:`RUN_LIMITS`, whose values differ between two config dicts
    (``to_dict`` forms), each as ``name (saved, now requested)`` with long values cut short."""
    differing = []
    for key in sorted(set(saved) | set(requested)):
        if key in RUN_LIMITS:
            continue
        before, after = saved.get(key), requested.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            differing += config_differences(before, after, prefix=f"{prefix}{key}.")
        elif before != after:
            differing.append(f"{prefix}{key} ({_shown(before)} in the run, {_shown(after)} now)")
    return differing


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def check_memory(run: RunConfig) -> None:
    """InvalidInputError when a training batch or the evaluation set would hold more pixel values
    than a video may (:func:`videoae.data.video_io.max_video_values`): checked with the config, so a
    run never trains for hours and then dies at its first evaluation."""
    from videoae.data.video_io import MAX_VIDEO_VALUES_ENV_VAR, max_video_values

    per_sequence = (run.model.num_input_frames + run.model.num_future_frames) * math.prod(run.model.frame_shape)
    limit = max_video_values()
    for name, count in (("eval_sequences", run.train.eval_sequences), ("batch_size", run.train.batch_size)):
        if count * per_sequence > limit:
            raise InvalidInputError(
                f"invalid train config: {name}={count:,} sequences of {per_sequence:,} pixel values each exceed the limit of "
                f"{limit:,} values; use {name} <= {max(1, limit // per_sequence):,}, or raise the limit with {MAX_VIDEO_VALUES_ENV_VAR}=N "
                "if this machine has the memory"
            )


def _train_from_dict(data: dict[str, Any]) -> TrainConfig:
    reject_unknown_keys(TrainConfig, data, "train")
    try:
        return TrainConfig(**data)
    except TypeError as err:
        raise InvalidInputError(f"invalid train config: {err}") from None


def _parse_value(key: str, text: str) -> Any:
    try:
        return load_json(text)
    except json.JSONDecodeError:
        return text  # a plain string: --set optimizer=sgd
    except ValueError as err:  # past Python's own limits: too many digits, nested too deeply
        raise InvalidInputError(f"--set {quote_name(key)}: the value is {err}; give a plain number, string or short list") from None


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a run config from a ``.json`` file, or YAML (``.yaml``, ``.yml``, or any other name, such
    as the pipe of ``--config <(...)``); at most :data:`MAX_CONFIG_BYTES`, UTF-8."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such config file") from None
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):  # a pipe from <(...) is read; a folder or device is not
        raise InvalidInputError(f"{path}: not a file; give a .json or .yaml config file")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise InvalidInputError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; a videoae config is a few hundred bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"{path}: not UTF-8 text (byte {err.start}); save the config as UTF-8") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        if kind == "YAML":
            import yaml

            data = yaml.safe_load(text)
        else:
            data = load_json(text)
    except Exception as err:  # noqa: BLE001 - any parse error becomes one clear line
        # PyYAML lets int()'s ValueError for a number past Python's digit limit through as it is
        detail = TOO_MANY_DIGITS if "integer string conversion" in str(err) else " ".join(str(err).split())[:200]
        raise InvalidInputError(f"{path}: not a valid {path.suffix.lstrip('.') or kind} config ({detail})") from None
    check_config_size(data, str(path))
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: a config must be a mapping with 'model' and/or 'train'")
    return data


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The config a run was started with (``RUN/config.json``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise InvalidInputError(f"{run_dir}: not a videoae run folder (no {CONFIG_FILE}); start one with videoae train --out DIR")
    try:
        data = load_json(path.read_bytes())
    except ValueError as err:
        detail = " ".join(str(err).split())
        raise InvalidInputError(f"{path}: damaged run config ({detail}); restore it, or start a new run with --out") from None
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path}: damaged run config (a {type(data).__name__}, not a mapping); restore it, or start a new run with --out"
        )
    return RunConfig.from_dict({"model": data.get("model", {}), "train": data.get("train", {})})
