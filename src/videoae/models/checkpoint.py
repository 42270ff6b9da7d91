"""Checkpoints: one safetensors file with weights, optimizer state and training state, written atomically.

Everything a run needs to resume lives in ONE file, so a kill can never leave the weights and the
training state out of step. Tensors are stored under ``model/<name>``, ``optimizer/<param
index>/<state key>`` and ``extra/<name>``; the safetensors header metadata holds one key,
``videoae``, a JSON document with the format version, the model config, the step, metrics, the
optimizer's hyperparameters and the caller's extra metadata. Reading never unpickles anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn

from videoae import __version__
from videoae.atomic import write_atomically
from videoae.errors import InvalidInputError, VideoAEError
from videoae.models.composite import CompositeModel
from videoae.models.config import ModelConfig
from videoae.run_folder import BEST_CHECKPOINT, LAST_CHECKPOINT
from videoae.validation import MAX_STEPS, check_int, is_int, quote, resolve_device

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT_VERSION = 1
METADATA_KEY = "videoae"  # the one safetensors metadata key holding our JSON document
MODEL_PREFIX, OPTIMIZER_PREFIX, EXTRA_PREFIX = "model/", "optimizer/", "extra/"
# JSON has no tuples and no tensors: such values are stored as one-key objects with these tags.
TUPLE_TAG, TENSOR_TAG = "$tuple", "$tensor"
# Trained models shipped as package data, loaded through the same path as every checkpoint.
PRETRAINED_PREFIX = "pretrained:"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "assets" / "pretrained"
MAX_NAMES_SHOWN = 3  # offending names listed in a mismatch message
# The extra-metadata key of a classifier's checkpoint (videoae finetune): its ClassifierConfig; the
# model config beside it is the autoencoder's the encoder comes from.
CLASSIFIER_KEY = "classifier"


class CheckpointWriteError(VideoAEError, OSError):
    """A checkpoint could not be written; the file previously at its path is unchanged."""


@dataclass
class Checkpoint:
    """The contents of a checkpoint file.

    ``optimizer_state`` is a state dict that ``optimizer.load_state_dict`` accepts (None when not
    stored or not loaded); ``model_state`` keys carry no ``module.``/``_orig_mod.`` prefixes.
    """

    path: Path
    format_version: int
    model_config: ModelConfig
    step: int
    metrics: dict
    model_state: dict[str, Tensor]
    optimizer_state: dict | None
    extra_tensors: dict[str, Tensor] = field(default_factory=dict)
    extra_metadata: dict = field(default_factory=dict)
    videoae_version: str = ""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel-style wrappers and ``torch.compile``."""
    while True:
        if isinstance(model._modules.get("_orig_mod"), nn.Module):
            model = model._orig_mod
        elif not hasattr(model, "config") and isinstance(model._modules.get("module"), nn.Module):
            model = model.module  # DDP / DataParallel: the wrapper itself has no config
        else:
            return model


# -- writing ------------------------------------------------------------------------------------


def _to_json(value: Any, what: str) -> str:
    def scalar(obj: Any) -> Any:
        # Metrics often arrive as 0-dim tensors or numpy scalars.
        if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:
            return obj.item()
        raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")

    try:
        return json.dumps(value, default=scalar)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"cannot store {what} in a checkpoint: {err}; use numbers, strings, lists and dicts") from None


