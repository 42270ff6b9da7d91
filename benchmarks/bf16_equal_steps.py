"""Does bf16 autocast train conv-small as well as fp32, step for step? And how much faster is it here?

Trains ``conv-small`` with its recipe (the demo's) for the same number of steps in fp32 and in
bf16, for each seed; runs of one seed see the same batches in the same order, so their losses at
equal steps compare directly. Prints, per run, the steps per second and the mean training loss of
each window of steps, then the bf16 - fp32 difference of each seed beside the fp32 seed-to-seed
spread (the noise a precision must stay within)::

    python benchmarks/bf16_equal_steps.py --steps 300 --seeds 0 1 --out /tmp/bf16
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from table1 import cpu_model  # benchmarks/ is the script's folder, so its own modules import
from videoae.training.loop import train
from videoae.training.recipes import new_run_config
from videoae.training.runtime import cpu_has_bf16_hardware

WINDOW = 100  # steps per loss mean


def run_once(out: Path, *, precision: str, seed: int, steps: int) -> tuple[float, list[float]]:
    """(steps per second, mean training loss of each window of WINDOW steps) of one run."""
    settings = {"precision": precision, "seed": seed, "max_steps": steps, "log_every": 10, "eval_every": 10 * steps}
    settings.update(checkpoint_every=10 * steps, eval_sequences=8)
    run = new_run_config("conv-small", settings=settings)
    started = time.perf_counter()
    train(run, out, progress=False)
    elapsed = time.perf_counter() - started
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [(r["step"], r["loss"]) for r in records if "loss" in r]
    windows = [statistics.mean(loss for step, loss in losses if w < step <= w + WINDOW) for w in range(0, steps, WINDOW)]
    return steps / elapsed, windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, required=True, help="a folder for the runs (must not hold them yet)")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}; bf16 multiply instructions (AMX or AVX-512 BF16): {cpu_has_bf16_hardware()}")
    results: dict[tuple[str, int], tuple[float, list[float]]] = {}
    for seed in args.seeds:
        for precision in ("fp32", "bf16"):
            results[precision, seed] = run_once(args.out / f"{precision}_seed{seed}", precision=precision, seed=seed, steps=args.steps)
            rate, windows = results[precision, seed]
            print(f"{precision} seed {seed}: {rate:.2f} steps/s; loss by {WINDOW} steps: {', '.join(f'{w:.1f}' for w in windows)}")
    speedups = [results["bf16", s][0] / results["fp32", s][0] for s in args.seeds]
    print(f"bf16 / fp32 steps per second: {', '.join(f'{x:.2f}x' for x in speedups)}")
    fp32 = [results["fp32", s][1] for s in args.seeds]
    for index in range(len(fp32[0])):
        spread = max(run[index] for run in fp32) - min(run[index] for run in fp32)
        gaps = [results["bf16", s][1][index] - results["fp32", s][1][index] for s in args.seeds]
        print(
            f"steps {index * WINDOW + 1}-{(index + 1) * WINDOW}: bf16 - fp32 per seed {', '.join(f'{g:+.1f}' for g in gaps)}; "
            f"fp32 seed-to-seed spread {spread:.1f}"
        )


if __name__ == "__main__":
    main()
