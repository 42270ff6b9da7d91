"""Which ConvLSTM design and recipe give the best predictions for a fixed wall-clock budget on this CPU?

Each trial is the ``conv-small`` preset with its recipe (what ``videoae demo`` trains), with some
model or train settings changed. A trial is measured in two phases, so that its scores do not
depend on what else the machine was doing while it trained:

1. **rate**: short runs, nothing else running, give the training steps per second of each
   trial's step cost (the median of the logged windows after the first; evaluations and start-up
   excluded). The runs of all trials alternate in ``--rounds`` rounds and the median round counts,
   because this machine's speed drifts by 10-25% over minutes. Trials that change only the
   recipe's schedule (learning rate, warm-up, when the ground truth is withdrawn) cost what the
   preset's steps cost and share its rate, so they train for exactly as many steps;
2. **train**: the trial trains for ``rate * budget`` steps (what the budget buys on this CPU),
   then its final weights are scored on the first ``--eval-sequences`` sequences of the embedded
   test set (never trained on), beside the baselines.

A trial's settings may give ``ground_truth_decay_fraction``: the scheduled sampling's decay, as a
fraction of the trial's steps. Results are saved per trial under ``--out`` and reused, so an
interrupted search continues where it stopped (delete a trial's folder to measure it again)::

    python benchmarks/design_search.py --phase rate --rounds 3 --out /tmp/search   # quiet machine
    python benchmarks/design_search.py --phase train --out /tmp/search --budget-minutes 8
    python benchmarks/design_search.py --phase table --out /tmp/search
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from table1 import cpu_model  # benchmarks/ is the script's folder, so its own modules import
from videoae.evaluation.evaluate import evaluate
from videoae.models.checkpoint import load_model
from videoae.run_folder import LAST_CHECKPOINT
from videoae.training.loop import train
from videoae.training.periodic_eval import evaluation_videos
from videoae.training.recipes import new_run_config

PRESET = "conv-small"
RATE_STEPS = 60
CONV_P8 = {"model.patch_size": 8, "hidden_size": 96, "kernel_size": 3}  # what makes conv-small conv-p8
# name: (what changes, settings laid over the preset's recipe, as videoae.train's keywords)
TRIALS: dict[str, tuple[str, dict[str, Any]]] = {
    "demo": ("conv-small with its recipe, as the demo trains it", {}),
    "p8-h64-k3": ("8x8 patches, 64 channels, 3x3 kernels", {"model.patch_size": 8, "hidden_size": 64, "kernel_size": 3}),
    "p8-h64-k5": ("8x8 patches, 64 channels, 5x5 kernels", {"model.patch_size": 8, "hidden_size": 64, "kernel_size": 5}),
    "p8-h96-k3": ("8x8 patches, 96 channels, 3x3 kernels", CONV_P8),
    "p8-h64-k3-b8": (
        "8x8 patches, 64 channels, 3x3 kernels, batch 8",
        {"model.patch_size": 8, "hidden_size": 64, "kernel_size": 3, "batch_size": 8},
    ),
    "p8-h64-k3-cos": (
        "8x8 patches, 64 channels, 3x3 kernels, warm-up and cosine as above",
        {
            "model.patch_size": 8,
            "hidden_size": 64,
            "kernel_size": 3,
            "lr": 3e-3,
            "schedule": "cosine",
            "warmup_steps": 100,
            "min_lr_ratio": 0.05,
        },
    ),
    "h24": ("24 channels", {"hidden_size": 24}),
    "k3": ("3x3 kernels", {"kernel_size": 3}),
    "batch8": ("batch 8", {"batch_size": 8}),
    "batch32": ("batch 32, lr 3e-3", {"batch_size": 32, "lr": 3e-3}),
    "cosine": ("warm-up 100 steps, cosine to 5% of lr 3e-3", {"lr": 3e-3, "schedule": "cosine", "warmup_steps": 100, "min_lr_ratio": 0.05}),
    "decay-half": ("ground truth withdrawn over half the budget", {"ground_truth_decay_fraction": 0.5}),
    "decay-all": ("ground truth withdrawn over the whole budget", {"ground_truth_decay_fraction": 1.0}),
    "decay-200": ("ground truth withdrawn over the first 200 steps", {"ground_truth_decay_steps": 200}),
    "free-running": ("predictor fed its own output from the start", {"decoder_training_input": "free_running"}),
    "predictor-only": ("no reconstruction decoder", {"reconstruct": False}),
    "compile": ("torch.compile", {"compile": True}),
    "p8-batch8": ("conv-p8, batch 8", {**CONV_P8, "batch_size": 8}),
    "p8-predictor-only": ("conv-p8 without the reconstruction decoder", {**CONV_P8, "reconstruct": False}),
    "p8-lr3e-3": ("conv-p8, lr 3e-3", {**CONV_P8, "lr": 3e-3}),
    "p8-decay-500": ("conv-p8, ground truth withdrawn over the first 500 steps", {**CONV_P8, "ground_truth_decay_steps": 500}),
}


def run_settings(settings: dict[str, Any], steps: int) -> dict[str, Any]:
    """The trial's settings for a run of ``steps`` steps: the decay fraction made a step count."""
    settings = dict(settings)
    fraction = settings.pop("ground_truth_decay_fraction", None)
    if fraction is not None:
        settings["ground_truth_decay_steps"] = max(1, round(fraction * steps))
    return settings


