"""The run's metrics log: appending records and cutting it back to a checkpoint's step."""

from __future__ import annotations

import json
from pathlib import Path

from videoae.training.metrics_log import MetricsLog


def test_append_then_truncate_keeps_records_up_to_the_step(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (10, 20, 30):
        log.append({"step": step, "loss": float(step)})
    log.append({"step": 30, "eval": {"prediction": {"bce": 1.0}}})
    log.truncate_after(20)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records == [{"step": 10, "loss": 10.0}, {"step": 20, "loss": 20.0}]


def test_truncate_drops_a_line_a_killed_writer_left_unfinished(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 5, "loss": 1.0}\n{"step": 6, "lo')
    MetricsLog(path).truncate_after(10)
    assert path.read_text() == '{"step": 5, "loss": 1.0}\n'
    MetricsLog(path).append({"step": 11, "loss": 2.0})
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [5, 11]


def test_truncate_without_a_log_does_nothing(tmp_path: Path) -> None:
    MetricsLog(tmp_path / "metrics.jsonl").truncate_after(3)
    assert not (tmp_path / "metrics.jsonl").exists()