def _encode(value: Any, key: str, tensors: dict[str, Tensor]) -> Any:
    """A JSON-ready copy of ``value``; tensors go into ``tensors`` under ``key`` (a path)."""
    if isinstance(value, Tensor):
        tensors[key] = value
        return {TENSOR_TAG: key}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, f"{key}/{index}", tensors) for index, item in enumerate(value)]
        return {TUPLE_TAG: items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {str(name): _encode(item, f"{key}/{name}", tensors) for name, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InvalidInputError(f"cannot store optimizer value {key} of type {type(value).__name__} in a checkpoint")


def _encode_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor]) -> dict:
    state_dict = optimizer.state_dict()
    groups = []
    for index, group in enumerate(state_dict["param_groups"]):
        # Parameter indices are numbered in group order, so each group's count rebuilds them.
        settings = {name: value for name, value in group.items() if name != "params"}
        groups.append({"num_params": len(group["params"]), **_encode(settings, f"{OPTIMIZER_PREFIX}param_groups/{index}", tensors)})
    state = {str(index): _encode(values, f"{OPTIMIZER_PREFIX}{index}", tensors) for index, values in state_dict["state"].items()}
    return {"class": type(optimizer).__name__, "param_groups": groups, "state": state}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    step: int,
    metrics: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra_tensors: dict[str, Tensor] | None = None,
    extra_metadata: dict | None = None,
) -> Path:
    """Write a checkpoint atomically: a temporary file in the same folder, fsynced, then renamed.

    Args:
        path: the ``.safetensors`` file to write (its folder is created if missing).
        model: a videoae model, possibly wrapped by DDP or ``torch.compile`` (unwrapped here).
        step: training steps done.
        metrics: JSON-able numbers to keep with the weights (e.g. the validation loss).
        optimizer: its state is stored exactly, for resuming.
        extra_tensors: more tensors, e.g. RNG states.
        extra_metadata: more JSON-able training state (e.g. the data position).

    Returns:
        The path written.

    Raises:
        CheckpointWriteError: (an ``OSError``) the disk refused; the previous file is intact.
    """
    path = Path(path)
    model = unwrap_model(model)
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise InvalidInputError(f"can only checkpoint a videoae model (with a ModelConfig .config), got {type(model).__name__}")
    step = check_int("step", step, 0)
    tensors: dict[str, Tensor] = {}
    for name, tensor in model.state_dict().items():
        # torch.compile applied to a submodule leaves "_orig_mod." inside names.
        tensors[MODEL_PREFIX + name.replace("_orig_mod.", "")] = tensor
    for name, tensor in (extra_tensors or {}).items():
        if not isinstance(name, str) or not name or not isinstance(tensor, Tensor):
            raise InvalidInputError(f"extra_tensors must map non-empty names to tensors, got {name!r}: {type(tensor).__name__}")
        tensors[EXTRA_PREFIX + name] = tensor
    document = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "videoae_version": __version__,
        "model_config": config.to_dict(),
        "step": step,
        "metrics": metrics or {},
        "optimizer": None if optimizer is None else _encode_optimizer(optimizer, tensors),
        "extra": extra_metadata or {},
    }
    metadata = {METADATA_KEY: _to_json(document, "metrics, extra_metadata or optimizer settings")}
    try:
        data = safetensors.torch.save({name: tensor.detach().contiguous() for name, tensor in tensors.items()}, metadata)
    except (ValueError, TypeError, SafetensorError) as err:
        raise InvalidInputError(f"cannot store these tensors in a checkpoint: {err}") from None
    _write_atomically(path, data)
    logger.debug("wrote checkpoint %s (step %d)", path, step)
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    existed = path.exists()
    try:
        write_atomically(path, lambda file: file.write(data))
    except OSError as err:
        previous = "the previous checkpoint is intact" if existed else "nothing was written"
        error = CheckpointWriteError(f"could not write checkpoint {path}: {err.strerror or err}; {previous}")
        error.errno = err.errno
        raise error from err


# -- reading ------------------------------------------------------------------------------------


def _damaged(path: Path, detail: str) -> InvalidInputError:
    return InvalidInputError(f"checkpoint {path} is damaged or not a safetensors file ({detail}); use another checkpoint or train again")


def _decode(value: Any, handle: Any, path: Path) -> Any:
    if isinstance(value, list):
        return [_decode(item, handle, path) for item in value]
    if isinstance(value, dict):
        if set(value) == {TENSOR_TAG}:
            try:
                return handle.get_tensor(value[TENSOR_TAG])
            except SafetensorError:
                raise _damaged(path, f"tensor {value[TENSOR_TAG]} is missing") from None
        if set(value) == {TUPLE_TAG}:
            return tuple(_decode(item, handle, path) for item in value[TUPLE_TAG])
        return {name: _decode(item, handle, path) for name, item in value.items()}
    return value


def _decode_optimizer(stored: dict, handle: Any, path: Path, num_tensors: int) -> dict:
    """The optimizer's state dict; it can hold at most one entry per model tensor (``num_tensors``)."""
    groups, first = [], 0
    for group in stored["param_groups"]:
        settings = {name: value for name, value in group.items() if name != "num_params"}
        count = group["num_params"]
        if not is_int(count) or not 0 <= count <= num_tensors - first:
            raise _damaged(path, f"the optimizer declares {count!r} parameters for a model of {num_tensors} tensors")
        groups.append({**_decode(settings, handle, path), "params": list(range(first, first + count))})
        first += count
    state = {}
    for index, values in stored["state"].items():
        if not index.isdigit() or int(index) >= first:
            raise _damaged(path, f"optimizer state for parameter {index!r} of {first}")
        state[int(index)] = _decode(values, handle, path)
    return {"state": state, "param_groups": groups}


