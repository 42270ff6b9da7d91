"""One prepared check of videoae on a GPU, within a time budget: tests, speed, data, a short Table 1.

Sections, each given a share of ``--minutes`` (time a section leaves unused passes to the next;
what would overrun is skipped, and the output says so):

    environment  versions, the device, the same run's dense matmul rates (fp32, TF32, bf16)
    tests        the CUDA tests, ``pytest -m cuda`` in a subprocess (tests/test_cuda.py)
    throughput   training steps of paper, small, conv-small and the notebook's design at batch 64
                 and 256, in fp32 (torch's defaults, as `videoae train` runs today), TF32 and bf16
                 autocast, with and without the deferred weight gradients; model FLOPs as
                 bench_model.py counts them (flat) and bench_convlstm.py (spatial: gate convolutions)
    data         sequences/s that DataLoader workers generate, and how long a step fed by the
                 trainer's own loader waits for its batch
    table1       benchmarks/table1.py's main with a short budget: the paper preset and optimizer,
                 the composite with a conditional predictor and without conditional decoders
    compile      the main settings under torch.compile, in a subprocess stopped when its share is
                 spent (compiling can take minutes)

    python benchmarks/gpu_check.py --device cuda --minutes 7 --out gpu_check/
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu_check   # the same code in seconds

``--quick`` runs every section with tiny models (hidden sizes 4-16), one or two steps each, and
compiles with dynamo's eager backend. Writes ``OUT/gpu_check.json`` (after every section) and
``OUT/gpu_check.md``; the Table 1 runs lie under ``OUT/table1``, the tests' output in
``OUT/tests.log``. The measurements live in gpu_speed.py, the verdict and page in gpu_report.py.
Figures only: the tests check that it runs, never its values.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from videoae.atomic import write_atomically, write_json_atomically
from videoae.errors import InvalidInputError
from videoae.training.config import TrainConfig
from videoae.training.runtime import configure_for_training
from videoae.validation import resolve_device

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
JSON_FILE, MARKDOWN_FILE, TESTS_LOG, COMPILE_RESULTS = "gpu_check.json", "gpu_check.md", "tests.log", "compile.jsonl"
# Shares of the budget, in the order the sections run (compile last: it is the likeliest to need more).
SHARES = {"environment": 0.03, "tests": 0.30, "throughput": 0.20, "data": 0.08, "table1": 0.24, "compile": 0.15}
DEFAULT_MINUTES = 7.0  # with start-up and the last writes, within 8 minutes of a lent GPU
TABLE1_VARIANTS = ("composite-conditional", "composite")
TABLE1_BATCH = 64
TABLE1_PROBE_SEQUENCES = 500
TABLE1_OVERHEAD_S = 30.0  # per run besides training: final evaluation, checkpoints (2-3 GB for paper), scoring, the probe (CPU)
TABLE1_MIN_TRAIN_S = 10.0
PYTEST_RESULT = re.compile(r"^(tests/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)")


def _load(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"gpu_check_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


speed, report_page = _load("gpu_speed"), _load("gpu_report")


class Budget:
    """Deadlines from shares of the whole budget: a section may also use what earlier ones left."""

    def __init__(self, seconds: float) -> None:
        self.start, self.seconds, self.shares = time.monotonic(), seconds, 0.0

    def next_deadline(self, share: float) -> float:
        self.shares += share
        return self.start + self.seconds * min(1.0, self.shares)


def left(deadline: float) -> float:
    return deadline - time.monotonic()


def run_until(command: list[str], deadline: float, **options) -> tuple[str, int | None]:
    """Output (stdout and stderr) and exit code of ``command``, or what it wrote and None when the
    deadline came first: then it is stopped with everything it started (torchrun, compile workers),
    which must not go on using the device under the next section."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **options)
    try:
        output, _ = process.communicate(timeout=max(1.0, left(deadline)))
        return output, process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the command and its children only
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a descendant that left the group still holds the pipe
            output = ""
        return output, None


# -- tests ---------------------------------------------------------------------------------------------


