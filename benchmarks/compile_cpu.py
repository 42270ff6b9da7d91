"""Does ``torch.compile`` pay for training the demo's model on this CPU, in fp32 and in bf16?

Trains ``conv-p8`` with its recipe (the demo's) for the same steps and seed four ways: eager and
compiled, each in fp32 and in bf16 autocast. Runs of one precision see the same batches in the
same order, so a compiled run's losses should follow the eager run's. Prints, per run, the steps
per second (the median logged window after the first), the start-up time beyond that rate's steps
(the compilation, for a compiled run), the losses logged, and whether training diverged::

    python benchmarks/compile_cpu.py --steps 100 --out /tmp/compile
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from table1 import cpu_model  # benchmarks/ is the script's folder, so its own modules import
from videoae.training.loop import TrainingDiverged, train
from videoae.training.recipes import new_run_config
from videoae.training.runtime import cpu_has_bf16_hardware

LOG_EVERY = 10
WAYS = {"eager fp32": ("fp32", False), "compiled fp32": ("fp32", True), "eager bf16": ("bf16", False), "compiled bf16": ("bf16", True)}


def run_once(folder: Path, *, precision: str, compiled: bool, steps: int) -> str:
    """One run's line: start-up, rate and losses, or the step at which it diverged."""
    settings = {"precision": precision, "compile": compiled, "max_steps": steps, "log_every": LOG_EVERY}
    settings.update(eval_every=10 * steps, checkpoint_every=10 * steps, eval_sequences=8)
    run = new_run_config("conv-p8", settings=settings)
    started = time.perf_counter()
    outcome = ""
    try:
        train(run, folder, progress=False)
    except TrainingDiverged as err:
        outcome = f"; DIVERGED: {err}"
    elapsed = time.perf_counter() - started
    log = folder / "metrics.jsonl"  # written from the first finite logged window on
    lines = log.read_text().splitlines() if log.is_file() else []
    logged = [r for r in map(json.loads, lines) if "loss" in r]
    rates = [r["seq_per_s"] / run.train.batch_size for r in logged[1:]]  # the first window holds the start-up
    if not rates:
        return f"{len(logged)} windows logged in {elapsed:.0f} s{outcome}"
    rate = statistics.median(rates)
    losses = ", ".join(f"{r['loss']:.0f}" for r in logged)
    start_up = elapsed - logged[-1]["step"] / rate
    return f"{rate:.2f} steps/s; start-up and compilation about {start_up:.0f} s; loss every {LOG_EVERY} steps: {losses}{outcome}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True, help="a folder for the runs (must not hold them yet)")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}; bf16 multiply instructions (AMX or AVX-512 BF16): {cpu_has_bf16_hardware()}")
    for name, (precision, compiled) in WAYS.items():
        line = run_once(args.out / name.replace(" ", "_"), precision=precision, compiled=compiled, steps=args.steps)
        print(f"{name}: {line}", flush=True)


if __name__ == "__main__":
    main()
