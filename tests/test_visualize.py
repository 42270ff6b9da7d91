"""Pictures of sequences: grids, frame tables, PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from videoae.errors import InvalidInputError
from videoae.visualize import frame_table, save_png, sequence_grid, tile


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