def run_tests(out: Path, device, deadline: float) -> dict:
    """``pytest -m cuda`` on the repository's tests, stopped at the deadline."""
    if not (REPO / "tests" / "test_cuda.py").is_file():
        return {"status": "skipped", "note": f"no tests in {REPO / 'tests'} (not a source checkout)"}
    # -o addopts=: the project's -q would cancel -v, which names each test with its outcome
    command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-m", "cuda", "-v", "-rs", "-p", "no:cacheprovider", "tests"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device.type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # --device cpu checks that they skip, on any machine
    output, code = run_until(command, deadline, cwd=REPO, env=env)
    timed_out = code is None
    write_atomically(out / TESTS_LOG, lambda handle: handle.write(output.encode()))
    outcomes = [match.groups() for match in map(PYTEST_RESULT.match, output.splitlines()) if match]
    summary = next((line.strip("= ") for line in reversed(output.splitlines()) if line.startswith("=") and " in " in line), "")
    counts = {kind.lower(): sum(outcome == kind for _, outcome in outcomes) for kind in ("PASSED", "FAILED", "ERROR", "SKIPPED")}
    for number, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary):  # the summary counts even setup errors
        counts["error" if kind.startswith("error") else kind] = int(number)
    status = "partial" if timed_out else "done" if code in (0, 5) else "failed"  # 5: no test selected
    print(f"  {summary or 'stopped at the deadline'} (output: {out / TESTS_LOG})", flush=True)
    return {
        "status": status,
        "returncode": code,
        "timed_out": timed_out,
        **counts,
        "failed_tests": [name for name, outcome in outcomes if outcome in ("FAILED", "ERROR")],
        "skip_reasons": sorted({line.split(": ", 1)[-1] for line in output.splitlines() if line.startswith("SKIPPED [")}),
        "summary": summary,
        "note": summary or ("stopped at the deadline" if timed_out else (output.strip().splitlines() or ["no output"])[-1][:200]),
    }


# -- torch.compile ---------------------------------------------------------------------------------------


def run_compile(out: Path, device, quick: bool, deadline: float) -> list[dict]:
    """gpu_speed.py's compile worker, stopped at the deadline; the settings it finished are kept."""
    results = out / COMPILE_RESULTS
    command = [sys.executable, str(HERE / "gpu_speed.py"), "--compile-worker", str(results), "--device", str(device)]
    output, code = run_until(command + (["--quick"] if quick else []), deadline)
    stopped = code is None
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    for index, setting in enumerate(speed.compile_settings(device, quick)[len(rows) :]):
        if stopped:
            note = "compiling when the budget ran out" if index == 0 else "budget spent"
        else:
            note = f"the worker stopped (exit code {code}): " + (output.strip().splitlines() or ["?"])[-1][:200]
        rows.append({**setting._asdict(), "status": "skipped", "error": note})
    for row in rows:
        print(f"  {report_page.setting_name(row)}: {speed.speed(row)}", flush=True)
    return rows


# -- Table 1 -----------------------------------------------------------------------------------------------


def run_table1(out: Path, device, quick: bool, deadline: float, workers: int) -> dict:
    """benchmarks/table1.py's main, its runs fed by ``workers`` DataLoader workers."""
    runs, folder = len(TABLE1_VARIANTS), out / "table1"
    argv = ["--paper-optimizer", "--variants", *TABLE1_VARIANTS, "--device", str(device), "--out", str(folder)]
    if quick:
        argv += ["--preset", "tiny", "--minutes", "0.05", "--max-steps", "2", "--eval-sequences", "8", "--probe-sequences", "20"]
    else:
        train_seconds = (left(deadline) - runs * TABLE1_OVERHEAD_S) / runs
        if train_seconds < TABLE1_MIN_TRAIN_S:
            note = f"{left(deadline):.0f} s left, under {runs} x ({TABLE1_OVERHEAD_S:.0f} + {TABLE1_MIN_TRAIN_S:.0f}) s"
            return {"status": "skipped", "note": note}
        argv += ["--preset", "paper", "--minutes", f"{train_seconds / 60:.3f}", "--batch-size", str(TABLE1_BATCH), "--precision", "auto"]
        argv += ["--probe-sequences", str(TABLE1_PROBE_SEQUENCES)]
    table1 = _load("table1")
    demo_settings = table1.train_config

    def train_config(*args, **options):  # the loader as measured best: Table 1 measures the model, not the data
        return dataclasses.replace(demo_settings(*args, **options), num_workers=workers)

    table1.train_config = train_config
    log = out / "table1.log"
    print(f"  python benchmarks/table1.py {shlex.join(argv)} (num_workers {workers}; output: {log})", flush=True)
    with log.open("w") as handle, contextlib.redirect_stdout(handle):
        try:
            table1.main(argv)
        except SystemExit as stop:  # its refusals exit; here they are this section's failure, not the check's end
            raise RuntimeError(f"table1.py stopped: {stop}") from None
    written = json.loads((folder / table1.JSON_FILE).read_text())
    rows = []
    for run in written["runs"]:
        row = {key: run[key] for key in ("variant", "steps", "train_seconds", "sequences_per_second")}
        row.update({f"{decoder}_bce": run.get(decoder, {}).get("bce") for decoder in ("prediction", "reconstruction")})
        row.update(paper_bce=table1.VARIANTS_BY_NAME[run["variant"]].paper_bce, probe_map=run["probe"]["trained"]["map"])
        rows.append(row)
        print(f"  {row['variant']}: {row['steps']} steps, prediction BCE {row['prediction_bce']:.1f} nats per frame", flush=True)
    baselines = {name: scores["bce"] for name, scores in written["runs"][0]["baselines"].items()}
    return {"status": "done", "argv": argv, "num_workers": workers, "runs": rows, "baselines_bce": baselines, "note": ""}


