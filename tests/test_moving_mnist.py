"""The Moving MNIST generator: exact semantics, counter-based determinism, validation."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videoae.data import moving_mnist as mm
from videoae.data.digits import load_bundled_digits
from videoae.errors import InvalidInputError

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def reference_sequence(index, *, seed, num_digits, num_frames, image_size, speed, digits):
    """One sequence, following REFERENCE.md literally: per digit, per frame, Python scalars."""
    params = mm.draw_sequence_params(np.array([index]), seed=seed, num_digits=num_digits, speed=speed, num_available_digits=len(digits))
    canvas = np.zeros((num_frames, image_size, image_size), dtype=np.uint8)
    for slot in range(num_digits):
        y, x = (float(v) for v in params.position[0, slot])
        vy, vx = (float(v) for v in params.velocity[0, slot])
        digit = digits[params.digit_index[0, slot]]
        height, width = digit.shape
        for t in range(num_frames):
            y += vy
            x += vx
            if y <= 0:
                y, vy = 0.0, -vy
            if y >= 1:
                y, vy = 1.0, -vy
            if x <= 0:
                x, vx = 0.0, -vx
            if x >= 1:
                x, vx = 1.0, -vx
            top, left = int((image_size - height) * y), int((image_size - width) * x)
            window = canvas[t, top : top + height, left : left + width]
            np.maximum(window, digit, out=window)
    return canvas


def python_splitmix_uniform(seed: int, index: int, draw: int) -> float:
    """The module docstring's derivation, in plain Python integers."""

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    seed_key = mix((seed + GAMMA) & MASK64)
    sample_key = mix((seed_key + (index + 1) * GAMMA) & MASK64)
    return (mix((sample_key + (draw + 1) * GAMMA) & MASK64) >> 11) * 2.0**-53


SQUARE_DIGITS = load_bundled_digits("test")[0][:50]
RNG = np.random.default_rng(7)
ODD_DIGITS = RNG.integers(0, 256, size=(5, 9, 13), dtype=np.uint8)  # non-square, random pixels


@pytest.mark.parametrize(
    "options",
    [
        dict(num_digits=2, num_frames=20, image_size=64, speed=(0.1, 0.1), digits=SQUARE_DIGITS),
        dict(num_digits=3, num_frames=30, image_size=64, speed=(0.02, 0.25), digits=SQUARE_DIGITS),
        dict(num_digits=1, num_frames=7, image_size=40, speed=(0.3, 0.9), digits=SQUARE_DIGITS),
        dict(num_digits=4, num_frames=12, image_size=21, speed=(0.05, 0.4), digits=ODD_DIGITS),
        dict(num_digits=2, num_frames=5, image_size=13, speed=(0.1, 0.2), digits=ODD_DIGITS),
    ],
)
def test_matches_literal_reference(options):
    seed, start, count = 11, 1000, 12
    fast = mm.generate(count, seed=seed, start=start, **options)
    assert fast.dtype == np.uint8
    assert fast.shape == (count, options["num_frames"], options["image_size"], options["image_size"])
    for i in range(count):
        np.testing.assert_array_equal(fast[i], reference_sequence(start + i, seed=seed, **options))


def test_default_digits_are_bundled_train_split():
    expected = reference_sequence(
        3, seed=5, num_digits=2, num_frames=20, image_size=64, speed=(0.1, 0.1), digits=load_bundled_digits("train")[0]
    )
    np.testing.assert_array_equal(mm.generate(4, seed=5)[3], expected)


