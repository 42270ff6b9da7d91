"""Checks of plain arguments shared by the library's public functions."""

from __future__ import annotations

import operator

from videoae.errors import InvalidInputError


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
