"""``videoae demo``: train the demo's model offline for a few minutes (or load the one that ships
with videoae), then show what it learned: scores beside the baselines, GIFs, a strip and plots."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from videoae.atomic import write_json_atomically
from videoae.cli.progress import progress
from videoae.cli.tables import metrics_table
from videoae.errors import InvalidInputError
from videoae.evaluation.evaluate import baseline_verdict, evaluate
from videoae.evaluation.predict import predict_videos
from videoae.models import CompositeModel, preset
from videoae.models.checkpoint import PRETRAINED_PREFIX, load_model, pretrained_names, resolve_checkpoint_path
from videoae.models.cores import grid_size, is_spatial
from videoae.run_folder import (
    BEST_CHECKPOINT,
    CURVES_FILE,
    DEMO_SAMPLES_GIF,
    DEMO_SAMPLES_PNG,
    EVAL_FILE,
    PER_FRAME_FILE,
    read_metrics,
)
from videoae.training.config import RunConfig, TrainConfig
from videoae.training.loop import train
from videoae.training.periodic_eval import evaluation_videos
from videoae.training.recipes import recipe_settings
from videoae.validation import check_int

DEMO_PRESET = "conv-p8"  # the best predictions per CPU-minute of the design search (docs/models.md)
SHIPPED_MODEL = "conv-p8"  # what --pretrained shows: the best model that ships with videoae (docs/training.md)
FLAT_DEMO_PRESET = "small"  # the paper's flat LSTM, with --preset small
WHY_THIS_MODEL = (
    "a ConvLSTM composite model keeps each digit's shape on a grid, so it draws recognisable digits "
    "within minutes on a CPU, where the paper's flat LSTMs still draw blobs after an hour (docs/models.md)"
)
DEMO_MINUTES = 8.0  # leaves room for start-up and the final evaluation within 10 minutes
DEMO_EVAL_SEQUENCES = 1000
NUM_GIF_SEQUENCES = 4
DEMO_MAX_STEPS = 1_000_000  # the time limit ends the demo


@dataclass
class DemoResult:
    """What the demo made: the run folder, its steps, final metrics and the files to look at."""

    run_dir: Path
    steps: int
    metrics: dict
    frame_size: tuple[int, int]
    files: dict[str, Path] = field(default_factory=dict)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae demo``."""
    demo = commands.add_parser(
        "demo",
        help="train a model on the bundled digits for a few minutes (or load the shipped one), then show what it learned",
        description=f"The one-command tour: trains the '{DEMO_PRESET}' preset offline on the bundled MNIST digits "
        "for a bounded time, evaluates it on the embedded test set beside three baselines, and writes "
        "GIFs (input | truth | reconstruction | prediction) and plots into the run folder. "
        "With --pretrained it skips training and shows the model that ships with videoae.",
    )
    demo.add_argument("--out", metavar="RUN", help="run folder (default runs/demo-DATE-TIME)")
    demo.add_argument(
        "--preset", default=None, metavar="NAME", help=f"model to train (default {DEMO_PRESET}; 'small' is the paper's flat LSTM)"
    )
    demo.add_argument("--minutes", type=float, default=None, metavar="M", help=f"training time (default {DEMO_MINUTES:g})")
    demo.add_argument(
        "--eval-sequences", type=int, default=None, metavar="N", help=f"test sequences scored at the end (default {DEMO_EVAL_SEQUENCES})"
    )
    demo.add_argument(
        "--pretrained",
        nargs="?",
        const=SHIPPED_MODEL,
        default=None,
        metavar="NAME",
        help=f"show a model that ships with videoae instead of training (default {SHIPPED_MODEL})",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(run=_run_demo)


def demo_config(minutes: float, model_preset: str = DEMO_PRESET) -> RunConfig:
    """The demo's run config: ``model_preset`` on the bundled digits with its recipe, time-limited.

    A preset without a measured recipe trains with that of the demo model of its family.
    """
    model = preset(model_preset)
    settings = recipe_settings(model_preset) or recipe_settings(DEMO_PRESET if is_spatial(model) else FLAT_DEMO_PRESET)
    return RunConfig(model=model, train=TrainConfig(**{**settings, "max_steps": DEMO_MAX_STEPS, "max_minutes": minutes}))


def show(model: CompositeModel, run_dir: Path, *, eval_sequences: int, checkpoint: Path, title: str) -> DemoResult:
    """Score ``model`` on the embedded test set and draw it into ``run_dir``."""
    from videoae.reporting import plot_per_frame, plot_training_curves, save_comparison_gif, save_comparison_png

    config = model.config
    videos = evaluation_videos(eval_sequences, config.num_input_frames + config.num_future_frames)
    with progress(len(videos), "scoring the embedded test set", "seq") as on_progress:
        metrics = evaluate(
            model, videos, num_input_frames=config.num_input_frames, num_future=config.num_future_frames, on_progress=on_progress
        )
    files = {"metrics (JSON)": write_json_atomically(run_dir / EVAL_FILE, {**metrics, "checkpoint": str(checkpoint)})}
    if (run_dir / BEST_CHECKPOINT).is_file():
        files["training curves"] = plot_training_curves(read_metrics(run_dir), run_dir / CURVES_FILE, title=title)
    if "prediction" in metrics:
        files["per-frame scores"] = plot_per_frame(metrics, run_dir / PER_FRAME_FILE, title="Prediction quality per future frame")
    panels = predict_videos(model, videos[:NUM_GIF_SEQUENCES]).panels()
    files["samples (GIF)"] = save_comparison_gif(run_dir / DEMO_SAMPLES_GIF, **panels)
    first = {name: None if frames is None else frames[:1] for name, frames in panels.items()}
    files["samples (PNG)"] = save_comparison_png(run_dir / DEMO_SAMPLES_PNG, **first)
    files["checkpoint"] = checkpoint
    return DemoResult(run_dir=run_dir, steps=0, metrics=metrics, frame_size=tuple(config.frame_shape[1:]), files=files)


def run_demo(
    out: str | Path,
    *,
    minutes: float = DEMO_MINUTES,
    model_preset: str = DEMO_PRESET,
    eval_sequences: int = DEMO_EVAL_SEQUENCES,
    progress: bool = True,
) -> DemoResult:
    """Train, evaluate on the embedded test set and draw the pictures; returns what was made."""
    run_dir = Path(out)
    trained = train(demo_config(minutes, model_preset), run_dir, progress=progress)
    checkpoint = run_dir / BEST_CHECKPOINT
    result = show(
        load_model(checkpoint), run_dir, eval_sequences=eval_sequences, checkpoint=checkpoint, title=f"videoae demo: {model_preset}"
    )
    result.steps = trained.step
    return result


def show_pretrained(out: str | Path, *, name: str = SHIPPED_MODEL, eval_sequences: int = DEMO_EVAL_SEQUENCES) -> DemoResult:
    """Evaluate and draw a model that ships with videoae, in seconds."""
    checkpoint = resolve_checkpoint_path(PRETRAINED_PREFIX + name)
    return show(load_model(checkpoint), Path(out), eval_sequences=eval_sequences, checkpoint=checkpoint, title=f"pretrained {name}")


def _describe(model_preset: str) -> str:
    config = preset(model_preset)
    if is_spatial(config):
        height, width = grid_size(config)
        return (
            f"a ConvLSTM composite model, {config.num_layers} layer(s) of {config.hidden_size} channels "
            f"on a {height}x{width} grid of {config.patch_size}x{config.patch_size} patches"
        )
    return f"an LSTM composite model, {config.num_layers} layer(s) of {config.hidden_size} units"


def _run_demo(args: argparse.Namespace) -> int:
    out = args.out or os.path.join("runs", time.strftime("demo-%Y%m%d-%H%M%S"))
    sequences = check_int("--eval-sequences", DEMO_EVAL_SEQUENCES if args.eval_sequences is None else args.eval_sequences, 1)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if args.pretrained is not None:
        if args.preset or args.minutes is not None:
            raise InvalidInputError("--pretrained shows a shipped model without training: drop --preset and --minutes")
        if args.pretrained not in pretrained_names():
            raise InvalidInputError(f"no pretrained model named {args.pretrained!r}; shipped: {', '.join(pretrained_names()) or 'none'}")
        print(f"videoae demo: the pretrained {args.pretrained!r} ({_describe(args.pretrained)}), scored on {sequences} test sequences")
        result = show_pretrained(out, name=args.pretrained, eval_sequences=sequences)
    else:
        model_preset = args.preset or DEMO_PRESET
        preset(model_preset)  # an unknown name fails here, with the list of presets
        minutes = DEMO_MINUTES if args.minutes is None else args.minutes
        if minutes <= 0:
            raise InvalidInputError(f"--minutes must be positive, got {minutes}")
        if main_process:
            print(f"videoae demo: training {model_preset!r} ({_describe(model_preset)}) for up to {minutes:g} minutes into {out}")
            if model_preset == DEMO_PRESET:
                print(f"why this model: {WHY_THIS_MODEL}; --preset small trains the paper's flat LSTM instead")
        result = run_demo(out, minutes=minutes, model_preset=model_preset, eval_sequences=sequences, progress=not args.no_progress)
    if not main_process:
        return 0
    if result.steps:
        print(f"trained {result.steps} steps; scored on {sequences} embedded test sequences (never trained on):")
    print(metrics_table(result.metrics, result.frame_size, verdict=False))  # the verdict closes the output
    print("files:")
    for name, path in result.files.items():
        print(f"  {name:<20} {path}")
    run = result.run_dir
    source = run if args.pretrained is None else f"{PRETRAINED_PREFIX}{args.pretrained}"
    print("next:")
    if args.pretrained is None:
        print(f"  train longer:           videoae train --resume {run} --max-minutes 30")
    else:
        print(f"  train your own:         videoae demo --minutes 10 --out {run}-trained")
    print(f"  evaluate (10,000 seqs): videoae eval {source} --json {Path(run) / 'eval_full.json'}")
    print(f"  predict your video:     videoae predict {source} my_video.gif -o predictions/")
    for line in baseline_verdict(result.metrics):
        print(line)
    return 0
