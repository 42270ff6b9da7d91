"""benchmarks/gpu_check.py, the check a lent GPU runs: its CPU mode runs every section, so that it
is ready whenever a GPU is; its budget skips what would overrun and says so."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
SECTIONS = ["environment", "tests", "throughput", "data", "table1", "compile"]


@pytest.fixture(scope="module")
def gpu_check(load_benchmark):
    return load_benchmark("gpu_check")


@pytest.mark.slow
def test_the_quick_cpu_check_runs_every_section(tmp_path: Path) -> None:
    out = tmp_path / "check"
    # a process of its own: the check applies the trainer's process-wide CPU settings
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert list(report["sections"]) == SECTIONS
    assert {name: section["status"] for name, section in report["sections"].items()} == dict.fromkeys(SECTIONS, "done")
    assert report["quick"] and report["device"] == "cpu"
    assert set(report["environment"]["matmul"]["tflop_per_s"]) == {"bf16", "fp32"}

    tests = report["tests"]  # every CUDA test is collected and skipped, with the reason
    assert tests["skipped"] > 0 and tests["passed"] == tests["failed"] == tests["error"] == 0
    assert any("torch.cuda.is_available() is false" in reason for reason in tests["skip_reasons"])
    assert (out / "tests.log").is_file()

    rows = report["throughput"]
    assert all(row["status"] == "ok" and row["seq_per_s"] > 0 and math.isfinite(row["loss"]) for row in rows)
    assert {row["model"] for row in rows} == {"paper", "small", "conv-small", "notebook"}
    assert {(row["precision"], row["gradients"]) for row in rows if row["model"] == "paper"} == {
        (precision, path) for precision in ("bf16", "fp32") for path in ("deferred", "plain")
    }
    assert all(row["fraction_of_matmul"] > 0 for row in rows) and all(row["over_notebook"] > 0 for row in rows if row["model"] == "paper")
    (compiled,) = report["compile"]
    assert compiled["compile"] and compiled["status"] == "ok"

    data = report["data"]
    assert [row["workers"] for row in data["generation"]] == [0, 1] and all(row["seq_per_s"] > 0 for row in data["generation"])
    assert {row["setting"].split()[0] for row in data["fed"]} == {"small", "paper"}

    table = report["table1"]
    assert [run["variant"] for run in table["runs"]] == ["composite-conditional", "composite"]
    assert "--paper-optimizer" in table["argv"] and all(run["prediction_bce"] > 0 for run in table["runs"])
    assert set(table["baselines_bce"]) == {"copy_last", "mean", "blank"}

    assert {"paper_bf16", "data", "fastest"} <= set(report["verdict"])
    page = (out / "gpu_check.md").read_text()
    for heading in ("## Sections", "## CUDA tests", "## Training throughput", "## Data", "## Table 1, short", "## Verdict"):
        assert heading in page


def test_a_spent_budget_skips_sections_and_says_so(gpu_check, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gpu_check, "configure_for_training", lambda device: None)
    out = tmp_path / "check"
    assert gpu_check.main(["--device", "cpu", "--quick", "--minutes", "1e-6", "--out", str(out)]) == 0
    report = json.loads((out / "gpu_check.json").read_text())
    assert {section["status"] for section in report["sections"].values()} == {"skipped"}
    assert {section["note"] for section in report["sections"].values()} == {"no budget left"}
    assert "| throughput | 0 | 0 | skipped | no budget left |" in (out / "gpu_check.md").read_text()

    # a section out of time skips its remaining settings by name
    speed = gpu_check.speed
    rows = speed.throughput(torch.device("cpu"), True, speed.load_scripts(), deadline=time.monotonic() - 1)
    assert rows and {(row["status"], row["error"]) for row in rows} == {("skipped", "budget spent")}


def test_the_check_refuses_a_used_folder_and_an_absent_gpu(gpu_check, tmp_path: Path, capsys) -> None:
    (tmp_path / "old.json").write_text("{}")
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--device", "cpu", "--out", str(tmp_path)])
    assert "not an empty folder" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            gpu_check.parse_args(["--device", "cuda", "--out", str(tmp_path / "new")])
        assert "CUDA is not available" in capsys.readouterr().err


def test_a_subprocess_past_its_deadline_is_stopped_with_its_children(gpu_check, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    output, code = gpu_check.run_until([sys.executable, "-c", script], time.monotonic() + 3)
    assert code is None and "started" in output and time.monotonic() - started < 30
    child = Path(f"/proc/{marker.read_text()}/stat")
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(child), "the command's own child must be stopped too"


def _running(stat: Path) -> bool:
    """A process that exists and is not a zombie (killed, waiting to be reaped)."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
