"""Pictures of sequences: grids, frame tables, PNG files, comparisons with the truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from videoae.errors import InvalidInputError
from videoae.reporting import (
    comparison_panels,
    comparison_strip,
    frame_table,
    save_comparison_gif,
    save_comparison_png,
    save_png,
    sequence_grid,
    tile,
)
from videoae.reporting.comparison import DIM_FACTOR, IDLE_LABEL_INK, LABEL_BACKGROUND, SEQUENCE_GAP_TILES
from videoae.reporting.frames import DEFAULT_PAD_VALUE, DEFAULT_PADDING
from videoae.reporting.text import fit_font_size, line_height, render_text


def numbered_videos(num: int, frames: int, size: int = 4) -> np.ndarray:
    """Video n, frame t is filled with the value 10 * n + t, so every tile says where it came from."""
    values = 10 * np.arange(num)[:, None] + np.arange(frames)[None, :]
    return np.broadcast_to(values[:, :, None, None], (num, frames, size, size)).astype(np.uint8)


def test_sequence_grid_places_video_n_frame_t_in_row_major_cells():
    grid = sequence_grid(numbered_videos(5, 3), columns=2, padding=1, pad_value=255)
    assert grid.shape == (3, 3 * 5 + 1, 2 * 5 + 1)  # 3 rows of 2 columns, 4 px tiles + 1 px padding
    for n in range(5):
        top, left = 1 + (n // 2) * 5, 1 + (n % 2) * 5
        for t in range(3):
            assert (grid[t, top : top + 4, left : left + 4] == 10 * n + t).all()
    assert (grid[:, 11:15, 6:10] == 255).all()  # the empty sixth cell is padding
    assert (grid[:, 0, :] == 255).all() and (grid[:, :, 5] == 255).all()


def test_sequence_grid_default_columns_is_about_square_and_floats_are_scaled():
    grid = sequence_grid(np.full((9, 2, 4, 4), 0.5, dtype=np.float32), padding=0)
    assert grid.shape == (2, 12, 12) and grid.dtype == np.uint8
    assert (grid == 128).all()


def test_frame_table_has_one_row_per_video_and_one_column_per_frame():
    table = frame_table(numbered_videos(2, 3), padding=0)
    assert table.shape == (8, 12)
    assert table[0, 0] == 0 and table[0, 4] == 1 and table[0, 8] == 2 and table[4, 0] == 10 and table[7, 11] == 12


def test_save_png_round_trips_and_replaces_atomically(tmp_path):
    image = frame_table(numbered_videos(2, 3))
    path = save_png(tmp_path / "t.png", image)
    with Image.open(path) as png:
        np.testing.assert_array_equal(np.array(png), image)
    with pytest.raises(InvalidInputError):
        save_png(path, np.zeros((2, 2, 2), np.uint8))
    with Image.open(path) as png:  # the failed write left the old picture alone
        np.testing.assert_array_equal(np.array(png), image)
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]


@pytest.mark.parametrize(
    "call",
    [
        lambda: sequence_grid(np.zeros((2, 3, 4), np.uint8)),
        lambda: sequence_grid(np.zeros((2, 3, 4, 4), np.int32)),
        lambda: sequence_grid(np.zeros((2, 3, 4, 4), np.uint8), columns=0),
        lambda: sequence_grid(np.zeros((2, 3, 4, 4), np.uint8), padding=-1),
        lambda: tile(np.zeros((4, 4), np.uint8), columns=1),
        lambda: frame_table(np.full((1, 1, 2, 2), np.nan)),
    ],
)
def test_bad_pictures_are_rejected(call):
    with pytest.raises(InvalidInputError):
        call()


# -- comparisons of a model's outputs with the truth -------------------------------------------------

PANEL_ORDER = ("input", "truth", "reconstruction", "prediction")
T_IN, T_FUTURE, N, SIDE = 3, 2, 2, 4


def panels_given(kinds, value: int = 0) -> dict[str, np.ndarray]:
    lengths = {"input": T_IN, "reconstruction": T_IN, "truth": T_FUTURE, "prediction": T_FUTURE}
    return {kind: np.full((N, lengths[kind], SIDE, SIDE), value, np.uint8) for kind in kinds}


def as_arguments(given: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    names = {"input": "inputs", "truth": "truth", "reconstruction": "reconstruction", "prediction": "prediction"}
    return {names[kind]: given.get(kind) for kind in PANEL_ORDER}


ALL_COMBINATIONS = [combo for r in range(1, 5) for combo in itertools.combinations(PANEL_ORDER, r)]


@pytest.mark.parametrize("kinds", ALL_COMBINATIONS, ids=["+".join(c) for c in ALL_COMBINATIONS])
def test_comparison_panels_shape_and_frame_count_for_every_combination_of_panels(kinds):
    frames = comparison_panels(**as_arguments(panels_given(kinds)), labels=False, scale=1)
    plays_during_input = any(kind in ("input", "reconstruction") for kind in kinds)
    plays_after = any(kind in ("truth", "prediction") for kind in kinds)
    expected_frames = T_IN * plays_during_input + T_FUTURE * plays_after
    gap = DEFAULT_PADDING
    assert frames.shape == (expected_frames, N * (SIDE + gap) + gap, len(kinds) * (SIDE + gap) + gap)
    assert frames.dtype == np.uint8
    strip = comparison_strip(**as_arguments(panels_given(kinds)), labels=False, scale=1)
    block = len(kinds) * (SIDE + gap)
    assert strip.shape[1] == gap + expected_frames * (SIDE + gap)
    assert strip.shape[0] == gap + N * block + (N - 1) * round(SEQUENCE_GAP_TILES * SIDE)


def test_a_bright_truth_pixel_lands_in_the_truth_column_at_its_frame():
    scale, gap = 2, DEFAULT_PADDING * 2
    given = panels_given(PANEL_ORDER)
    given["input"][:, -1] = 255  # a full last input frame, to see it held dimmed afterwards
    given["truth"][1, 1, 2, 3] = 255  # sequence 1, second future frame, pixel (2, 3)
    frames = comparison_panels(**as_arguments(given), scale=scale)
    tile = SIDE * scale
    band = frames.shape[1] - (N * (tile + gap) + gap)
    assert band > 0
    body = frames[:, band:]
    hits = np.argwhere(body == 255)
    top = gap + 1 * (tile + gap) + 2 * scale  # row of sequence 1, pixel row 2
    left = gap + 1 * (tile + gap) + 3 * scale  # truth is the second column, pixel column 3
    expected = {(T_IN + 1, top + dy, left + dx) for dy in range(scale) for dx in range(scale)}
    input_hits = {tuple(h) for h in hits if h[0] == T_IN - 1}  # the full input frame itself
    assert {tuple(h) for h in hits} - input_hits == expected
    input_tile = body[:, gap : gap + tile, gap : gap + tile]
    assert (input_tile[T_IN:] == round(255 * DIM_FACTOR)).all()  # held, dimmed, during the future
    truth_tile = body[:, gap : gap + tile, gap + tile + gap : gap + 2 * tile + gap]
    assert (truth_tile[:T_IN] == DEFAULT_PAD_VALUE).all()  # blank before the future starts


def test_labels_are_drawn_inside_their_own_column_and_greyed_outside_its_time_range():
    frames = comparison_panels(
        np.zeros((T_IN, 64, 64)), np.zeros((T_FUTURE, 64, 64)), np.zeros((T_IN, 64, 64)), np.zeros((T_FUTURE, 64, 64))
    )  # default scale 2: 128 px columns
    without = comparison_panels(np.zeros((T_IN, 64, 64)), np.zeros((T_FUTURE, 64, 64)), labels=False)
    band = frames.shape[1] - without.shape[1]
    assert band >= 15  # a readable line of text
    tile, gap = 128, DEFAULT_PADDING * 2
    for t in (0, T_IN):
        ink = frames[t, :band] < LABEL_BACKGROUND
        for column in range(4):
            left = gap + column * (tile + gap)
            inked = np.flatnonzero(ink[:, left : left + tile].any(axis=0))
            assert len(inked) > 20, f"no label in column {column} at frame {t}"
            assert inked[0] > 0 and inked[-1] < tile - 1  # the whole word fits, not cut at the edges
        outside = np.ones(ink.shape[1], bool)
        for column in range(4):
            outside[gap + column * (tile + gap) : gap + column * (tile + gap) + tile] = False
        assert not ink[:, outside].any()  # no label spills over a gutter or the edge
    truth_label = frames[:, :band, gap + tile + gap : gap + 2 * tile + gap]
    assert truth_label[0].min() >= IDLE_LABEL_INK - 1  # greyed while the truth has no frame yet
    assert truth_label[T_IN].min() < 60  # dark while it plays


def test_comparison_strip_places_frames_in_time_and_labels_rows():
    given = panels_given(("input", "truth"), value=255)
    strip = comparison_strip(**as_arguments(given), scale=1)
    gap = DEFAULT_PADDING
    label_w = strip.shape[1] - (gap + (T_IN + T_FUTURE) * (SIDE + gap))
    header = strip.shape[0] - (gap + N * 2 * (SIDE + gap) + (N - 1) * round(SEQUENCE_GAP_TILES * SIDE))
    assert label_w > 20 and header > 5
    first_row = header + gap
    for t in range(T_IN + T_FUTURE):
        left = label_w + gap + t * (SIDE + gap)
        input_cell = strip[first_row : first_row + SIDE, left : left + SIDE]
        truth_cell = strip[first_row + SIDE + gap : first_row + 2 * SIDE + gap, left : left + SIDE]
        assert (input_cell == 255).all() == (t < T_IN)
        assert (truth_cell == 255).all() == (t >= T_IN)
    row_labels = strip[header:, :label_w] < LABEL_BACKGROUND
    assert row_labels[: SIDE + gap].any() and row_labels[SIDE + gap : 2 * (SIDE + gap)].any()


def test_floats_tensors_and_single_videos_give_the_same_picture():
    torch = pytest.importorskip("torch")
    video = np.random.default_rng(0).integers(0, 256, (T_IN, SIDE, SIDE), dtype=np.uint8)
    expected = comparison_panels(video[None], video[None, :T_FUTURE])
    np.testing.assert_array_equal(comparison_panels(video, video[:T_FUTURE]), expected)
    floats = torch.from_numpy(video.astype(np.float32) / 255).to(torch.bfloat16).float()
    np.testing.assert_array_equal(comparison_panels(floats, video[:T_FUTURE] / 255.0), expected)


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"inputs": np.zeros((2, 3, 4, 4)), "truth": np.zeros((3, 2, 4, 4))},  # different sequence counts
        {"inputs": np.zeros((3, 4, 4)), "truth": np.zeros((2, 4, 5))},  # different frame sizes
        {"inputs": np.zeros((4, 4))},
        {"inputs": np.zeros((0, 4, 4))},
        {"inputs": np.full((3, 4, 4), np.nan)},
        {"inputs": np.zeros((3, 4, 4)), "scale": 0},
        {"inputs": np.zeros((3, 4, 4)), "scale": True},
    ],
)
def test_bad_comparisons_are_rejected(arguments):
    arguments = {"inputs": None, **arguments}
    with pytest.raises(InvalidInputError):
        comparison_panels(**arguments)
    with pytest.raises(InvalidInputError):
        comparison_strip(**arguments)


def test_comparison_gif_and_png_files(tmp_path):
    given = as_arguments(panels_given(PANEL_ORDER, value=200))
    gif = save_comparison_gif(tmp_path / "out" / "c.gif", **given)
    with Image.open(gif) as animation:
        assert animation.n_frames == T_IN + T_FUTURE
        assert animation.info["duration"] == 200
        assert animation.size[::-1] == comparison_panels(**given).shape[1:]
    png = save_comparison_png(tmp_path / "c.png", **given)
    with Image.open(png) as picture:
        np.testing.assert_array_equal(np.array(picture), comparison_strip(**given))
    before = png.read_bytes()
    with pytest.raises(InvalidInputError):
        save_comparison_png(png, np.zeros((2, 3, 4, 4)), np.zeros((1, 2, 4, 4)))
    assert png.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "out"]


def test_label_text_has_one_height_and_shrinks_to_fit():
    assert render_text("input").shape[0] == render_text("ground truth").shape[0] == line_height()
    assert render_text("prediction", 22).shape[1] > render_text("prediction", 11).shape[1]
    size = fit_font_size(["reconstruction"], 100, 40)
    assert render_text("reconstruction", size).shape[1] <= 100 < render_text("reconstruction", size + 1).shape[1]
