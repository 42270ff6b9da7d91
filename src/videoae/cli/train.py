"""``videoae train`` and ``videoae demo``."""

from __future__ import annotations

import argparse
import os
import time

from videoae.cli.tables import metrics_table
from videoae.errors import InvalidInputError
from videoae.run_folder import CHECKPOINTS_DIR, SAMPLES_DIR


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae train`` and ``videoae demo``."""
    train = commands.add_parser(
        "train",
        help="train a model (one process, or many with torchrun)",
        description="Train a model on Moving MNIST made on the fly (or a fixed data set), evaluate it "
        "periodically on the embedded test set, and write config, metrics, checkpoints and sample GIFs "
        "into the run folder. Under torchrun the same command trains with DDP.",
    )
    train.add_argument("--preset", default=None, help="model preset: paper, seed, small (default), tiny")
    train.add_argument("--config", metavar="FILE", help="a .json/.yaml file with 'model' and 'train' sections")
    train.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one setting, e.g. --set lr=3e-4 --set model.hidden_size=1024 (repeatable)",
    )
    train.add_argument("--out", metavar="RUN", help="run folder to create")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    train.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps in all")
    train.add_argument("--max-minutes", type=float, metavar="M", help="stop (and save) after M minutes of training")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_run_train)

    demo = commands.add_parser(
        "demo",
        help="train the small model on the bundled digits for a few minutes, then show what it learned",
        description="The one-command tour: trains the 'small' preset offline on the bundled MNIST digits "
        "for a bounded time, evaluates it on the embedded test set beside two baselines, and writes "
        "GIFs (input | truth | reconstruction | prediction) and plots into the run folder.",
    )
    demo.add_argument("--out", metavar="RUN", help="run folder (default runs/demo-DATE-TIME)")
    demo.add_argument("--minutes", type=float, default=None, metavar="M", help="training time (default 8)")
    demo.add_argument("--eval-sequences", type=int, default=None, metavar="N", help="test sequences scored at the end (default 1000)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=_run_demo)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _run_config_from_args(args: argparse.Namespace):
    from videoae.training.config import RunConfig, load_config_file
    from videoae.training.loop import read_run_config

    if args.resume:
        if args.out or args.config or args.preset or args.assignments:
            raise InvalidInputError("--resume continues a run with its own config: drop --out, --config, --preset and --set")
        run = read_run_config(args.resume)
    else:
        if not args.out:
            raise InvalidInputError("give the run folder to create with --out RUN (or --resume RUN)")
        data = load_config_file(args.config) if args.config else {}
        if args.preset:
            data["model"] = args.preset
        run = RunConfig.from_dict(data).with_overrides(args.assignments)
    limits = []
    if args.max_steps is not None:
        limits.append(f"train.max_steps={args.max_steps}")
    if args.max_minutes is not None:
        limits.append(f"train.max_minutes={args.max_minutes}")
    return run.with_overrides(limits)


def _run_train(args: argparse.Namespace) -> int:
    from videoae.training.loop import train

    run = _run_config_from_args(args)
    run_dir = args.resume or args.out
    result = train(run, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    if _is_main_process():
        print(f"trained {result.run_dir} to step {result.step} (stopped by {result.stop_reason})")
        if result.last_eval is not None:
            print(metrics_table(result.last_eval, run.model.frame_shape[1:]))
        print(f"checkpoints: {result.run_dir / CHECKPOINTS_DIR}   samples: {result.run_dir / SAMPLES_DIR}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from videoae.cli.demo import DEMO_EVAL_SEQUENCES, DEMO_MINUTES, demo_config, run_demo

    out = args.out or os.path.join("runs", time.strftime("demo-%Y%m%d-%H%M%S"))
    minutes = DEMO_MINUTES if args.minutes is None else args.minutes
    if minutes <= 0:
        raise InvalidInputError(f"--minutes must be positive, got {minutes}")
    sequences = DEMO_EVAL_SEQUENCES if args.eval_sequences is None else args.eval_sequences
    if sequences < 1:
        raise InvalidInputError(f"--eval-sequences must be at least 1, got {sequences}")
    if _is_main_process():
        print(f"videoae demo: training the 'small' model for up to {minutes:g} minutes into {out}")
    result = run_demo(out, minutes=minutes, eval_sequences=sequences, progress=not args.no_progress)
    if _is_main_process():
        print(f"trained {result.steps} steps; scored on {sequences} embedded test sequences (never trained on):")
        print(metrics_table(result.metrics, demo_config(minutes).model.frame_shape[1:]))
        print("files:")
        for name, path in result.files.items():
            print(f"  {name:<20} {path}")
    return 0
