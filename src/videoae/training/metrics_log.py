"""A run's metrics log: ``metrics.jsonl`` (one JSON record per line), mirrored to TensorBoard on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from videoae.atomic import write_atomically
from videoae.errors import InvalidInputError


class MetricsLog:
    """Appends records to a JSONL file, and their numbers to TensorBoard when asked.

    Args:
        path: the ``metrics.jsonl`` file (created on the first record).
        tensorboard_dir: where to write TensorBoard events; None for none.
    """

    def __init__(self, path: Path, *, tensorboard_dir: Path | None = None) -> None:
        self.path = path
        self.tensorboard = _open_tensorboard(tensorboard_dir) if tensorboard_dir is not None else None

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (it must hold ``step``)."""
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in _flatten(record).items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, record["step"])

    def truncate_after(self, step: int) -> None:
        """Drop records of later steps, which a run resumed from ``step`` writes again, and any
        line a killed writer left unfinished."""
        if not self.path.is_file():
            return
        kept = []
        # bytes a killed writer (or a disk fault) left undecodable make their line unreadable, not the log
        for line in self.path.read_bytes().decode("utf-8", errors="replace").splitlines():
            record_step = _record_step(line)
            if record_step is not None and record_step <= step:
                kept.append(line + "\n")
        text = "".join(kept)
        write_atomically(self.path, lambda handle: handle.write(text.encode("utf-8")))

    def close(self) -> None:
        """Flush and close TensorBoard's writer, if any."""
        if self.tensorboard is not None:
            self.tensorboard.close()


def check_tensorboard() -> None:
    """InvalidInputError unless TensorBoard logging can work (checked before a run folder is made)."""
    _summary_writer_class()


def _summary_writer_class() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InvalidInputError("train.tensorboard=true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter


def _open_tensorboard(log_dir: Path):  # noqa: ANN202 - SummaryWriter is imported only when asked for
    return _summary_writer_class()(str(log_dir))


def last_logged_step(path: Path) -> int:
    """The highest step a metrics log records (0 for a missing or empty log)."""
    if not path.is_file():
        return 0
    steps = [_record_step(line) for line in path.read_bytes().decode("utf-8", errors="replace").splitlines()]
    return max((step for step in steps if step is not None), default=0)


def _record_step(line: str) -> int | None:
    """The record's step; None for a line that is not a record."""
    try:
        return int(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError, RecursionError):
        return None


def _flatten(record: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "/"))
        elif not isinstance(value, list):
            flat[name] = value
    return flat
