"""``videoae finetune``: a classifier on a trained encoder, trained on labelled videos."""

from __future__ import annotations

import argparse
from pathlib import Path

from videoae.cli.evaluate import CHECKPOINT_HELP, DATA_HELP, LAYOUT_HELP, read_evaluation_data
from videoae.cli.paths import check_path_names
from videoae.errors import InvalidInputError
from videoae.run_folder import started_run_files
from videoae.validation import check_int

LABELS_HELP = (
    "one label per video, in the videos' order: .npy of (N,) integer classes or (N, K) multi-hot 0/1 (several classes per "
    "video, e.g. from `videoae data generate --labels-out`), or .csv/.txt with one integer class or class name per line"
)
# The options a resumed run takes from its config.json, and so refuses on the command line.
NEW_RUN_OPTIONS = (
    "checkpoint", "data", "labels", "out", "init", "freeze", "representation", "state", "pooling", "head_hidden", "lr", "batch_size",
    "seed", "validation_fraction", "patience", "eval_every", "num_sequences", "layout", "resize",
)  # fmt: skip


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae finetune``."""
    parser = commands.add_parser(
        "finetune",
        help="train a classifier on a trained encoder with labelled videos (fine-tuned or frozen), or on raw pixels",
        description="Build a classifier on a trained model's encoder (its final state after the input frames, pooled, "
        "then a small head), train it on your labelled videos, and write config, metrics and checkpoints into a run "
        "folder. A share of the videos (--validation-fraction) is held out to choose the best checkpoint; its score "
        "(mean average precision for several classes per video, accuracy for one) is printed at the end.",
    )
    parser.add_argument("checkpoint", nargs="?", metavar="CKPT", help=CHECKPOINT_HELP + ", or pretrained:NAME")
    parser.add_argument("--data", metavar="VIDEOS", help=DATA_HELP)
    parser.add_argument("--labels", metavar="FILE", help=LABELS_HELP)
    parser.add_argument("--out", metavar="RUN", help="run folder to create")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint (its own settings)")
    parser.add_argument(
        "--init",
        choices=("pretrained", "random"),
        help="the encoder's weights: the checkpoint's (pretrained, the default) or the same architecture at random init",
    )
    parser.add_argument("--freeze", action="store_true", help="keep the encoder's weights fixed; train the head only")
    parser.add_argument(
        "--representation",
        choices=("encoder", "pixels"),
        help="what the head reads: the encoder's state (default), or the mean input frame's raw pixels (a baseline; "
        "the checkpoint then only gives the frame size and the number of input frames)",
    )
    parser.add_argument(
        "--state", choices=("all", "last_h"), help="the encoder's final h and c of every layer (all, default) or the top layer's h"
    )
    parser.add_argument(
        "--pooling",
        choices=("mean", "max", "flatten"),
        help="ConvLSTM maps: no pooling (flatten, the default and the best measured), or the average or maximum per channel over "
        "the grid; flat LSTM states are not pooled",
    )
    parser.add_argument(
        "--head-hidden", type=int, metavar="N", help="one hidden layer of N ReLU units before the output (default 0: linear)"
    )
    parser.add_argument("--steps", type=int, metavar="N", help="optimizer steps in all (default 300)")
    parser.add_argument("--lr", type=float, metavar="LR", help="learning rate (default 1e-3)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="labelled videos per step (default 32)")
    parser.add_argument(
        "--seed", type=int, metavar="S", help="head initialisation, random init, data order and validation split (default 0)"
    )
    parser.add_argument("--validation-fraction", type=float, metavar="F", help="share of the videos held out for validation (default 0.2)")
    parser.add_argument("--patience", type=int, metavar="N", help="stop after N validations without a better score (default 0: never)")
    parser.add_argument("--eval-every", type=int, metavar="N", help="steps between validations (default 50)")
    parser.add_argument("--num-sequences", type=int, metavar="N", help="use the first N videos (default all)")
    parser.add_argument("--layout", choices=("TNHW", "NTHW"), default=None, help=LAYOUT_HELP)
    parser.add_argument("--resize", action="store_true", help="resize a file's frames to the model's frame size")
    parser.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    parser.set_defaults(run=_run_finetune, num_digits=None)


def _settings(args: argparse.Namespace) -> dict:
    """The finetune config's settings given on the command line."""
    named = {
        "max_steps": args.steps,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "validation_fraction": args.validation_fraction,
        "patience": args.patience,
        "eval_every": args.eval_every,
    }
    settings = {key: value for key, value in named.items() if value is not None}
    settings["device"] = args.device
    return settings


def _classifier_config(args: argparse.Namespace, labels):
    from videoae.models.classifier import ClassifierConfig

    options = {"representation": args.representation, "state": args.state, "pooling": args.pooling, "head_hidden": args.head_hidden}
    options = {key: value for key, value in options.items() if value is not None}
    if options.get("representation") == "pixels" and (args.freeze or args.init):
        raise InvalidInputError("--representation pixels reads no encoder: drop --freeze and --init")
    return ClassifierConfig(num_classes=labels.num_classes, task=labels.task, freeze_encoder=args.freeze, **options)


