"""``videoae demo``: train the small model offline for a few minutes, then show what it learned."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from videoae.atomic import write_json_atomically
from videoae.evaluation.evaluate import evaluate
from videoae.evaluation.predict import predict_videos
from videoae.models import preset
from videoae.models.checkpoint import load_model
from videoae.run_folder import BEST_CHECKPOINT, CURVES_FILE, DEMO_SAMPLES_GIF, DEMO_SAMPLES_PNG, EVAL_FILE, PER_FRAME_FILE, read_metrics
from videoae.training.config import RunConfig, TrainConfig
from videoae.training.loop import train
from videoae.training.periodic_eval import evaluation_videos

DEMO_MINUTES = 8.0  # leaves room for start-up and the final evaluation within 10 minutes
DEMO_EVAL_SEQUENCES = 1000
NUM_GIF_SEQUENCES = 4
# Training settings of the demo: the best of those measured on 2 CPU cores (docs/models.md).
DEMO_TRAIN = dict(
    batch_size=16,
    optimizer="adam",
    lr=2e-3,
    grad_clip=100.0,
    max_steps=1_000_000,  # the time limit ends the demo
    eval_every=250,
    eval_sequences=128,
    checkpoint_every=100,
    log_every=10,
    num_workers=0,  # generating a batch takes milliseconds: not worth a process on 2 cores
)


@dataclass
class DemoResult:
    """What the demo made: the run folder, its steps, final metrics and the files to look at."""

    run_dir: Path
    steps: int
    metrics: dict
    files: dict[str, Path] = field(default_factory=dict)


def demo_config(minutes: float) -> RunConfig:
    """The demo's run config: the ``small`` preset on the bundled digits, time-limited."""
    return RunConfig(model=preset("small"), train=TrainConfig(**DEMO_TRAIN, max_minutes=minutes))


def run_demo(
    out: str | Path, *, minutes: float = DEMO_MINUTES, eval_sequences: int = DEMO_EVAL_SEQUENCES, progress: bool = True
) -> DemoResult:
    """Train, evaluate on the embedded test set and draw the pictures; returns what was made."""
    from videoae.reporting import plot_per_frame, plot_training_curves, save_comparison_gif, save_comparison_png

    run_dir = Path(out)
    result = train(demo_config(minutes), run_dir, progress=progress)
    model = load_model(run_dir / BEST_CHECKPOINT)
    config = model.config
    videos = evaluation_videos(eval_sequences, config.num_input_frames + config.num_future_frames)
    metrics = evaluate(model, videos, num_input_frames=config.num_input_frames, num_future=config.num_future_frames)
    files = {"metrics (JSON)": run_dir / EVAL_FILE}
    write_json_atomically(files["metrics (JSON)"], {**metrics, "checkpoint": str(run_dir / BEST_CHECKPOINT)})

    records = read_metrics(run_dir)
    files["training curves"] = plot_training_curves(records, run_dir / CURVES_FILE, title="videoae demo: small model")
    files["per-frame scores"] = plot_per_frame(metrics, run_dir / PER_FRAME_FILE, title="Prediction quality per future frame")

    panels = predict_videos(model, videos[:NUM_GIF_SEQUENCES]).panels()
    files["samples (GIF)"] = save_comparison_gif(run_dir / DEMO_SAMPLES_GIF, **panels)
    first = {name: None if frames is None else frames[:1] for name, frames in panels.items()}
    files["samples (PNG)"] = save_comparison_png(run_dir / DEMO_SAMPLES_PNG, **first)
    files["checkpoint"] = run_dir / BEST_CHECKPOINT
    return DemoResult(run_dir=run_dir, steps=result.step, metrics=metrics, files=files)
