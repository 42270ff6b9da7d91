"""The Moving MNIST generator: exact to the paper authors' semantics, reproducible and fast.

Semantics (Srivastava et al. 2015, the authors' data handler). For every sequence and every digit
slot ``k``: a start position ``(y, x)`` uniform in ``[0, 1]^2``, a direction ``theta`` uniform in
``[0, 2 pi)`` and a speed ``m`` uniform in ``speed`` (default ``(0.1, 0.1)``: fixed) give the
velocity ``(sin theta, cos theta) * m``. Each frame first takes a step, then bounces (a coordinate
``<= 0`` is set to 0 and its velocity component negated; ``>= 1`` likewise set to 1), then is
stored, so one step happens before frame 0. A digit of ``h x w`` pixels is pasted with its top-left
corner at ``(int((S - h) * y), int((S - w) * x))`` on an ``S x S`` canvas, and digits are overlaid
with the pixel-wise **max**. The authors shuffle the digit set and cycle through it; here each
(sequence, slot) draws its digit uniformly by index, so that samples stay independent.

Randomness is counter-based, so sample ``i`` is a pure function of ``(seed, i)``: the same bytes on
any machine, in any batch size, with any number of workers or processes. With
``mix(z)`` the splitmix64 finaliser and ``G = 0x9E3779B97F4A7C15`` (all arithmetic modulo 2**64)::

    seed_key      = mix(seed + G)
    sample_key[i] = mix(seed_key + (i + 1) * G)
    draw[i, d]    = mix(sample_key[i] + (d + 1) * G)      # d = slot * 5 + field
    uniform[i, d] = (draw[i, d] >> 11) * 2**-53            # in [0, 1)

i.e. sample ``i`` owns the splitmix64 stream seeded by the ``i``-th output of the stream seeded by
``seed``. The five fields of a slot are y, x, direction, speed and digit choice
(``floor(uniform * num_available_digits)``). A slot's draws do not depend on ``num_digits``, so the
first two digits of a 3-digit sequence move exactly as in the 2-digit sequence of the same index.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from videoae.data.digits import SPLITS, load_bundled_digits
from videoae.errors import InvalidInputError
from videoae.validation import check_int

logger = logging.getLogger(__name__)

DEFAULT_NUM_DIGITS = 2
DEFAULT_NUM_FRAMES = 20
DEFAULT_IMAGE_SIZE = 64
DEFAULT_SPEED = (0.1, 0.1)
# Seed of the embedded evaluation set (the default test data of every command); changing it, or any
# part of the semantics or the RNG, changes every published number of this project.
EMBEDDED_TEST_SEED = 20150216
EMBEDDED_TEST_SIZE = 10_000

_MASK64 = (1 << 64) - 1
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_FLOAT_SHIFT = np.uint64(11)  # keep the top 53 bits: exactly representable in float64
_FLOAT_SCALE = 2.0**-53
_DRAWS_PER_SLOT = 5
_FIELD_Y, _FIELD_X, _FIELD_DIRECTION, _FIELD_SPEED, _FIELD_DIGIT = range(_DRAWS_PER_SLOT)
# Sequences rendered together: big enough to amortise numpy overhead, small enough that the
# temporaries (2.6 MB per slot) stay cheap; 32 measured fastest on batches of 64 and 512.
_CHUNK = 32


@dataclass(frozen=True)
class SequenceParams:
    """The random draws of a batch of sequences (B sequences, K digit slots).

    Attributes:
        position: float64 (B, K, 2), start position (y, x) in [0, 1].
        velocity: float64 (B, K, 2), step per frame (dy, dx).
        digit_index: int64 (B, K), index into the digit array.
    """

    position: np.ndarray
    velocity: np.ndarray
    digit_index: np.ndarray


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniforms(indices: np.ndarray, num_draws: int, *, seed: int) -> np.ndarray:
    """Counter-based uniform floats: draws ``0 .. num_draws - 1`` of each sample index.

    Args:
        indices: non-negative integer sample indices, shape (B,).
        num_draws: how many draws per sample.
        seed: integer in [0, 2**64).

    Returns:
        float64 (B, num_draws) in [0, 1); row b depends only on (seed, indices[b]).
    """
    seed_key = _mix64(np.array([seed], dtype=np.uint64) + _GAMMA)
    counters = np.asarray(indices).astype(np.uint64) + np.uint64(1)
    sample_key = _mix64(seed_key + counters * _GAMMA)
    draw_counters = np.arange(1, num_draws + 1, dtype=np.uint64) * _GAMMA
    bits = _mix64(sample_key[:, None] + draw_counters[None, :])
    return (bits >> _FLOAT_SHIFT).astype(np.float64) * _FLOAT_SCALE


def draw_sequence_params(
    indices: np.ndarray,
    *,
    seed: int = 0,
    num_digits: int = DEFAULT_NUM_DIGITS,
    speed: tuple[float, float] = DEFAULT_SPEED,
    num_available_digits: int,
) -> SequenceParams:
    """The initial conditions and digit choices of the sequences with the given indices."""
    indices = _check_indices(indices)
    seed = _check_seed(seed)
    num_digits = check_int("num_digits", num_digits, 1)
    low, high = _check_speed(speed)
    num_available_digits = check_int("num_available_digits", num_available_digits, 1)
    u = uniforms(indices, num_digits * _DRAWS_PER_SLOT, seed=seed).reshape(-1, num_digits, _DRAWS_PER_SLOT)
    position = u[..., [_FIELD_Y, _FIELD_X]]
    theta = 2.0 * math.pi * u[..., _FIELD_DIRECTION]
    magnitude = low + (high - low) * u[..., _FIELD_SPEED]
    velocity = np.stack([np.sin(theta), np.cos(theta)], axis=-1) * magnitude[..., None]
    # u < 1 keeps floor(u * n) < n; the minimum only guards against a rounding surprise.
    digit_index = np.minimum((u[..., _FIELD_DIGIT] * num_available_digits).astype(np.int64), num_available_digits - 1)
    return SequenceParams(position=position, velocity=velocity, digit_index=digit_index)


def trajectories(position: np.ndarray, velocity: np.ndarray, num_frames: int) -> np.ndarray:
    """Positions in [0, 1] of every frame: step, then bounce, then store (one step before frame 0).

    Args:
        position: float64 (..., 2) start positions.
        velocity: float64 (..., 2) steps per frame.
        num_frames: number of frames T.

    Returns:
        float64 (..., T, 2).
    """
    pos = np.array(position, dtype=np.float64)
    vel = np.array(velocity, dtype=np.float64)
    out = np.empty(pos.shape[:-1] + (num_frames, 2), dtype=np.float64)
    for t in range(num_frames):
        pos += vel
        low = pos <= 0.0
        pos[low] = 0.0
        vel[low] = -vel[low]
        high = pos >= 1.0
        pos[high] = 1.0
        vel[high] = -vel[high]
        out[..., t, :] = pos
    return out


def top_left_corners(positions: np.ndarray, *, image_size: int, digit_shape: tuple[int, int]) -> np.ndarray:
    """Pixel corners ``int((image_size - digit size) * position)`` (truncation), int64 (..., 2)."""
    room = np.array([image_size - digit_shape[0], image_size - digit_shape[1]], dtype=np.int64)
    return (room * positions).astype(np.int64)


def resolve_digits(digits: str | np.ndarray) -> np.ndarray:
    """A bundled split name ("train", "test", "all") or a uint8 array (N, h, w), checked."""
    if isinstance(digits, str):
        if digits not in SPLITS:
            raise InvalidInputError(
                f"unknown digit split {digits!r}; use one of {', '.join(SPLITS)} or pass a uint8 array (N, h, w) "
                "(load files with videoae.data.digits)"
            )
        return _bundled_split(digits)
    if not isinstance(digits, np.ndarray):
        raise InvalidInputError(f"digits must be a split name or a numpy array, not {type(digits).__name__}")
    if digits.dtype != np.uint8:
        raise InvalidInputError(f"digits must be uint8 (0..255), got {digits.dtype}; convert with .astype(np.uint8)")
    if digits.ndim != 3 or min(digits.shape) < 1:
        raise InvalidInputError(f"digits must be a non-empty array (N, h, w), got shape {digits.shape}")
    return digits


@lru_cache(maxsize=len(SPLITS))
def _bundled_split(split: str) -> np.ndarray:
    images, _ = load_bundled_digits(split)
    images.flags.writeable = False
    return images


def generate_indices(
    indices: np.ndarray,
    *,
    seed: int = 0,
    num_digits: int = DEFAULT_NUM_DIGITS,
    num_frames: int = DEFAULT_NUM_FRAMES,
    image_size: int = DEFAULT_IMAGE_SIZE,
    speed: tuple[float, float] = DEFAULT_SPEED,
    digits: str | np.ndarray = "train",
) -> np.ndarray:
    """The sequences with the given global indices (any order, repeats allowed).

    Args: as :func:`generate`, with ``indices`` an integer array (B,) of non-negative indices.

    Returns:
        uint8 (B, num_frames, image_size, image_size).
    """
    indices = _check_indices(indices)
    digit_array = resolve_digits(digits)
    num_frames = check_int("num_frames", num_frames, 1)
    image_size = check_int("image_size", image_size, 1)
    digit_shape = (int(digit_array.shape[1]), int(digit_array.shape[2]))
    if max(digit_shape) > image_size:
        raise InvalidInputError(
            f"digits of {digit_shape[0]}x{digit_shape[1]} pixels do not fit on a {image_size}x{image_size} canvas; "
            f"use an image size of at least {max(digit_shape)}"
        )
    params = draw_sequence_params(indices, seed=seed, num_digits=num_digits, speed=speed, num_available_digits=len(digit_array))
    out = np.empty((len(indices), num_frames, image_size, image_size), dtype=np.uint8)
    for begin in range(0, len(indices), _CHUNK):
        end = min(begin + _CHUNK, len(indices))
        corners = top_left_corners(
            trajectories(params.position[begin:end], params.velocity[begin:end], num_frames),
            image_size=image_size,
            digit_shape=digit_shape,
        )
        _render(digit_array[params.digit_index[begin:end]], corners, out[begin:end])
    return out


def _render(chosen: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """Paste digits (B, K, h, w) at corners (B, K, T, 2) into ``out`` (B, T, S, S), max-overlaid.

    Each digit sits in a zero canvas of (2S - h, 2S - w) whose S x S windows are every placement of
    the digit; one fancy-indexed gather per slot replaces a Python loop over frames.
    """
    num_seq, num_slots, height, width = chosen.shape
    size = out.shape[-1]
    padded = np.zeros((num_seq, num_slots, 2 * size - height, 2 * size - width), dtype=np.uint8)
    padded[:, :, size - height : size, size - width : size] = chosen
    windows = sliding_window_view(padded, (size, size), axis=(2, 3))  # (B, K, oy, ox, S, S)
    rows = np.arange(num_seq)[:, None]
    offset_y = (size - height) - corners[..., 0]  # (B, K, T)
    offset_x = (size - width) - corners[..., 1]
    if num_slots == 1:
        out[...] = windows[rows, 0, offset_y[:, 0], offset_x[:, 0]]
        return
    np.maximum(
        windows[rows, 0, offset_y[:, 0], offset_x[:, 0]],
        windows[rows, 1, offset_y[:, 1], offset_x[:, 1]],
        out=out,
    )
    for slot in range(2, num_slots):
        np.maximum(out, windows[rows, slot, offset_y[:, slot], offset_x[:, slot]], out=out)


def generate(
    n: int,
    *,
    seed: int = 0,
    start: int = 0,
    num_digits: int = DEFAULT_NUM_DIGITS,
    num_frames: int = DEFAULT_NUM_FRAMES,
    image_size: int = DEFAULT_IMAGE_SIZE,
    speed: tuple[float, float] = DEFAULT_SPEED,
    digits: str | np.ndarray = "train",
) -> np.ndarray:
    """Generate Moving MNIST sequences ``start .. start + n - 1`` of the stream ``seed``.

    Args:
        n: number of sequences (>= 0).
        seed: integer in [0, 2**64) naming the stream.
        start: global index of the first sequence; sample i is a pure function of (seed, start + i).
        num_digits: digits per sequence (>= 1).
        num_frames: frames per sequence (>= 1).
        image_size: side S of the square canvas; at least the digit size.
        speed: (low, high) range of the step per frame, in canvas fractions; 0 <= low <= high.
        digits: "train", "test" or "all" of the bundled digits, or a uint8 array (N, h, w).

    Returns:
        uint8 (n, num_frames, image_size, image_size).
    """
    n = check_int("n", n, 0)
    start = check_int("start", start, 0)
    if start + n > _MASK64 + 1:
        raise InvalidInputError(f"indices start + n = {start + n} exceed 2**64; use a smaller start")
    indices = np.arange(start, start + n, dtype=np.uint64)
    return generate_indices(
        indices,
        seed=seed,
        num_digits=num_digits,
        num_frames=num_frames,
        image_size=image_size,
        speed=speed,
        digits=digits,
    )


@lru_cache(maxsize=1)
def embedded_test_set(n: int = EMBEDDED_TEST_SIZE) -> np.ndarray:
    """The default evaluation set: the first ``n`` sequences of seed :data:`EMBEDDED_TEST_SEED`.

    2 digits from the bundled held-out "test" digits, 20 frames of 64x64, default speed; the same
    bytes on every machine. The last result is cached (10,000 sequences take about a second), so it
    is read-only: ``.copy()`` it to modify.

    Returns:
        uint8 (n, 20, 64, 64), read-only.
    """
    videos = generate(n, seed=EMBEDDED_TEST_SEED, digits="test")
    videos.flags.writeable = False
    return videos


def _check_seed(seed: object) -> int:
    seed = check_int("seed", seed, 0)
    if seed > _MASK64:
        raise InvalidInputError(f"seed must be below 2**64, got {seed}")
    return seed


def _check_indices(indices: object) -> np.ndarray:
    array = np.asarray(indices)
    if array.ndim != 1:
        raise InvalidInputError(f"indices must be a 1-D integer array, got shape {array.shape}")
    if array.size == 0:
        return array.astype(np.uint64)
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(f"indices must be integers, got {array.dtype}")
    if np.issubdtype(array.dtype, np.signedinteger) and array.min() < 0:
        raise InvalidInputError(f"indices must be non-negative, got {int(array.min())}")
    return array.astype(np.uint64)


def _check_speed(speed: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in speed)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InvalidInputError(f"speed must be a pair (low, high) of numbers, got {speed!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or low > high:
        raise InvalidInputError(f"speed must satisfy 0 <= low <= high (finite), got ({low}, {high})")
    return low, high
