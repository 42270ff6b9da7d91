"""videoae: LSTM autoencoders that learn video representations (Srivastava et al., ICML 2015)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from videoae.models.composite import CompositeModel
    from videoae.reporting.inline import show
    from videoae.training.trained_run import train

__version__ = "0.1.0"
__all__ = ["load", "show", "train"]

# The front door's other functions, imported when first used, so that ``import videoae`` stays
# light: ``videoae.show`` (an inline animation) and ``videoae.train`` (a run from Python).
_LAZY = {"show": "videoae.reporting.inline", "train": "videoae.training.trained_run"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'videoae' has no attribute {name!r}")


def load(path: str | Path, *, device: str | torch.device = "cpu") -> CompositeModel:
    """Load a trained model from a checkpoint file or a run folder (its best checkpoint, else last).

    Args:
        path: a ``.safetensors`` checkpoint, a run folder, or ``"pretrained:NAME"`` for a model
            that ships with videoae: ``"pretrained:conv-p8"``, the demo's model trained for 98 minutes,
            or ``"pretrained:conv-small"``, the earlier demo model trained for an hour.
        device: where the model goes.

    Returns:
        The model in eval mode, e.g. ``videoae.load("runs/demo").predict(frames, 30)``.
    """
    # Imported here so that ``import videoae`` stays light (no torch until a model is needed).
    from videoae.models.checkpoint import load_model

    return load_model(path, device=device)
