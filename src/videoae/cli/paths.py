"""Checks of output paths, made before any work so a long job never fails at its last step, and
never writes over its own input."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from videoae.data.video_io import FRAME_SUFFIXES
from videoae.errors import InvalidInputError
from videoae.run_folder import CHECKPOINTS_DIR, CONFIG_FILE
from videoae.validation import quote

# Bytes in one file name on the filesystems videoae meets (ext4, APFS, NTFS, tmpfs).
NAME_MAX_BYTES = 255


def check_path_names(path: Path, option: str) -> None:
    """Every name in ``path`` fits a file name, and no folder on the way (nor ``path``) is a
    symbolic link that leads nowhere, which the OS would report as "File exists"."""
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX_BYTES:
            raise InvalidInputError(
                f"{option}: the name {quote(part)} is {len(os.fsencode(part)):,} bytes long, past the {NAME_MAX_BYTES} bytes a file name "
                "may have; choose a shorter name"
            )
    for candidate in (path, *path.parents):
        if candidate.is_symlink() and not candidate.exists():
            raise InvalidInputError(
                f"{option} {path}: {candidate} is a symbolic link that leads nowhere (a loop or a missing target); "
                "remove it or choose another path"
            )


def check_writable_parent(path: Path, option: str) -> None:
    """The names in ``path`` are legal, and its nearest existing ancestor is a folder this process
    may write into."""
    check_path_names(path, option)
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
    check_path_names(output, option)  # first: the OS answers a name too long for it with an error
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


def _identity(path: Path) -> tuple[int, int] | None:
    """The file ``path`` leads to (device and inode: symlinks followed, hard links alike), or None."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def check_outputs_spare_inputs(outputs: Iterable[Path], inputs: Iterable[str | Path], option: str) -> None:
    """Refuse, before anything is written, an output that is one of the input files or a file in an
    input folder (however it is reached: another spelling, a symbolic or a hard link), a picture
    added to an input folder of frames (it would become a frame), and two outputs that are the same
    file.

    Args:
        outputs: every file the command will write.
        inputs: the files and folders it reads (paths that do not exist are ignored).
        option: the option that named the outputs, for the message.
    """
    protected: dict[tuple[int, int], str] = {}
    folders: dict[tuple[int, int], str] = {}
    for given in inputs:
        path = Path(given)
        if (identity := _identity(path)) is None:
            continue
        if path.is_dir():
            folders[identity] = str(given)
            for member in path.iterdir():
                if (member_identity := _identity(member)) is not None:
                    protected.setdefault(member_identity, f"{member} (in the input folder {given})")
        else:
            protected[identity] = str(given)
    seen: dict[str, Path] = {}
    for output in outputs:
        if (identity := _identity(output)) in protected:
            raise InvalidInputError(
                f"{option}: writing {output} would replace the input {protected[identity]}; choose another output name or folder"
            )
        if output.suffix.lower() in FRAME_SUFFIXES and (folder := _identity(output.parent)) in folders:
            raise InvalidInputError(
                f"{option}: writing {output} would add a frame to the input folder {folders[folder]}; choose another folder"
            )
        key = os.path.realpath(output)
        if key in seen:
            raise InvalidInputError(f"{option}: {seen[key]} and {output} are the same file; one would replace the other")
        seen[key] = output
