"""Checks of plain arguments and of config dataclasses filled from files and ``key=value`` strings."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import operator
import reprlib
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from videoae.errors import InvalidInputError

if TYPE_CHECKING:
    import torch


# The most steps a run or a checkpoint may count: every step stays exact as a float (2**53).
MAX_STEPS = 2**53
# A quoted value is cut to about this many characters: an error line never echoes a whole input.
QUOTE_CHARS = 60
# Names longer than this get no "did you mean": difflib's time grows with the product of lengths.
MAX_SUGGESTED_NAME_CHARS = 64
# Nodes a config may hold once YAML aliases are expanded; videoae's configs have about 60.
MAX_CONFIG_NODES = 10_000

# Integers past this many bits are described, not written: Python refuses to print 4,300 digits.
_QUOTED_INT_BITS = 3 * QUOTE_CHARS


class _BoundedRepr(reprlib.Repr):
    """reprlib's cut representations, with huge integers described instead of converted."""

    def repr_int(self, value: int, level: int) -> str:
        if value.bit_length() > _QUOTED_INT_BITS:
            return f"<an integer of about {int(value.bit_length() * math.log10(2)):,} digits>"
        return super().repr_int(value, level)


_quoting = _BoundedRepr()
_quoting.maxstring = _quoting.maxother = _quoting.maxlong = QUOTE_CHARS
_quoting.maxlevel, _quoting.maxlist, _quoting.maxtuple, _quoting.maxdict = 3, 6, 6, 6


def quote(value: object) -> str:
    """``repr(value)`` cut to about :data:`QUOTE_CHARS` characters (and never recursing deeply),
    with the full length of a long string said, for error messages that quote user input."""
    text = _quoting.repr(value)
    if isinstance(value, str) and len(value) > QUOTE_CHARS:
        text += f" ({len(value):,} characters)"
    return text


def load_json(text: str | bytes) -> Any:
    """``json.loads`` whose every failure is a ``ValueError`` with a short reason: malformed JSON
    (``json.JSONDecodeError``), integers past Python's digit limit, nesting past its recursion
    limit, bytes that are not UTF-8."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except ValueError:  # int("1" * 5000): past sys.get_int_max_str_digits()
        raise ValueError(TOO_MANY_DIGITS) from None


# What a parser's ValueError means when a number is past Python's limit of digits for int(str).
TOO_MANY_DIGITS = f"an integer of more than {getattr(sys, 'get_int_max_str_digits', lambda: 4300)()} digits"


def check_config_size(data: Any, source: str) -> None:
    """InvalidInputError when ``data`` holds more than :data:`MAX_CONFIG_NODES` values, counting a
    value each time it is reachable: a YAML file of a few hundred bytes can name one list through
    aliases billions of times. Stops counting at the limit, so it takes bounded time itself."""
    pending, count = [data], 0
    while pending:
        value = pending.pop()
        count += 1
        if count > MAX_CONFIG_NODES:
            raise InvalidInputError(
                f"{source}: holds more than {MAX_CONFIG_NODES:,} values (YAML aliases included); a videoae config has about 60"
            )
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)


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
        raise InvalidInputError(f"{name} must be an integer, got {quote(value)}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be an integer, got {quote(value)}") from None
    if number < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {quote(number)}")
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
    if not isinstance(name, str) or len(name) > MAX_SUGGESTED_NAME_CHARS:
        return []  # nothing is spelt like it, and comparing would take time that grows with its length
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
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        named = ", ".join(quote_name(key) + (f" ({hint.strip()})" if (hint := did_you_mean(key, known)) else "") for key in unknown)
        raise InvalidInputError(f"unknown {section} config key(s): {named}; known keys: {', '.join(sorted(known))}")


def quote_name(key: object) -> str:
    """A config key as written in a message: plain when short, else quoted and cut."""
    return key if isinstance(key, str) and len(key) <= QUOTE_CHARS and key.isprintable() else quote(key)


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
            raise InvalidInputError(f"invalid {section} config: {item.name} must be of type {kind}{finite}, got {quote(value)}")
        setattr(config, item.name, value)
