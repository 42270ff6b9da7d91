"""Atomic file writes: a temporary sibling, then ``os.replace``, so a failure never damages a file."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from videoae.errors import InvalidInputError

_TEMP_NAME_BYTES = 4
# A temporary's name starts with at most this many bytes of its file's name, so that it stays within
# the 255 bytes a name may have whatever the file's own name (".", a digest, the pid, a token, ".tmp").
_TEMP_PREFIX_BYTES = 150
_TEMP_DIGEST_CHARS = 12


def _temporary_stem(name: str) -> str:
    """The part of a temporary's name that says which file it belongs to: ``.NAME`` for a short
    name, else the name's first bytes and a digest of all of it."""
    encoded = os.fsencode(name)
    if len(encoded) <= _TEMP_PREFIX_BYTES:
        return f".{name}"
    prefix = encoded[:_TEMP_PREFIX_BYTES].decode("utf-8", errors="ignore")  # whole characters only
    return f".{prefix}~{hashlib.sha256(encoded).hexdigest()[:_TEMP_DIGEST_CHARS]}"


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file through a temporary sibling, fsync it, then ``os.replace`` it into place.

    The folder is created if missing. A failure (or an interrupt) leaves whatever was at ``path``
    untouched and no temporary file behind; temporaries that a killed writer left beside ``path``
    are removed first (so one writer per path at a time). The folder is synced after the rename, so
    the new file survives a power cut.

    Args:
        path: destination file.
        write: called with the open binary stream of the temporary file.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path}: is a folder; give a file name to write to")
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = _temporary_stem(path.name)
    for stale in path.parent.glob(f"{glob.escape(stem)}.*.tmp"):
        stale.unlink(missing_ok=True)
    temporary = path.with_name(f"{stem}.{os.getpid()}.{secrets.token_hex(_TEMP_NAME_BYTES)}.tmp")
    try:
        with open(temporary, "xb") as handle:  # "x": never clobber, and the umask applies as usual
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        # Name the file the user asked for, not the temporary one, and say plainly what ENOSPC means.
        reason = "disk full" if err.errno == errno.ENOSPC else err.strerror or str(err)
        raise OSError(err.errno, reason, str(path)) from err
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def _sync_folder(folder: Path) -> None:
    """Make a rename durable; some filesystems cannot fsync a folder, which is fine."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_json_atomically(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2) + "\n"
    return write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