# Settings that change what is learned but not what a step costs.
SCHEDULE_SETTINGS = ("lr", "schedule", "warmup_steps", "min_lr_ratio", "ground_truth_decay_steps", "ground_truth_decay_fraction")


def cost_key(name: str) -> str:
    """The settings of trial ``name`` that set a step's cost, as a short stable string."""
    settings = {key: value for key, value in TRIALS[name][1].items() if key not in SCHEDULE_SETTINGS}
    return json.dumps(settings, sort_keys=True)


def rate_run(name: str, folder: Path) -> float:
    """Steps per second of one short run of trial ``name``: the median logged window after the first."""
    settings = run_settings(TRIALS[name][1], RATE_STEPS)
    settings.update(max_steps=RATE_STEPS, log_every=10, eval_every=10 * RATE_STEPS, checkpoint_every=10 * RATE_STEPS, eval_sequences=8)
    run = new_run_config(PRESET, settings=settings)
    train(run, folder, progress=False)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return statistics.median([r["seq_per_s"] / run.train.batch_size for r in records if "seq_per_s" in r][1:])


def measure_rates(names: list[str], out: Path, rounds: int) -> dict[str, float]:
    """Steps per second of each cost among ``names``' trials, measured in alternating rounds (saved in OUT/rates.json)."""
    path = out / "rates.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    missing = list(dict.fromkeys(cost_key(name) for name in names if cost_key(name) not in saved))
    first_trial = {key: next(name for name in names if cost_key(name) == key) for key in missing}
    runs: dict[str, list[float]] = {key: [] for key in missing}
    for round_index in range(rounds if missing else 0):
        for key in missing:
            name = first_trial[key]
            runs[key].append(rate_run(name, out / "rate_runs" / f"{name}-round{round_index}"))
            print(f"  round {round_index + 1}: {name} {runs[key][-1]:.2f} steps/s", flush=True)
    for key in missing:
        saved[key] = {"steps_per_second": statistics.median(runs[key]), "rounds": runs[key], "cpu": cpu_model()}
    path.write_text(json.dumps(saved, indent=1))
    return {name: saved[cost_key(name)]["steps_per_second"] for name in names}


