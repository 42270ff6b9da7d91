"""The training recipe each preset was measured with, and the step rate measured with it.

A preset (``models/config.py``) is a model; how fast and how well it trains depends as much on the
recipe: batch, learning rate, precision and schedule. ``videoae train --preset NAME`` and the demo
start from the preset's recipe, so that a command trains what the docs measured; settings given in
a config file or with ``--set`` are laid over it. A resumed run keeps its own saved config and never
meets a recipe again.

Each measured rate names the machine and the run it comes from: it is a figure of that machine,
shown as such, never a promise about another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from videoae.models.config import PRESETS, ModelConfig
from videoae.training.config import DEFAULT_PRESET, RunConfig, TrainConfig

# The settings shared by the measured CPU recipes (docs/models.md, "How conv-small was chosen"):
# small batches for many updates within minutes, and evaluations small enough not to eat the budget.
_CPU_RECIPE: dict[str, Any] = dict(
    batch_size=16,
    optimizer="adam",
    lr=2e-3,
    grad_clip=100.0,
    eval_every=250,
    eval_sequences=128,
    checkpoint_every=100,
    log_every=10,
    num_workers=0,  # generating a batch takes milliseconds: not worth a process on 2 cores
)
# The ConvLSTM presets' recipe: bf16 where it pays, and 1,000 steps of scheduled sampling's decay.
_CONV_RECIPE: dict[str, Any] = {**_CPU_RECIPE, "precision": "auto", "ground_truth_decay_steps": 1000}
_FP32_CPUS = "a CPU without bf16 instructions (AMX or AVX-512 BF16) trains in fp32, more slowly"


@dataclass(frozen=True)
class MeasuredRate:
    """Training steps per second of a recipe, as measured once on a named machine."""

    steps_per_second: float
    where: str  # the run and the machine, for people: "the demo's run d2 on ... (docs/models.md)"


@dataclass(frozen=True)
class Recipe:
    """The train settings a preset was measured with, and the step rate they gave."""

    train: dict[str, Any]
    rate: MeasuredRate | None = None


RECIPES: dict[str, Recipe] = {
    # The flat demo: 5,998 steps in its 8 minutes (docs/training.md, "The flat demo").
    "small": Recipe(
        train={**_CPU_RECIPE, "max_steps": 6000},
        rate=MeasuredRate(12.5, "the flat demo's 5,998 steps in 8 minutes on an idle 2-core Intel Xeon, docs/training.md"),
    ),
    # No CPU recipe was tuned for the paper's 2 x 2048 model: TrainConfig's defaults (batch 64, fp32),
    # at the fast path's measured step time (docs/models.md, "The fast path").
    "paper": Recipe(
        train={},
        rate=MeasuredRate(1 / 3.84, "the fast path's 3.84 s a step at batch 64 on a shared 2-core Intel Xeon, docs/models.md"),
    ),
    # The demo: 761 steps in 8 minutes (docs/models.md, run d2); 1,000 steps end the scheduled
    # sampling's decay, as the shipped model's run passed it.
    "conv-small": Recipe(
        train={**_CONV_RECIPE, "max_steps": 1000},
        rate=MeasuredRate(
            1.6,
            f"the demo's 761 steps in 8 minutes on 1 thread of a shared 2-core Intel Xeon with AMX in bf16, docs/models.md; {_FP32_CPUS}",
        ),
    ),
    # conv-small's recipe, unchanged: the design search measured conv-p8 with it (docs/models.md).
    # The demo: 2,583 steps in its 8 minutes, evaluations included.
    "conv-p8": Recipe(
        train={**_CONV_RECIPE, "max_steps": 2500},
        rate=MeasuredRate(
            5.4, f"the demo's 2,583 steps in 8 minutes on an idle 2-core Intel Xeon with AMX in bf16, docs/models.md; {_FP32_CPUS}"
        ),
    ),
}

# The settings that set a step's cost: a run that changes one of them has no measured rate.
_SPEED_SETTINGS = ("batch_size", "precision", "compile", "device")


def recipe_settings(preset_name: str) -> dict[str, Any]:
    """The train settings of ``preset_name``'s recipe (empty for a preset without one)."""
    recipe = RECIPES.get(preset_name)
    return dict(recipe.train) if recipe is not None else {}


