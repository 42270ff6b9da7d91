"""Pictures of videos and of training: frame grids, comparisons with the truth, plots.

- :mod:`~videoae.reporting.frames`: grids and tables of frames, PNG files.
- :mod:`~videoae.reporting.comparison`: input | ground truth | reconstruction | prediction, as a
  labelled GIF or a still strip.
- :mod:`~videoae.reporting.inline`: any of these as an animation that plays inline in a notebook
  (``videoae.show``).
- :mod:`~videoae.reporting.plots`: training curves and per-frame metrics, and
  :mod:`~videoae.reporting.weights`: weights as frame-sized tiles (matplotlib, imported only when
  a plot is drawn).
"""

from __future__ import annotations

from videoae.reporting.comparison import (
    comparison_panels,
    comparison_strip,
    save_comparison_gif,
    save_comparison_png,
)
from videoae.reporting.frames import frame_table, save_png, sequence_grid, tile
from videoae.reporting.inline import Animation, show
from videoae.reporting.plots import plot_per_frame, plot_training_curves
from videoae.reporting.weights import plot_weights

__all__ = [
    "Animation",
    "comparison_panels",
    "comparison_strip",
    "frame_table",
    "plot_per_frame",
    "plot_training_curves",
    "plot_weights",
    "save_comparison_gif",
    "save_comparison_png",
    "save_png",
    "sequence_grid",
    "show",
    "tile",
]