def _read_data(args: argparse.Namespace, model_config):
    """The videos (N, T, [C,] H, W) and their checked labels; with --num-sequences the first N of both."""
    from videoae.data.labels import Labels, check_labels, read_labels

    if not args.data or not args.labels:
        raise InvalidInputError("give the labelled videos with --data VIDEOS and their labels with --labels FILE")
    size = tuple(model_config.frame_shape[1:])
    # all of them: the labels file labels every video, whatever share of them is used
    data = read_evaluation_data(
        argparse.Namespace(**{**vars(args), "num_sequences": None}), size, model_config.num_input_frames, model_config.frame_shape[0]
    )
    if data.num_frames < model_config.num_input_frames:
        raise InvalidInputError(
            f"{args.data} has {data.num_frames} frames per video but the encoder reads {model_config.num_input_frames}; give longer videos"
        )
    labels = read_labels(args.labels, data.num_sequences)
    count = data.num_sequences if args.num_sequences is None else args.num_sequences
    if count > data.num_sequences:
        raise InvalidInputError(f"--num-sequences {count}: {args.data} holds {data.num_sequences} videos; ask for at most that many")
    if count < data.num_sequences:
        first = check_labels(labels.targets[:count], count, f"the first {count} labels of {args.labels}", num_classes=labels.num_classes)
        labels = Labels(first.targets, first.task, labels.num_classes, labels.class_names)
    return data.load(0, count), labels


def _new_run(args: argparse.Namespace):
    import torch

    from videoae.models.checkpoint import load_model, resolve_checkpoint_path
    from videoae.models.classifier import VideoClassifier, classifier_from_autoencoder
    from videoae.training.finetune_config import FinetuneConfig

    if not args.checkpoint or not args.out:
        raise InvalidInputError(
            "give the trained model (CKPT: a run folder, a checkpoint or pretrained:NAME) and the run folder to create with --out RUN"
        )
    if started_run_files(Path(args.out)):  # before the data is read: that can take a while
        raise InvalidInputError(f"{args.out} already holds a run; resume it with --resume {args.out}, or choose another --out")
    config = FinetuneConfig(**_settings(args))
    model = load_model(resolve_checkpoint_path(args.checkpoint))
    videos, labels = _read_data(args, model.config)
    classifier_config = _classifier_config(args, labels)
    torch.manual_seed(config.seed)  # the head's (and a random encoder's) initial weights
    if classifier_config.representation == "pixels":
        classifier = VideoClassifier(model.config, classifier_config)
    else:
        classifier = classifier_from_autoencoder(model, classifier_config, init=args.init or "pretrained")
    data = {
        "autoencoder": str(args.checkpoint),
        "init": None if classifier_config.representation == "pixels" else args.init or "pretrained",
        "videos": _where(args.data),
        "labels": _where(args.labels),
        "layout": args.layout,
        "resize": args.resize,
        "num_sequences": args.num_sequences,
        "class_names": list(labels.class_names) if labels.class_names else None,
    }
    return classifier, videos, labels, config, data, Path(args.out)


def _where(path: str) -> str:
    """A file as the run's config records it: absolute, so that --resume finds it from any folder."""
    return str(Path(path).absolute()) if Path(path).exists() else path


def _resumed_run(args: argparse.Namespace):
    from videoae.models.classifier import VideoClassifier
    from videoae.training.finetune_config import FinetuneConfig, read_finetune_config

    given = [f"--{name.replace('_', '-')}" for name in NEW_RUN_OPTIONS if getattr(args, name) not in (None, False)]
    if given:
        raise InvalidInputError(f"--resume continues a run with its own settings, so it takes no {', '.join(given)} (only --steps)")
    saved = read_finetune_config(args.resume)
    data = saved.data
    for key in ("videos", "labels"):
        if not isinstance(data.get(key), str):
            raise InvalidInputError(f"{args.resume}: its config names no {key} file (a run started from Python); resume it from Python")
    args.data, args.labels, args.layout, args.resize = data["videos"], data["labels"], data.get("layout"), bool(data.get("resize"))
    args.num_sequences = data.get("num_sequences")
    videos, labels = _read_data(args, saved.model)
    config = saved.finetune if args.steps is None else FinetuneConfig(**{**saved.finetune.to_dict(), "max_steps": args.steps})
    classifier = VideoClassifier(saved.model, saved.classifier)  # its weights come from the last checkpoint
    return classifier, videos, labels, config, data, Path(args.resume)


def _run_finetune(args: argparse.Namespace) -> int:
    from videoae.training.finetune import finetune

    for name in ("steps", "batch_size", "num_sequences", "eval_every"):
        if getattr(args, name) is not None:
            check_int(f"--{name.replace('_', '-')}", getattr(args, name), 1)
    if args.resume:
        check_path_names(Path(args.resume), "--resume")
        classifier, videos, labels, config, data, run_dir = _resumed_run(args)
    else:
        if args.out:
            check_path_names(Path(args.out), "--out")
        classifier, videos, labels, config, data, run_dir = _new_run(args)
    result = finetune(
        classifier, videos, labels, run_dir, config=config, data=data, resume=bool(args.resume), progress=not args.no_progress
    )
    name = {"map": "mean average precision", "accuracy": "accuracy"}[result.score_name]
    print(f"fine-tuned {result.run_dir} to step {result.step} (stopped by {result.stop_reason.replace('_', ' ')})")
    print(
        f"held-out {name} on {result.num_validation} validation videos: best {result.best_score:.3f} at step {result.best_step} "
        f"(checkpoints/best.safetensors), last {result.last_eval[result.score_name]:.3f}; chance {result.chance:.3f}"
    )
    return 0