def train_and_score(name: str, out: Path, *, budget_minutes: float, eval_sequences: int) -> dict[str, Any]:
    """Train trial ``name`` for the steps its rate buys in the budget, then score it."""
    path = out / name / f"result-{budget_minutes:g}min.json"
    if path.is_file():
        return json.loads(path.read_text())
    rate = measure_rates([name], out, rounds=1)[name]  # measured beforehand with --phase rate, normally
    steps = max(1, round(rate * budget_minutes * 60))
    settings = run_settings(TRIALS[name][1], steps)
    # one evaluation (at the end, on few sequences): the trial is scored below on many
    settings.update(max_steps=steps, eval_every=10 * steps, eval_sequences=16)
    run = new_run_config(PRESET, settings=settings)
    run_dir = out / name / f"run-{budget_minutes:g}min"
    started = time.perf_counter()
    train(run, run_dir, resume_if_exists=True, progress=False)
    seconds = time.perf_counter() - started
    model = load_model(run_dir / LAST_CHECKPOINT)
    frames = model.config.num_input_frames + model.config.num_future_frames
    metrics = evaluate(model, evaluation_videos(eval_sequences, frames), num_input_frames=model.config.num_input_frames)
    result = {
        "trial": name,
        "steps": steps,
        "steps_per_second": rate,
        "train_seconds_here": seconds,
        "eval_sequences": eval_sequences,
        "prediction": {k: v for k, v in metrics["prediction"].items() if k != "per_frame"},
        "per_frame_ssim": metrics["prediction"]["per_frame"]["ssim"],
        "reconstruction": {k: v for k, v in metrics.get("reconstruction", {}).items() if k != "per_frame"},
        "baselines": metrics["baselines"],
        "cpu": cpu_model(),
    }
    path.write_text(json.dumps(result, indent=1))
    return result


def print_table(out: Path, budget_minutes: float) -> None:
    """The saved results as a markdown table, in TRIALS' order; "minutes" is the training time each
    trial's steps take at its cost's rate in OUT/rates.json (the alternating rounds), where known."""
    rates_path = out / "rates.json"
    rates = json.loads(rates_path.read_text()) if rates_path.is_file() else {}
    print(f"CPU: {cpu_model()}; budget {budget_minutes:g} minutes of training steps at each trial's measured rate")
    print("| trial | what changes | steps/s | steps | minutes | prediction BCE | MSE | SSIM | SSIM frames 1-5 | reconstruction BCE |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    baselines = None
    for name, (what, _) in TRIALS.items():
        path = out / name / f"result-{budget_minutes:g}min.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        baselines = r["baselines"]
        p, rec = r["prediction"], r["reconstruction"]
        rate = rates.get(cost_key(name), {}).get("steps_per_second", r["steps_per_second"])
        first5 = statistics.mean(r["per_frame_ssim"][:5])
        recon = f"{rec['bce']:.1f}" if rec else "-"
        print(
            f"| {name} | {what} | {rate:.2f} | {r['steps']:,} | {r['steps'] / rate / 60:.1f} | {p['bce']:.1f} | {p['mse']:.1f} "
            f"| {p['ssim']:.3f} | {first5:.3f} | {recon} |"
        )
    if baselines:
        shown = "; ".join(f"{name}: BCE {b['bce']:.1f}, MSE {b['mse']:.1f}, SSIM {b['ssim']:.3f}" for name, b in baselines.items())
        print(f"baselines: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", choices=("rate", "train", "table"), required=True)
    parser.add_argument("--trials", default=",".join(TRIALS), help="comma-separated trial names (default all)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-minutes", type=float, default=8.0)
    parser.add_argument("--eval-sequences", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of rate runs (default 3)")
    args = parser.parse_args()
    names = [name for name in args.trials.split(",") if name]
    unknown = [name for name in names if name not in TRIALS]
    if unknown:
        parser.error(f"unknown trial(s) {', '.join(unknown)}; known: {', '.join(TRIALS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.phase == "rate":
        for name, rate in measure_rates(names, args.out, args.rounds).items():
            print(f"{name}: {rate:.2f} steps/s", flush=True)
    for name in names if args.phase == "train" else []:
        (args.out / name).mkdir(parents=True, exist_ok=True)
        r = train_and_score(name, args.out, budget_minutes=args.budget_minutes, eval_sequences=args.eval_sequences)
        p = r["prediction"]
        print(f"{name}: {r['steps']} steps, prediction BCE {p['bce']:.1f} MSE {p['mse']:.1f} SSIM {p['ssim']:.3f}", flush=True)
    print_table(args.out, args.budget_minutes)


if __name__ == "__main__":
    main()