def test_uniforms_follow_documented_splitmix64_derivation():
    # splitmix64 seeded with 0 first yields 0xE220A8397B1DCDAF (published test vector).
    assert int(mm._mix64(np.array([GAMMA], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF
    indices = np.array([0, 1, 17, 2**40 + 3, MASK64 - 1], dtype=np.uint64)
    got = mm.uniforms(indices, 7, seed=123456789)
    for row, index in enumerate(indices):
        for draw in range(7):
            assert got[row, draw] == python_splitmix_uniform(123456789, int(index), draw)


def test_step_happens_before_first_frame_and_bounces_clamp():
    position = np.array([[0.5, 0.5], [0.95, 0.04]])
    velocity = np.array([[0.1, -0.2], [0.1, -0.1]])
    path = mm.trajectories(position, velocity, 3)
    assert path[0, 0] == pytest.approx([0.6, 0.3])  # one step before frame 0
    assert path[0, 2] == pytest.approx([0.8, 0.0])  # 0.5 - 3 * 0.2 clamps at 0 ...
    np.testing.assert_array_equal(path[1, 0], [1.0, 0.0])  # ... and so do both bounces here,
    assert path[1, 1] == pytest.approx([0.9, 0.1])  # after which the velocity is reversed


def test_corners_truncate_instead_of_rounding():
    positions = np.array([[0.999, 0.01], [0.5, 1.0]])
    corners = mm.top_left_corners(positions, image_size=64, digit_shape=(28, 28))
    np.testing.assert_array_equal(corners, [[35, 0], [18, 36]])  # 35.96 -> 35, 0.36 -> 0


def test_overlapping_digits_combine_with_max_not_sum():
    # Digits as big as the canvas always overlap completely.
    digits = np.stack([np.full((16, 16), 100, np.uint8), np.full((16, 16), 200, np.uint8)])
    videos = mm.generate(20, num_digits=2, image_size=16, num_frames=3, digits=digits)
    params = mm.draw_sequence_params(np.arange(20), num_digits=2, num_available_digits=2)
    expected = np.where(params.digit_index.max(axis=1) == 1, 200, 100)
    assert set(np.unique(videos)) <= {100, 200}
    np.testing.assert_array_equal(videos[:, 0, 0, 0], expected)


def test_speed_range_is_respected_and_spread():
    low, high = 0.05, 0.3
    params = mm.draw_sequence_params(np.arange(2000), seed=3, num_digits=2, speed=(low, high), num_available_digits=10)
    magnitude = np.linalg.norm(params.velocity, axis=-1)
    assert magnitude.min() >= low - 1e-12 and magnitude.max() <= high + 1e-12
    assert magnitude.min() < low + 0.01 and magnitude.max() > high - 0.01
    direction = np.arctan2(params.velocity[..., 0], params.velocity[..., 1])
    assert np.histogram(direction, bins=8, range=(-math.pi, math.pi))[0].min() > 300  # all directions
    path = mm.trajectories(params.position, params.velocity, 20)
    steps = np.linalg.norm(np.diff(path, axis=2), axis=-1)
    assert steps.max() <= high + 1e-12


def test_fixed_speed_moves_exactly_that_far_between_unbounced_frames():
    params = mm.draw_sequence_params(np.arange(200), num_digits=2, num_available_digits=10)
    path = mm.trajectories(params.position, params.velocity, 20)
    inner = (path[:, :, 1:] > 0).all(-1) & (path[:, :, 1:] < 1).all(-1) & (path[:, :, :-1] > 0).all(-1) & (path[:, :, :-1] < 1).all(-1)
    steps = np.linalg.norm(np.diff(path, axis=2), axis=-1)
    np.testing.assert_allclose(steps[inner], 0.1, rtol=1e-9)


def test_digits_stay_whole_inside_the_canvas_even_when_fast():
    digit = load_bundled_digits("test")[0][:1]
    videos = mm.generate(30, seed=2, num_digits=1, num_frames=15, speed=(0.5, 3.0), digits=digit)
    # Nothing is cropped: every frame holds all of the digit's ink.
    np.testing.assert_array_equal(videos.reshape(30 * 15, -1).sum(axis=1), int(digit.sum()))
    params = mm.draw_sequence_params(np.arange(30), seed=2, num_digits=1, speed=(0.5, 3.0), num_available_digits=1)
    path = mm.trajectories(params.position, params.velocity, 15)
    assert path.min() >= 0.0 and path.max() <= 1.0


def test_digit_choice_covers_the_digit_set():
    params = mm.draw_sequence_params(np.arange(500), num_digits=2, num_available_digits=7)
    counts = np.bincount(params.digit_index.ravel(), minlength=7)
    assert len(counts) == 7 and counts.min() > 100


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, MASK64),
    start=st.integers(0, 10**12),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_sample_is_a_pure_function_of_seed_and_index(seed, start, n, data):
    split = data.draw(st.integers(0, n))
    whole = mm.generate(n, seed=seed, start=start, num_frames=4)
    parts = np.concatenate(
        [
            mm.generate(split, seed=seed, start=start, num_frames=4),
            mm.generate(n - split, seed=seed, start=start + split, num_frames=4),
        ]
    )
    np.testing.assert_array_equal(whole, parts)
    order = data.draw(st.permutations(range(n)))
    picked = mm.generate_indices(np.array(order, dtype=np.uint64) + np.uint64(start), seed=seed, num_frames=4)
    np.testing.assert_array_equal(picked, whole[list(order)])


def test_offset_batches_agree():
    np.testing.assert_array_equal(mm.generate(10, seed=4, start=5)[0], mm.generate(6, seed=4)[5])


def test_different_seeds_and_indices_give_different_sequences():
    a, b = mm.generate(8, seed=0), mm.generate(8, seed=1)
    assert all(not np.array_equal(a[i], b[i]) for i in range(8))
    assert len({a[i].tobytes() for i in range(8)}) == 8


def test_extra_digits_leave_the_first_slots_unchanged():
    two = mm.draw_sequence_params(np.arange(5), num_digits=2, num_available_digits=9000)
    three = mm.draw_sequence_params(np.arange(5), num_digits=3, num_available_digits=9000)
    np.testing.assert_array_equal(three.position[:, :2], two.position)
    np.testing.assert_array_equal(three.digit_index[:, :2], two.digit_index)


def test_embedded_test_set_is_pinned():
    # Golden bytes: any change of semantics, RNG, seed or bundled digits changes this digest.
    first = mm.embedded_test_set(4)
    assert first.shape == (4, 20, 64, 64) and first.dtype == np.uint8
    assert hashlib.md5(first.tobytes()).hexdigest() == "00b899eec3760ef65aae2e839b6adba9"
    assert hashlib.md5(mm.generate(4).tobytes()).hexdigest() == "19dbd027b8b624d2ac0479a9dc52b9f9"
    np.testing.assert_array_equal(first, mm.generate(4, seed=mm.EMBEDDED_TEST_SEED, digits="test"))
    assert not first.flags.writeable  # cached: callers must not be able to alter it


def test_empty_request_is_empty():
    assert mm.generate(0).shape == (0, 20, 64, 64)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=-1), "n must be at least 0"),
        (dict(n=2.5), "n must be an integer"),
        (dict(n=1, start=-3), "start must be at least 0"),
        (dict(n=1, seed=-1), "seed must be at least 0"),
        (dict(n=1, seed=2**64), "seed must be below 2\\*\\*64"),
        (dict(n=1, num_digits=0), "num_digits must be at least 1"),
        (dict(n=1, num_frames=0), "num_frames must be at least 1"),
        (dict(n=1, image_size=27), "do not fit on a 27x27 canvas"),
        (dict(n=1, speed=(0.2, 0.1)), "0 <= low <= high"),
        (dict(n=1, speed=(-0.1, 0.1)), "0 <= low <= high"),
        (dict(n=1, speed=(0.1, float("nan"))), "0 <= low <= high"),
        (dict(n=1, speed=0.1), "pair"),
        (dict(n=1, digits="validation"), "unknown digit split"),
        (dict(n=1, digits=np.zeros((3, 28, 28), np.float32)), "must be uint8"),
        (dict(n=1, digits=np.zeros((0, 28, 28), np.uint8)), "non-empty"),
        (dict(n=1, digits=np.zeros((28, 28), np.uint8)), "non-empty array \\(N, h, w\\)"),
        (dict(n=1, digits=[[[0]]]), "numpy array"),
    ],
)
def test_bad_inputs_are_rejected_with_a_clear_message(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        mm.generate(**kwargs)


def test_bad_indices_are_rejected():
    with pytest.raises(InvalidInputError, match="non-negative"):
        mm.generate_indices(np.array([3, -1]))
    with pytest.raises(InvalidInputError, match="integers"):
        mm.generate_indices(np.array([0.5]))