def _read_document(handle: Any, path: Path) -> dict:
    text = (handle.metadata() or {}).get(METADATA_KEY)
    if text is None:
        raise InvalidInputError(
            f"{path} is a safetensors file but not a videoae checkpoint (no '{METADATA_KEY}' metadata); give a checkpoint written by videoae"
        )
    try:
        document = json.loads(text)
        version = document["format_version"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise _damaged(path, "unreadable videoae metadata") from None
    if not isinstance(version, int) or version < 1:
        raise _damaged(path, f"format version {version!r}")
    if version > CHECKPOINT_FORMAT_VERSION:
        raise InvalidInputError(
            f"checkpoint {path} was written by a newer videoae (format {version}, this one reads up to {CHECKPOINT_FORMAT_VERSION}); upgrade videoae"
        )
    return document


def read_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu", load_optimizer: bool = True) -> Checkpoint:
    """Read a checkpoint file (safetensors and JSON only: nothing is unpickled).

    Args:
        path: a ``.safetensors`` checkpoint file (see :func:`resolve_checkpoint_path` for run folders).
        map_location: device for the model weights. Optimizer state and extra tensors stay on the
            CPU: ``optimizer.load_state_dict`` moves state to its parameters' devices, and RNG
            states must be CPU tensors.
        load_optimizer: read the optimizer state (skip it to save memory when only evaluating).

    Returns:
        The checkpoint's contents.
    """
    path, map_location = Path(path), resolve_device(map_location)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give a .safetensors checkpoint file")
    if not path.exists():
        raise InvalidInputError(f"checkpoint {path} does not exist; check the path or train first")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise InvalidInputError(f"checkpoint {path} is not a regular file; give a .safetensors checkpoint file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            document = _read_document(handle, path)
            names = list(handle.keys())
            model_state = {
                name[len(MODEL_PREFIX) :]: handle.get_tensor(name).to(map_location) for name in names if name.startswith(MODEL_PREFIX)
            }
            extra_tensors = {name[len(EXTRA_PREFIX) :]: handle.get_tensor(name) for name in names if name.startswith(EXTRA_PREFIX)}
            stored_optimizer = document.get("optimizer")
            num_tensors = sum(name.startswith(MODEL_PREFIX) for name in names)
            optimizer_state = (
                _decode_optimizer(stored_optimizer, handle, path, num_tensors) if load_optimizer and stored_optimizer else None
            )
            step, metrics, extra = document["step"], document["metrics"], document["extra"]
            config_data = document["model_config"]
    except SafetensorError as err:
        raise _damaged(path, str(err).splitlines()[0] if str(err) else "unreadable") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, MemoryError) as err:
        if isinstance(err, VideoAEError):
            raise
        raise _damaged(path, f"incomplete videoae metadata: {err!r}") from None
    if not is_int(step) or not 0 <= step <= MAX_STEPS:
        raise _damaged(path, f"step {quote(step)} is not a count of steps (0 to 2**{MAX_STEPS.bit_length() - 1})")
    if not isinstance(metrics, dict) or not isinstance(extra, dict):
        raise _damaged(path, "metrics and extra must be mappings")
    try:
        config = ModelConfig.from_dict(config_data)
    except (InvalidInputError, TypeError, ValueError, AttributeError, RecursionError) as err:
        raise InvalidInputError(
            f"checkpoint {path} holds an invalid model config ({err}); it may come from an incompatible videoae version"
        ) from None
    return Checkpoint(
        path=path,
        format_version=document["format_version"],
        model_config=config,
        step=step,
        metrics=metrics,
        model_state=model_state,
        optimizer_state=optimizer_state,
        extra_tensors=extra_tensors,
        extra_metadata=extra,
        videoae_version=str(document.get("videoae_version", "")),
    )


def pretrained_names() -> list[str]:
    """The trained models that ship with videoae (``videoae.load("pretrained:NAME")``)."""
    return sorted(path.name[: -len(".safetensors")] for path in PRETRAINED_DIR.glob("*.safetensors"))


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file as given, a run folder's best checkpoint (else its last one), or the file
    of a shipped model named ``pretrained:NAME``."""
    if isinstance(path, str) and path.startswith(PRETRAINED_PREFIX):
        name = path[len(PRETRAINED_PREFIX) :]
        if name not in pretrained_names():
            shipped = ", ".join(pretrained_names()) or "none in this installation"
            raise InvalidInputError(f"no pretrained model named {name!r}; shipped: {shipped}")
        return PRETRAINED_DIR / f"{name}.safetensors"
    path = Path(path)
    if not path.is_dir():
        return path
    for relative in (BEST_CHECKPOINT, LAST_CHECKPOINT):
        if (path / relative).is_file():
            return path / relative
    raise InvalidInputError(
        f"no checkpoint in {path} (looked for {BEST_CHECKPOINT} and {LAST_CHECKPOINT}); train first or give a .safetensors file"
    )


def _first(names: set[str]) -> str:
    shown = sorted(names)[:MAX_NAMES_SHOWN]
    return ", ".join(shown) + (f" and {len(names) - len(shown)} more" if len(names) > len(shown) else "")


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> CompositeModel:
    """Build the model a checkpoint (or a run folder) describes and load its weights.

    Args:
        path: a checkpoint file or a run folder (its best checkpoint, else its last).
        device: where the model goes.

    Returns:
        The model, in eval mode, on ``device``.
    """
    device = resolve_device(device)
    checkpoint = read_checkpoint(resolve_checkpoint_path(path), load_optimizer=False)
    if CLASSIFIER_KEY in checkpoint.extra_metadata:
        raise InvalidInputError(
            f"{checkpoint.path} is a video classifier (from videoae finetune), not an autoencoder; "
            "load it with videoae.models.classifier.load_classifier"
        )
    check_weights(checkpoint)
    model = CompositeModel(checkpoint.model_config)
    model.load_state_dict(checkpoint.model_state, strict=True)
    return model.to(device).eval()


def check_weights(checkpoint: Checkpoint, build: Callable[[], nn.Module] | None = None) -> None:
    """InvalidInputError unless the checkpoint's tensors have the names and shapes its model config
    declares. Checked on the meta device, before any model is built: a file of a few MB whose
    config declares a huge model must be refused, not allocated.

    Args:
        checkpoint: the checkpoint read.
        build: makes the model the weights are for (called on the meta device); default the
            composite model of the checkpoint's config.
    """
    problems = _weight_problems(checkpoint, build or (lambda: CompositeModel(checkpoint.model_config)))
    if problems:
        raise InvalidInputError(
            f"weights in {checkpoint.path} do not match its model config: {'; '.join(problems)}; the file was edited or damaged: use another checkpoint"
        )


def _weight_problems(checkpoint: Checkpoint, build: Callable[[], nn.Module]) -> list[str]:
    """What keeps the checkpoint's weights from loading into the model ``build`` makes (none: they load)."""
    with torch.device("meta"):
        model_state = build().state_dict()
    expected = {name: tuple(tensor.shape) for name, tensor in model_state.items()}
    stored = {name: tuple(tensor.shape) for name, tensor in checkpoint.model_state.items()}
    problems = []
    if missing := set(expected) - set(stored):
        problems.append(f"missing {_first(missing)}")
    if unexpected := set(stored) - set(expected):
        problems.append(f"unexpected {_first(unexpected)}")
    if reshaped := {name for name in set(expected) & set(stored) if expected[name] != stored[name]}:
        example = sorted(reshaped)[0]
        problems.append(f"wrong shape for {_first(reshaped)} ({example}: {stored[example]} stored, {expected[example]} expected)")
    # load_state_dict casts silently, so weights stored as bool or int8 would load as 0/1 or integers
    if retyped := {
        name
        for name in set(expected) & set(stored)
        if model_state[name].is_floating_point() and not checkpoint.model_state[name].is_floating_point()
    }:
        example = sorted(retyped)[0]
        problems.append(f"non-float weights in {_first(retyped)} ({example}: {checkpoint.model_state[example].dtype})")
    return problems


def initial_weights(path: str | Path, config: ModelConfig) -> dict[str, Tensor]:
    """The weights of a trained autoencoder, to start a new run of model ``config`` from.

    Args:
        path: a checkpoint file, a run folder (its best checkpoint, else its last) or ``"pretrained:NAME"``.
        config: the new run's model. It may differ from the checkpoint's in settings that hold no
            weights (how the decoders are fed while training, dropout, the readout's initial bias),
            not in a weight's name or shape.
    """
    checkpoint = read_checkpoint(resolve_checkpoint_path(path), load_optimizer=False)
    if CLASSIFIER_KEY in checkpoint.extra_metadata:
        raise InvalidInputError(
            f"init_from: {checkpoint.path} is a video classifier, not an autoencoder; start from an autoencoder's checkpoint"
        )
    check_weights(checkpoint)
    problems = _weight_problems(checkpoint, lambda: CompositeModel(config))
    if problems:
        requested = config.to_dict()
        differing = [key for key, value in checkpoint.model_config.to_dict().items() if requested.get(key) != value]
        raise InvalidInputError(
            f"init_from: the weights in {checkpoint.path} do not fit this run's model ({'; '.join(problems)}; the models differ in "
            f"{', '.join(differing)}); give the model options of the checkpoint's run, or another init_from"
        )
    return checkpoint.model_state


def check_compatible(checkpoint: Checkpoint, config: ModelConfig) -> None:
    """Raise InvalidInputError when ``config`` differs from the checkpoint's (e.g. when resuming)."""
    stored, requested = checkpoint.model_config.to_dict(), config.to_dict()
    differing = [
        f"{key} ({stored.get(key)!r} in the checkpoint, {requested.get(key)!r} now)"
        for key in sorted(set(stored) | set(requested))
        if stored.get(key) != requested.get(key)
    ]
    if differing:
        raise InvalidInputError(
            f"cannot resume from {checkpoint.path}: the model config differs in {', '.join(differing)}; use the run's model options or start a new run"
        )