# -- the command ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto (default %(default)s)")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="budget of the whole check (default %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="a new folder: gpu_check.json, gpu_check.md, tests.log, table1/")
    parser.add_argument("--quick", action="store_true", help="tiny models, one or two steps each: the same code in seconds")
    sections = [name for name in SHARES if name != "environment"]
    parser.add_argument("--skip", nargs="+", default=[], choices=sections, metavar="SECTION", help=f"of {', '.join(sections)}")
    args = parser.parse_args(argv)
    try:
        args.device = resolve_device(args.device)
    except InvalidInputError as err:
        parser.error(str(err))
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(f"{args.out} is not an empty folder: give a new --out")
    return args


def run_section(name: str, args: argparse.Namespace, report: dict, scripts: dict, deadline: float) -> dict:
    """Run one section into ``report``; returns its status and note."""
    device, quick, out = args.device, args.quick, args.out
    if name == "environment":
        report[name] = speed.environment(device, quick)
        return {"status": "done", "note": ""}
    if name in ("throughput", "compile"):
        rows = speed.throughput(device, quick, scripts, deadline) if name == "throughput" else run_compile(out, device, quick, deadline)
        report_page.annotate(
            rows + (report.get("throughput", []) if name == "compile" else []), report["environment"]["matmul"]["tflop_per_s"]
        )
        report[name] = rows
        skipped, errors = (sum(r["status"] == kind for r in rows) for kind in ("skipped", "error"))
        return {"status": "partial" if skipped else "done", "note": f"{len(rows) - skipped} measured, {errors} errors, {skipped} skipped"}
    if name == "data":
        report[name] = speed.data(device, quick, scripts, report.get("throughput", []), deadline)
        return {"status": "partial" if report[name]["skipped"] else "done", "note": "; ".join(report[name]["skipped"])}
    if name == "tests":
        report[name] = run_tests(out, device, deadline)
    else:
        workers = report.get("data", {}).get("best_workers", TrainConfig().num_workers)
        report[name] = run_table1(out, device, quick, deadline, workers)
    return {"status": report[name]["status"], "note": report[name]["note"]}


def write_report(report: dict, out: Path) -> str:
    report["verdict"] = report_page.verdict(report)
    page = report_page.markdown(report, tests_log=TESTS_LOG)
    write_json_atomically(out / JSON_FILE, report)
    write_atomically(out / MARKDOWN_FILE, lambda handle: handle.write(page.encode()))
    return page


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    configure_for_training(args.device)  # the trainer's CPU settings (flushed denormals, memory reuse)
    budget = Budget(args.minutes * 60)
    report: dict = {
        "command": shlex.join(["python", "benchmarks/gpu_check.py", *argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": str(args.device),
        "quick": args.quick,
        "budget_s": budget.seconds,
        "sections": {},
    }
    scripts = speed.load_scripts()
    failed = False
    for name, share in SHARES.items():
        deadline = budget.next_deadline(share)
        section = report["sections"][name] = {"budget_s": max(0.0, left(deadline)), "status": "skipped", "used_s": 0.0}
        if name in args.skip or left(deadline) <= 0:
            section["note"] = "--skip" if name in args.skip else "no budget left"
            continue
        print(f"[{name}] up to {left(deadline):.0f} s", flush=True)
        started = time.monotonic()
        try:
            section.update(run_section(name, args, report, scripts, deadline))
        except Exception as err:  # noqa: BLE001 - one section's failure must not cost the others
            section.update(status="failed", note=f"{type(err).__name__}: {err}"[:300])
            report.setdefault("tracebacks", {})[name] = traceback.format_exc()[-4000:]
            print(traceback.format_exc(), file=sys.stderr, flush=True)
        failed |= section["status"] == "failed"
        section["used_s"] = time.monotonic() - started
        write_report(report, args.out)  # a check stopped from outside keeps what it measured
    print(write_report(report, args.out))
    print(f"written: {args.out / JSON_FILE} and {args.out / MARKDOWN_FILE}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
