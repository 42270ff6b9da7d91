"""``videoae.train``: train from Python in one call, as ``videoae train --preset NAME`` does.

The run's config is made exactly as the command makes it (the preset's measured recipe beneath the
settings given, :func:`~videoae.training.recipes.new_run_config`), the loop is the command's, and
the run folder holds the same files, so ``videoae train --resume RUN``, ``videoae eval RUN`` and
``videoae report RUN`` take it like any other. What comes back is the model, ready to use.

Progress shows in a notebook (a widget where ipywidgets is installed, text otherwise) and nowhere
else unless asked: a script and its log stay quiet (:mod:`videoae.progress`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videoae.errors import InvalidInputError
from videoae.models import CompositeModel
from videoae.models.checkpoint import load_model
from videoae.run_folder import started_run_files
from videoae.training.config import load_config_file
from videoae.training.loop import TrainingInterrupted
from videoae.training.loop import train as train_run
from videoae.training.recipes import new_run_config

DEFAULT_PRESET = "conv-small"  # the demo's model: it draws digits within minutes on a CPU
STOP_REASONS = {"max_steps": "its step limit", "max_minutes": "its time limit"}


@dataclass
class TrainedRun:
    """A run trained by :func:`train`.

    Attributes:
        model: the run's best checkpoint (its last where no evaluation was better), in eval mode,
            on the device it trained on: what ``videoae.load(run_dir, device=...)`` gives.
        metrics: the run's last evaluation on held-out sequences, with the baselines beside the
            model (the layout of ``videoae eval --json``), or None when it never evaluated.
        run_dir: the run folder.
        step: the training steps done in all.
        stop_reason: ``"max_minutes"`` (the time limit) or ``"max_steps"`` (the step limit).
    """

    model: CompositeModel = field(repr=False)
    metrics: dict | None = field(repr=False)
    run_dir: Path
    step: int
    stop_reason: str

    def __repr__(self) -> str:
        scores = ""
        section = (self.metrics or {}).get("prediction") or (self.metrics or {}).get("reconstruction")
        if isinstance(section, dict) and "bce" in section:
            part = "prediction" if "prediction" in (self.metrics or {}) else "reconstruction"
            scores = f"; last evaluation: {part} BCE {section['bce']:.1f} nats/frame, MSE {section['mse']:.1f}, SSIM {section['ssim']:.3f}"
        stopped = STOP_REASONS.get(self.stop_reason, self.stop_reason)
        return f"TrainedRun({self.run_dir}: {self.step:,} steps, stopped by {stopped}{scores})"


def train(
    preset: str = DEFAULT_PRESET,
    *,
    out: str | os.PathLike[str],
    minutes: float | None = None,
    resume: bool = False,
    config: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    **settings: Any,
) -> TrainedRun:
    """Train a model from a preset with its measured recipe, and return it ready to use.

    ``videoae.train("conv-small", minutes=2, out="runs/nb")`` trains what ``videoae train --preset
    conv-small --max-minutes 2 --out runs/nb`` trains, into the same run folder.

    Args:
        preset: the model preset (``conv-small``, ``small``, ``tiny``, ``paper``, ...); ``small``
            and ``conv-small`` bring the training recipe they were measured with.
        out: the run folder to create (or, with ``resume``, to continue).
        minutes: the time budget of this call (the ``max_minutes`` setting); None: the recipe's
            step limit alone ends the run.
        resume: when ``out`` already holds a run of the same settings, continue it (only the
            limits may differ); without it such a folder is refused, never overwritten.
        config: a ``.json``/``.yaml`` config file, beneath ``settings`` (as ``--config``).
        progress: show progress: None (default) only in a notebook, True or False always or never.
        **settings: any ``--set`` setting as a keyword, e.g. ``lr=3e-4``, ``max_steps=2000``,
            ``data="clips/"``; a setting named in both configs takes its section:
            ``**{"model.hidden_size": 64}``.

    Returns:
        A :class:`TrainedRun`: ``.model``, ``.metrics``, ``.run_dir``, ``.step``.

    Raises:
        InvalidInputError: an unknown or invalid setting, or ``out`` holds a run and ``resume`` is False.
        TrainingInterrupted: the kernel was interrupted (the state is saved; ``resume=True`` continues it).
    """
    if minutes is not None:
        if "max_minutes" in settings:
            raise InvalidInputError("give the time budget once: minutes=M or max_minutes=M, not both")
        settings["max_minutes"] = minutes
    run = new_run_config(preset, config=load_config_file(config) if config is not None else None, settings=settings)
    run_dir = Path(out)
    started = started_run_files(run_dir) if run_dir.is_dir() else []
    if started and not resume:
        raise InvalidInputError(
            f"{run_dir} already holds a run ({started[0]}); continue it with videoae.train(..., resume=True) "
            f"or videoae train --resume {run_dir}, or give another out"
        )
    try:
        result = train_run(run, run_dir, resume_if_exists=resume, progress=progress)
    except TrainingInterrupted as stopped:  # an interrupted kernel: say how to go on from Python too
        raise TrainingInterrupted(
            f"{stopped}; in Python: the same videoae.train call with resume=True", exit_code=stopped.exit_code
        ) from None
    model = load_model(result.run_dir, device=run.train.device)  # where it trained: a GPU's model stays there
    return TrainedRun(model=model, metrics=result.last_eval, run_dir=result.run_dir, step=result.step, stop_reason=result.stop_reason)
