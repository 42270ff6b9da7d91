"""Checks of plain arguments and of config dataclasses filled from files and ``key=value`` strings."""

from __future__ import annotations

import dataclasses
import difflib
import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from videoae.errors import InvalidInputError

if TYPE_CHECKING:
    import torch


def is_int(value: object) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_count(value: object) -> bool:
    """A positive :func:`is_int`."""
    return is_int(value) and value > 0  # type: ignore[operator]


def resolve_device(name: str | torch.device, local_rank: int = 0) -> torch.device:
    """A torch device from a user's name: ``auto`` is this process's GPU when CUDA is available,
    else the CPU; ``cuda`` is GPU ``local_rank``. Unknown names and absent GPUs fail with one line."""
    import torch  # here, so that the checks above stay importable without torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise InvalidInputError(f"unknown device {name!r} ({err}); use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device} was asked for but CUDA is not available here; use device cpu")
    return device


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int (bools and floats refused) that is at least ``minimum``."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {number}")
    return number


# Names people bring from other tools, and the setting each one means here.
COMMON_NAMES = {
    "learning_rate": "lr",
    "learningrate": "lr",
    "lr_rate": "lr",
    "steps": "max_steps",
    "num_steps": "max_steps",
    "iterations": "max_steps",
    "iters": "max_steps",
    "max_iters": "max_steps",
    "epochs": "max_steps",
    "minutes": "max_minutes",
    "time_limit": "max_minutes",
    "batch": "batch_size",
    "bs": "batch_size",
    "hidden": "hidden_size",
    "hidden_dim": "hidden_size",
    "units": "hidden_size",
    "layers": "num_layers",
    "n_layers": "num_layers",
    "depth": "num_layers",
    "wd": "weight_decay",
    "l2": "weight_decay",
    "clip": "grad_clip",
    "clip_grad": "grad_clip",
    "clip_grad_norm": "grad_clip",
    "max_grad_norm": "grad_clip",
    "gradient_clip": "grad_clip",
    "workers": "num_workers",
    "opt": "optimizer",
    "optim": "optimizer",
    "warmup": "warmup_steps",
    "scheduler": "schedule",
    "lr_schedule": "schedule",
}
MAX_SUGGESTIONS = 3


def close_names(name: str, known: Iterable[str]) -> list[str]:
    """The known names someone who typed ``name`` probably meant: its usual synonym here, then
    names spelt like it (at most :data:`MAX_SUGGESTIONS`)."""
    known = sorted(set(known))
    synonym = COMMON_NAMES.get(name.lower().replace("-", "_"))
    found = [synonym] if synonym in known else []
    found += [match for match in difflib.get_close_matches(name, known, n=MAX_SUGGESTIONS, cutoff=0.6) if match not in found]
    return found[:MAX_SUGGESTIONS]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean lr? "`` for :func:`close_names`, or ``""`` when nothing is close."""
    close = close_names(name, known)
    return f"did you mean {' or '.join(close)}? " if close else ""


def reject_unknown_keys(config_class: type, data: dict[str, Any], section: str) -> None:
    """InvalidInputError naming every key of ``data`` that is not a field of ``config_class``, with
    the close names first and then every known key."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        named = ", ".join(key + (f" ({hint.strip()})" if (hint := did_you_mean(key, known)) else "") for key in unknown)
        raise InvalidInputError(f"unknown {section} config key(s): {named}; known keys: {', '.join(sorted(known))}")


def raise_first_failure(checks: list[tuple[bool, str]], section: str) -> None:
    """InvalidInputError with the message of the first ``(ok, message)`` check that failed."""
    for ok, message in checks:
        if not ok:
            raise InvalidInputError(f"invalid {section} config: {message}")


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def coerce_fields(config: Any, section: str) -> None:
    """Check every field of a config dataclass against its annotation, in place.

    Accepts an int where a float is expected and a list where a tuple is; a float must be finite
    and within float32's range; anything else of the wrong type raises InvalidInputError naming the field, so that a typo in a config file fails
    before training, not deep inside it.
    """
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        kind = str(item.type)
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            # NaN, infinities and numbers beyond float32 (which become infinities in a tensor) are
            # never meaningful settings, and would fail deep inside training
            ok = _is_number(value) and abs(float(value)) <= FLOAT32_MAX
            if ok:
                value = float(value)
        elif kind == "str":
            ok = isinstance(value, str)
        elif kind.startswith("tuple["):
            element = float if "float" in kind else int
            ok = isinstance(value, (list, tuple)) and all(_is_number(v) and abs(float(v)) <= FLOAT32_MAX for v in value)
            if ok:
                value = tuple(element(v) for v in value)
                ok = element is float or all(float(v).is_integer() for v in getattr(config, item.name))
        else:
            ok = True
        if not ok:
            finite = " (a finite number within float32's range)" if kind == "float" else ""
            raise InvalidInputError(f"invalid {section} config: {item.name} must be of type {kind}{finite}, got {value!r}")
        setattr(config, item.name, value)
