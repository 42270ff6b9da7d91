"""Does unsupervised pretraining help a classifier that has few labels? (issue 22, the paper's protocol)

The task: which digit classes a Moving MNIST sequence shows (multi-label, 10 classes, scored by
macro mean average precision on held-out sequences). All sequences are drawn from the bundled
held-out "test" digits, which no shipped model and no default training run has seen; the labelled
training sequences of seed s come from stream ``TRAIN_STREAM + s``, the test sequences from
``TEST_STREAM``, so no sequence is in both (the 1,000 test digits recur, in other places and pairs).

For each checkpoint, label count and seed, four classifiers of the same head are trained with
``videoae.training.finetune`` (the library's loop: Adam, bf16 autocast where the CPU multiplies bf16
in hardware, a share of the labelled sequences held out for validation, the best validation
checkpoint kept) and scored on the test sequences:

- ``finetuned``: the checkpoint's encoder, fine-tuned with the head;
- ``frozen``: the checkpoint's encoder, frozen (the head alone learns);
- ``random``: the same architecture at random initialisation, fine-tuned;
- ``pixels``: the mean input frame's raw pixels through a head of the same shape.

The seed sets the labelled sequences, the validation split, the head's (and the random encoder's)
initial weights and the batch order. A fixed number of optimizer steps per label count bounds the
time; the spread over seeds is printed beside each mean.

    python benchmarks/finetune_labels.py --checkpoint pretrained:conv-small --checkpoint runs/small5
    python benchmarks/finetune_labels.py --quick --checkpoint pretrained:conv-small   # a smoke run, under 2 minutes

No flat-family (LSTM) checkpoint ships with videoae; train one in 5 minutes on 2 CPU cores with
``videoae train --preset small --max-minutes 5 --out runs/small5``. The default measurement of
conv-small and such a `small` model takes about 30 minutes with 2 jobs on 2 cores (28 min
estimated by ``--quick`` from its measured per-step costs, on a shared 2-core Intel Xeon with AMX
while another job ran; ``--quick`` prints the estimate for the checkpoints given). Figures only:
nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from table1 import cpu_model  # benchmarks/ is the script's folder, so its own modules import
from videoae.data.labelled_sequences import labelled_moving_mnist
from videoae.evaluation.classification import chance_score, classifier_logits, mean_average_precision
from videoae.models.checkpoint import load_model
from videoae.models.classifier import ClassifierConfig, VideoClassifier, classifier_from_autoencoder, load_classifier
from videoae.run_folder import BEST_CHECKPOINT
from videoae.training.finetune import finetune
from videoae.training.finetune_config import FinetuneConfig
from videoae.training.runtime import configure_for_training, resolve_precision

TRAIN_STREAM = 2200  # + seed: the labelled training (and validation) sequences
TEST_STREAM = 2299  # the test sequences: a stream no seed's training set uses
CONDITIONS = {
    "finetuned": "pretrained, fine-tuned",
    "frozen": "pretrained, frozen",
    "random": "random init, fine-tuned",
    "pixels": "raw pixels (mean input frame)",
}
DEFAULT_LABELS = (100, 1_000, 10_000)
# Optimizer steps per label count, sized so that conv-small and the `small` flat model together take
# about 30 minutes with 2 jobs on 2 cores (estimate printed by --quick): 100 labels see each
# training sequence about 40 times, 10,000 about once.
DEFAULT_STEPS = (100, 200, 300)
DEFAULT_TEST = 2_000
VALIDATION_FRACTION, MAX_VALIDATION = 0.2, 500  # held out of each labelled set, at most this many
EVALUATIONS = 4  # validation scores per run: the best of them is the checkpoint tested
QUICK = dict(labels=(20, 60), steps=(6, 12), test=100, seeds=2)


@dataclass(frozen=True)
class Task:
    checkpoint: str
    condition: str
    num_labels: int
    steps: int
    seed: int


def _setup(threads: int) -> None:
    torch.set_num_threads(threads)
    configure_for_training()  # scoring too runs with denormals flushed, as training does


_TEST: dict = {}  # the test sequences, made once in the parent; forked workers share them


def classifier_for(model, condition: str, options: dict) -> VideoClassifier:
    """The classifier of one condition (seed torch first: it draws the head, and a random encoder)."""
    if condition == "pixels":
        return VideoClassifier(model.config, ClassifierConfig(representation="pixels", **options))
    config = ClassifierConfig(freeze_encoder=condition == "frozen", **options)
    return classifier_from_autoencoder(model, config, init="random" if condition == "random" else "pretrained")


def run_task(task: Task, settings: dict) -> dict:
    """Train one classifier and score its best validation checkpoint on the test sequences."""
    model = load_model(task.checkpoint)
    started = time.perf_counter()
    videos, labels = labelled_moving_mnist(task.num_labels, seed=TRAIN_STREAM + task.seed, num_frames=model.config.num_input_frames)
    data_seconds = time.perf_counter() - started
    torch.manual_seed(task.seed)
    classifier = classifier_for(model, task.condition, settings["classifier"])
    fraction = min(VALIDATION_FRACTION, MAX_VALIDATION / task.num_labels)
    config = FinetuneConfig(
        max_steps=task.steps,
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        seed=task.seed,
        validation_fraction=fraction,
        eval_every=max(1, task.steps // EVALUATIONS),
        checkpoint_every=task.steps,
        log_every=task.steps,
        precision="auto",
        device="cpu",
    )
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = finetune(classifier, videos, labels, folder, config=config, progress=False)
        train_seconds = time.perf_counter() - started
        best = load_classifier(Path(folder) / BEST_CHECKPOINT)
    started = time.perf_counter()
    logits = classifier_logits(best, _TEST["videos"], bf16=resolve_precision("auto", torch.device("cpu")) == "bf16")
    test_seconds = time.perf_counter() - started
    num_evaluations = task.steps // config.eval_every + (task.steps % config.eval_every > 0)
    return {
        **asdict(task),
        "test_map": mean_average_precision(logits, _TEST["targets"]),
        "validation_map": result.best_score,
        "best_step": result.best_step,
        "num_validation": result.num_validation,
        "train_seconds": train_seconds,
        "test_seconds": test_seconds,
        "data_seconds": data_seconds,
        "num_evaluations": num_evaluations,
    }


def cost_model(results: list[dict], num_test: int) -> dict[tuple[str, str], dict]:
    """Per (checkpoint, condition): seconds per optimizer step and per scored sequence, from measured runs."""
    costs = {}
    for key in {(r["checkpoint"], r["condition"]) for r in results}:
        runs = [r for r in results if (r["checkpoint"], r["condition"]) == key]
        per_sequence = statistics.mean(r["test_seconds"] for r in runs) / num_test
        per_step = statistics.mean(
            max(0.0, r["train_seconds"] - r["num_evaluations"] * r["num_validation"] * per_sequence) / r["steps"] for r in runs
        )
        per_label = statistics.mean(r["data_seconds"] / r["num_labels"] for r in runs)
        costs[key] = {"step": per_step, "sequence": per_sequence, "label": per_label}
    return costs


def expected_seconds(costs: dict, checkpoints: list[str], labels: tuple, steps: tuple, seeds: int, num_test: int, jobs: int) -> float:
    """Wall time of the default (full-size) measurement, from the measured per-step and per-sequence costs."""
    total = 0.0
    for (checkpoint, _), cost in costs.items():
        if checkpoint not in checkpoints:
            continue
        for num_labels, num_steps in zip(labels, steps):
            validation = min(round(VALIDATION_FRACTION * num_labels), MAX_VALIDATION)
            scored = EVALUATIONS * validation + num_test
            total += seeds * (num_steps * cost["step"] + scored * cost["sequence"] + num_labels * cost["label"])
    return total / jobs


def summary(values: list[float]) -> str:
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {statistics.stdev(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def print_table(results: list[dict], checkpoint: str, labels: tuple, conditions: list[str], chance: float) -> None:
    print(f"\n**{checkpoint}**: test mAP, mean ± std (min–max) over seeds\n")
    print("| condition | " + " | ".join(f"{n:,} labels" for n in labels) + " |")
    print("| --- |" + " ---: |" * len(labels))
    for condition in conditions:
        cells = []
        for num_labels in labels:
            values = [
                r["test_map"] for r in results if (r["checkpoint"], r["condition"], r["num_labels"]) == (checkpoint, condition, num_labels)
            ]
            cells.append(summary(values) if values else "")
        print(f"| {CONDITIONS[condition]} | " + " | ".join(cells) + " |")
    print("| chance (class prevalence) | " + " | ".join(f"{chance:.3f}" for _ in labels) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint",
        action="append",
        metavar="CKPT",
        help="a run folder, checkpoint or pretrained:NAME (repeatable; default pretrained:conv-small)",
    )
    parser.add_argument(
        "--labels",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help=f"labelled sequences per training set (default {' '.join(map(str, DEFAULT_LABELS))})",
    )
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=None,
        metavar="S",
        help=f"optimizer steps for each label count (default {' '.join(map(str, DEFAULT_STEPS))})",
    )
    parser.add_argument("--test", type=int, default=None, metavar="N", help=f"test sequences (default {DEFAULT_TEST:,})")
    parser.add_argument("--seeds", type=int, default=None, metavar="K", help="seeds 0..K-1 per cell (default 3)")
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS))
    parser.add_argument(
        "--pooling",
        choices=("mean", "max", "flatten"),
        default=ClassifierConfig.pooling,
        help="ConvLSTM state pooling (default %(default)s)",
    )
    parser.add_argument("--state", choices=("all", "last_h"), default="all", help="encoder state read (default %(default)s)")
    parser.add_argument("--head-hidden", type=int, default=0, metavar="N", help="hidden ReLU units of the head (default 0: linear)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel, one process each (default %(default)s, one per core)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job (default %(default)s)")
    parser.add_argument("--json", metavar="OUT.json", help="also write every run's numbers")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (2 small label counts, 100 test sequences, 2 seeds) that also estimates the full run's time",
    )
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else dict(labels=DEFAULT_LABELS, steps=DEFAULT_STEPS, test=DEFAULT_TEST, seeds=3)
    args.checkpoint = args.checkpoint or ["pretrained:conv-small"]
    args.labels = tuple(args.labels or quick["labels"])
    args.steps = tuple(args.steps or (quick["steps"] if args.labels == quick["labels"] else DEFAULT_STEPS))
    args.test, args.seeds = args.test or quick["test"], args.seeds or quick["seeds"]
    if len(args.steps) != len(args.labels):
        parser.error(f"give one --steps value per label count ({len(args.labels)})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    frames = max(load_model(c).config.num_input_frames for c in args.checkpoint)
    _TEST["videos"], targets = labelled_moving_mnist(args.test, seed=TEST_STREAM, num_frames=frames)
    _TEST["targets"] = torch.from_numpy(targets)
    settings = {
        "batch_size": args.batch_size,
        "lr": args.lr,
        "classifier": {"pooling": args.pooling, "state": args.state, "head_hidden": args.head_hidden},
    }
    tasks = [
        Task(checkpoint, condition, num_labels, steps, seed)
        for checkpoint in args.checkpoint
        for num_labels, steps in zip(args.labels, args.steps)
        for condition in args.conditions
        for seed in range(args.seeds)
    ]
    tasks.sort(key=lambda t: (t.steps * (t.condition in ("finetuned", "random")), t.num_labels), reverse=True)  # longest first
    print(f"{len(tasks)} runs on {args.jobs} job(s) of {args.threads} thread(s); CPU: {cpu_model()}", flush=True)
    results = []
    context = multiprocessing.get_context("fork")  # the workers share the test sequences
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context, initializer=_setup, initargs=(args.threads,)) as pool:
        futures = [pool.submit(run_task, task, settings) for task in tasks]
        for future in futures:
            result = future.result()
            results.append(result)
            print(
                f"  {result['checkpoint']} {result['condition']:<9} {result['num_labels']:>6} labels seed {result['seed']}: "
                f"test mAP {result['test_map']:.3f} (validation {result['validation_map']:.3f} at step {result['best_step']}), "
                f"{result['train_seconds']:.1f} s training",
                flush=True,
            )
    elapsed = time.perf_counter() - started
    chance = chance_score(_TEST["targets"], "multi_label")
    print("\ncommand:", shlex.join([sys.executable, *(sys.argv if argv is None else [__file__, *argv])]))
    print(
        f"CPU: {cpu_model()} ({os.cpu_count()} cores), torch {torch.__version__}, precision {resolve_precision('auto', torch.device('cpu'))}"
    )
    print(
        f"task: which of 10 digit classes a 2-digit sequence shows (bundled held-out digits); {args.test:,} test sequences; "
        f"seeds 0..{args.seeds - 1}; validation {VALIDATION_FRACTION:.0%} of each labelled set (at most {MAX_VALIDATION})"
    )
    print(
        f"classifier: state {args.state}, pooling {args.pooling}, head {'linear' if not args.head_hidden else f'{args.head_hidden} ReLU units'}; "
        f"Adam lr {args.lr:g}, batch {args.batch_size}, steps {', '.join(f'{s} for {n:,}' for n, s in zip(args.labels, args.steps))} labels"
    )
    for checkpoint in args.checkpoint:
        print_table(results, checkpoint, args.labels, args.conditions, chance)
    costs = cost_model(results, args.test)
    print("\ncost per optimizer step (ms), per scored sequence (ms):")
    for (checkpoint, condition), cost in sorted(costs.items()):
        print(f"  {checkpoint} {condition}: {1000 * cost['step']:.0f}, {1000 * cost['sequence']:.2f}")
    full = expected_seconds(costs, args.checkpoint, DEFAULT_LABELS, DEFAULT_STEPS, 3, DEFAULT_TEST, args.jobs)
    print(
        f"expected full-size run (labels {DEFAULT_LABELS}, steps {DEFAULT_STEPS}, 3 seeds, {DEFAULT_TEST:,} test) with these checkpoints: {full / 60:.0f} min"
    )
    print(f"took {elapsed:.0f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"command": sys.argv, "cpu": cpu_model(), "chance": chance, "runs": results}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
