"""Checks of output paths, made before any work so a long job never fails at its last step."""

from __future__ import annotations

import os
from pathlib import Path

from videoae.errors import InvalidInputError
from videoae.run_folder import CHECKPOINTS_DIR, CONFIG_FILE


def check_writable_parent(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` is a folder this process may write into."""
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InvalidInputError(f"{option} {path}: {existing} is a file, not a folder; choose another path")
    if existing is not None and not os.access(existing, os.W_OK):
        raise InvalidInputError(f"{option} {path}: cannot write into {existing}; choose another path")


def check_output_file(path: str | Path, suffixes: tuple[str, ...], option: str) -> Path:
    """An output file name with one of ``suffixes`` that is not a folder, not something other than a
    regular file, not in a run's checkpoints folder, and can be written. Every command that writes a
    file checks its path here, before any work."""
    output = Path(path)
    if output.is_dir():
        raise InvalidInputError(f"{option} {output}: is a folder; give a file name to write to")
    if output.suffix.lower() not in suffixes:
        raise InvalidInputError(f"{option} {output}: give a file name ending in {' or '.join(suffixes)}")
    if output.exists() and not output.is_file():
        raise InvalidInputError(f"{option} {output}: exists and is not a regular file; choose another path")
    folder = output.absolute().parent
    if folder.name == CHECKPOINTS_DIR and (folder.parent / CONFIG_FILE).is_file():
        raise InvalidInputError(f"{option} {output}: {folder} holds a run's checkpoints; write somewhere else")
    check_writable_parent(output, option)
    return output
