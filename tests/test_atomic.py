"""Atomic writes: names of any legal length, errors that name the user's file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from videoae.atomic import write_atomically


@pytest.mark.parametrize("length", [200, 230, 251, 255])
def test_a_file_name_of_any_legal_length_is_written(tmp_path: Path, length: int) -> None:
    # the temporary sibling once added 20 bytes to the name, past the 255 a name may have
    path = tmp_path / ("é" * ((length - 4) // 2) + "a" * ((length - 4) % 2) + ".npy")
    assert len(os.fsencode(path.name)) == length
    write_atomically(path, lambda handle: handle.write(b"old"))
    write_atomically(path, lambda handle: handle.write(b"new"))
    assert path.read_bytes() == b"new"
    assert sorted(tmp_path.iterdir()) == [path], "no temporary is left beside it"


def test_a_temporary_left_by_a_killed_writer_of_a_long_name_is_cleaned_up(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 250 + ".npy")

    def killed(handle) -> None:
        handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, killed)
    write_atomically(path, lambda handle: handle.write(b"done"))
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_name_with_glob_characters_does_not_touch_other_files(tmp_path: Path) -> None:
    other = tmp_path / ".a.1.x.tmp"
    other.write_bytes(b"someone else's")
    write_atomically(tmp_path / "[a]", lambda handle: handle.write(b"data"))
    assert other.read_bytes() == b"someone else's"


def test_a_name_too_long_for_the_filesystem_names_the_users_file(tmp_path: Path) -> None:
    path = tmp_path / ("y" * 300 + ".npy")
    with pytest.raises(OSError) as caught:
        write_atomically(path, lambda handle: handle.write(b"data"))
    assert caught.value.errno == errno.ENAMETOOLONG and caught.value.filename == str(path)
