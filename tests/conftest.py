"""Shared fixtures: a tiny model trained once per test session, as a real run folder; benchmark
scripts loaded as modules."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from videoae.training.config import RunConfig

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """Loads the script ``benchmarks/NAME.py`` as a module (benchmarks are scripts, not a package)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of the ``tiny`` preset trained for 12 steps (config, metrics, checkpoints,
    samples), for commands that take a RUN or a checkpoint. Do not modify it: copy it first."""
    from videoae.training.loop import train

    run_dir = tmp_path_factory.mktemp("trained") / "run"
    run = RunConfig.from_dict(
        {
            "model": {"preset": "tiny", "hidden_size": 8},
            "train": {
                "max_steps": 12,
                "batch_size": 4,
                "eval_every": 6,
                "eval_sequences": 8,
                "checkpoint_every": 6,
                "log_every": 3,
                "num_workers": 0,
            },
        }
    )
    train(run, run_dir, progress=False)
    return run_dir
