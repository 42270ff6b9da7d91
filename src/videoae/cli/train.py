"""``videoae train``."""

from __future__ import annotations

import argparse
from pathlib import Path

from videoae.cli.paths import check_path_names
from videoae.cli.tables import metrics_table
from videoae.errors import InvalidInputError
from videoae.progress import PLAIN_INTERVAL_SECONDS
from videoae.run_folder import CHECKPOINTS_DIR, SAMPLES_DIR


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae train``."""
    train = commands.add_parser(
        "train",
        help="train a model (one process, or many with torchrun)",
        description="Train a model on Moving MNIST made on the fly (or a fixed data set), evaluate it "
        "periodically on the embedded test set, and write config, metrics, checkpoints and sample GIFs "
        "into the run folder. Under torchrun the same command trains with DDP.",
    )
    train.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="model preset: paper, seed, small (default), tiny, conv-small, conv-p8, conv-openstl; small, conv-small and conv-p8 also bring "
        "the training recipe they were measured with (batch, lr, precision, schedule, steps; docs/training.md), "
        "beneath --config and --set",
    )
    train.add_argument("--config", metavar="FILE", help="a .json/.yaml file with 'model' and 'train' sections")
    train.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one setting, e.g. --set lr=3e-4 --set model.hidden_size=1024 (repeatable); train on your own videos "
        "with --set data=PATH (.npy/.npz, GIF, folder of frames; a 4-D array is (T, N, H, W) unless --set layout=NTHW), "
        "e.g. from `videoae data generate`; start from trained weights instead of random ones with --set init_from=CKPT "
        "(a checkpoint, a run folder or pretrained:NAME, e.g. --preset conv-p8 --set init_from=pretrained:conv-p8)",
    )
    train.add_argument("--out", metavar="RUN", help="run folder to create")
    train.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    train.add_argument(
        "--resume-if-exists",
        action="store_true",
        help="with --out: start the run if the folder holds none, else continue it (it must be the same configuration); "
        "the form for requeued cluster jobs and torchrun --max-restarts",
    )
    train.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps in all")
    train.add_argument("--max-minutes", type=float, metavar="M", help="stop (and save) after M minutes of training")
    train.add_argument(
        "--no-progress",
        action="store_true",
        help=f"no progress (a bar on a terminal; in a log, a plain line every {PLAIN_INTERVAL_SECONDS:.0f} s)",
    )
    train.set_defaults(run=_run_train)


def _run_config_from_args(args: argparse.Namespace):
    from videoae.training.config import load_config_file, read_run_config
    from videoae.training.recipes import new_run_config

    if args.resume:
        options = {"--out": args.out, "--config": args.config, "--preset": args.preset, "--set": args.assignments}
        given = [name for name, value in options.items() if value] + ["--resume-if-exists"] * args.resume_if_exists
        if given:
            raise InvalidInputError(
                f"--resume continues a run with its own config, so it takes no {', '.join(given)}; "
                "to give the whole command every time (a requeued job), use --out RUN --resume-if-exists instead"
            )
        run = read_run_config(args.resume)
    else:
        if not args.out:
            raise InvalidInputError("give the run folder to create with --out RUN (or --resume RUN)")
        data = load_config_file(args.config) if args.config else {}
        # a new run only: a resumed one keeps its saved config, recipe and all
        run = new_run_config(args.preset or None, config=data, assignments=args.assignments)
    limits = []
    if args.max_steps is not None:
        limits.append(f"train.max_steps={args.max_steps}")
    if args.max_minutes is not None:
        limits.append(f"train.max_minutes={args.max_minutes}")
    return run.with_overrides(limits)


def _run_train(args: argparse.Namespace) -> int:
    from videoae.training.distributed import process_place
    from videoae.training.loop import train

    is_main = process_place().rank == 0  # checked first: a stray RANK must not silence the command
    run = _run_config_from_args(args)
    run_dir = args.resume or args.out
    check_path_names(Path(run_dir), "--resume" if args.resume else "--out")  # a symlink loop is not "File exists"
    if not args.resume and is_main:
        from videoae.training.recipes import expected_duration

        print(f"expected: {expected_duration(run.model, run.train)}")
    result = train(run, run_dir, resume=bool(args.resume), resume_if_exists=args.resume_if_exists, progress=not args.no_progress)
    if is_main:
        print(f"trained {result.run_dir} to step {result.step} (stopped by {result.stop_reason})")
        if result.last_eval is not None:
            print(metrics_table(result.last_eval, run.model.frame_shape[1:]))
        print(f"checkpoints: {result.run_dir / CHECKPOINTS_DIR}   samples: {result.run_dir / SAMPLES_DIR}")
    return 0
