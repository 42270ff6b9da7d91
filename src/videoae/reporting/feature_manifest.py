"""The manifest ``videoae features`` writes beside features of video clips: which footage each
vector encodes (CSV: row, file, first frame, time in seconds), written atomically."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from videoae.atomic import write_atomically

MANIFEST_COLUMNS = ("row", "file", "first_frame", "time_s")
TIME_DECIMALS = 6  # microseconds: finer than any frame period


def write_feature_manifest(path: str | os.PathLike[str], origins: Sequence) -> Path:
    """Write one CSV line per feature row from clip origins (objects with ``file``, ``first_frame``
    and ``time_s``, e.g. :class:`~videoae.data.video_clips.ClipOrigin`).

    Returns:
        The path written.
    """
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row, origin in enumerate(origins):
        writer.writerow([row, origin.file, origin.first_frame, f"{origin.time_s:.{TIME_DECIMALS}f}"])
    data = text.getvalue().encode("utf-8")
    return write_atomically(path, lambda handle: handle.write(data))