def with_recipe(data: dict[str, Any], default_preset: str) -> dict[str, Any]:
    """A new run's config (as read from a file) with its preset's recipe beneath its own train settings.

    The preset is the one the ``model`` entry names (a name, or a mapping with ``preset``), or
    ``default_preset`` when there is no ``model``. Train settings ``data`` gives win over the recipe.
    """
    model = data.get("model", default_preset)
    name = model if isinstance(model, str) else model.get("preset") if isinstance(model, dict) else None
    train = data.get("train", {})
    if not isinstance(name, str) or not isinstance(train, dict):
        return data  # no recipe to apply; RunConfig.from_dict refuses what is malformed
    return {**data, "train": {**recipe_settings(name), **train}}


def new_run_config(
    preset_name: str | None,
    *,
    config: dict[str, Any] | None = None,
    assignments: list[str] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> RunConfig:
    """A new run's config, made as ``videoae train`` makes it: the preset's recipe beneath a config
    file's train settings, then ``--set`` assignments, then settings given as Python values.

    Args:
        preset_name: the model preset (``--preset``); None keeps the config's model, else :data:`DEFAULT_PRESET`.
        config: a config file's contents (``--config``), ``{"model": ..., "train": {...}}``.
        assignments: ``key=value`` strings (``--set``).
        settings: ``{key: value}`` (``videoae.train``'s keyword arguments), keys as for ``--set``.

    Returns:
        The validated config (a resumed run never comes here: it keeps its saved config).
    """
    data = dict(config or {})
    if preset_name is not None:
        data["model"] = preset_name
    run = RunConfig.from_dict(with_recipe(data, DEFAULT_PRESET)).with_overrides(list(assignments or []))
    return run.with_settings(settings) if settings else run


def preset_of(model: ModelConfig) -> str | None:
    """The name of the preset ``model`` is exactly, or None."""
    return next((name for name, config in PRESETS.items() if config == model), None)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def expected_duration(model: ModelConfig, train: TrainConfig) -> str:
    """One sentence: how long a new run of ``max_steps`` training steps takes at the measured rate.

    Args:
        model: the run's model config.
        train: the run's train config.

    Returns:
        The expected time with the rate and where it was measured; or, where no rate applies (a
        preset without one, a changed model, batch or precision), a sentence that says so.
    """
    name = preset_of(model)
    recipe = RECIPES.get(name) if name is not None else None
    if recipe is None or recipe.rate is None:
        which = f"the preset {name!r}" if name else "this model (not a preset as it ships)"
        return f"no step rate has been measured for {which}; the progress display estimates the time once training runs"
    defaults = TrainConfig()
    measured = {key: recipe.train.get(key, getattr(defaults, key)) for key in _SPEED_SETTINGS}
    changed = [key for key, value in measured.items() if getattr(train, key) != value]
    if changed:
        return (
            f"no step rate has been measured with these settings ({', '.join(f'{key}={getattr(train, key)}' for key in changed)}, "
            f"measured with {', '.join(f'{key}={measured[key]}' for key in changed)}); "
            "the progress display estimates the time once training runs"
        )
    rate = recipe.rate
    seconds = train.max_steps / rate.steps_per_second
    steps = f"{train.max_steps:,} steps at ~{rate.steps_per_second:g} steps/s"
    if 0 < train.max_minutes * 60 < seconds:
        return (
            f"at most {_minutes(train.max_minutes * 60)} (the time limit; {steps} would take {_minutes(seconds)}; the rate of {rate.where})"
        )
    return f"about {_minutes(seconds)} of training, plus evaluations ({steps}, the rate of {rate.where})"
