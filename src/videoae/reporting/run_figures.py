"""Figures of a run: its training curves and the paper's weight figure.

- :func:`plot_run_curves`: ``RUN/metrics.jsonl`` as loss and evaluation curves (a PNG).
- :func:`plot_model_weights`: the first encoder layer's input weights and the output layer's
  weights as frame-sized tiles (the Moving MNIST weight figure of Srivastava et al. 2015).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch.nn.functional as F

from videoae.atomic import write_atomically
from videoae.errors import InvalidInputError
from videoae.models import CompositeModel
from videoae.models.cores import is_spatial
from videoae.run_folder import PLOT_FILE, read_metrics, run_folder
from videoae.validation import check_int

logger = logging.getLogger(__name__)

# An LSTM layer's weight_ih stacks one (H, D) block per gate in this order (as torch.nn.LSTM).
GATES = ("input", "forget", "cell", "output")
GATE_LABELS = {"input": "input gate i", "forget": "forget gate f", "cell": "cell-input gate g", "output": "output gate o"}
# The cell-input gate g is what a unit writes into its memory from the frame, so its weights show
# what each unit detects; the sigmoid gates' weights show when it listens instead.
DEFAULT_GATE = "cell"
WEIGHT_LAYERS = ("both", "input", "output")
DEFAULT_NUM_TILES = 64
PANEL_GAP_PX = 24  # white space between the two panels of the combined weight figure


# -- plots ----------------------------------------------------------------------------------------


def plot_run_curves(run_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Draw a run's training curves (loss, learning rate, evaluations beside the baselines).

    Args:
        run_dir: the run folder.
        path: the ``.png`` to write; default ``RUN/plot.png`` (not the demo's ``training_curves.png``).

    Returns:
        The path written.
    """
    from videoae.reporting import plot_training_curves

    run_dir = run_folder(run_dir)
    out = run_dir / PLOT_FILE if path is None else check_png_path(path)
    records = read_metrics(run_dir)
    return plot_training_curves(records, out, title=f"videoae training: {run_dir.resolve().name}")


def check_png_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, checked to name a ``.png`` file (not a folder) before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give a file name ending in .png")
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"{path}: pictures are written as PNG; give a file name ending in .png")
    return path


def _image_shape(frame_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(frame_shape) == 3 and frame_shape[0] == 1:
        return int(frame_shape[1]), int(frame_shape[2])
    if len(frame_shape) == 2:
        return int(frame_shape[0]), int(frame_shape[1])
    raise InvalidInputError(
        f"this model's frames have shape {list(frame_shape)}, not one grayscale image (1, H, W): "
        "its weights have no picture to draw; weight figures need a model trained on image frames"
    )


def _tile_shape(weights: np.ndarray, frame: tuple[int, int]) -> tuple[int, int]:
    """Flat models' weights are frame-sized rows; ConvLSTM weights come as tiles of their own size."""
    return tuple(weights.shape[1:]) if weights.ndim == 3 else frame


def encoder_input_weights(model: CompositeModel, gate: str = DEFAULT_GATE) -> np.ndarray:
    """The first encoder layer's input weights of one gate, one tile per unit or channel.

    Flat models: (hidden_size, pixels), row k being unit k's weights on the frame. ConvLSTM models:
    (channels, k * p, k * p), each channel's kernel put back into pixel space (k the kernel size,
    p the patch size): what the channel detects around a position.
    """
    if gate not in GATES:
        raise InvalidInputError(f"unknown gate {gate!r}; choose one of {', '.join(GATES)}")
    hidden = model.config.hidden_size
    start = GATES.index(gate) * hidden
    layer = model.encoder.layers[0]
    if is_spatial(model.config):
        kernels = layer.input_conv.weight.detach()[start : start + hidden].float().cpu()  # (C, p*p, k, k)
        return F.pixel_shuffle(kernels, model.config.patch_size)[:, 0].numpy()  # (C, k*p, k*p)
    return layer.weight_ih.detach()[start : start + hidden].float().cpu().numpy()


def output_weights(model: CompositeModel) -> tuple[np.ndarray, str]:
    """The readout weights of the future predictor (else the reconstruction decoder), one tile per
    unit or channel: what it paints, (hidden_size, pixels) flat, (channels, p, p) for ConvLSTM;
    and that decoder's name."""
    if model.predictor is not None:
        decoder, name = model.predictor, "future predictor"
    else:
        decoder, name = model.reconstructor, "reconstruction decoder"
    weight = decoder.readout.weight.detach().float().cpu()
    if is_spatial(model.config):
        painted = weight[:, :, 0, 0].T.unsqueeze(-1).unsqueeze(-1)  # (C, p*p, 1, 1)
        return F.pixel_shuffle(painted, model.config.patch_size)[:, 0].numpy(), name
    return weight.numpy().T, name


def plot_model_weights(
    model: CompositeModel,
    path: str | os.PathLike[str],
    *,
    layer: str = "both",
    num_tiles: int = DEFAULT_NUM_TILES,
    gate: str = DEFAULT_GATE,
) -> Path:
    """The paper's weight figure: each unit's weights on the pixels as a frame-sized tile.

    ``layer="both"`` draws two labelled panels into one PNG, the encoder's input weights above the
    output weights; ``"input"`` or ``"output"`` draws one.

    Args:
        model: a :class:`~videoae.models.CompositeModel` with grayscale image frames.
        path: destination ``.png``.
        layer: ``"both"``, ``"input"`` (first encoder layer, weights from the frame) or
            ``"output"`` (the decoder's readout, weights to the frame).
        num_tiles: units shown, the first ones.
        gate: which gate's input weights to show: ``input``, ``forget``, ``cell`` (g, default) or ``output``.

    Returns:
        The path written.
    """
    from videoae.reporting import plot_weights

    path = check_png_path(path)
    if layer not in WEIGHT_LAYERS:
        raise InvalidInputError(f"unknown layer {layer!r}; choose one of {', '.join(WEIGHT_LAYERS)}")
    num_tiles = check_int("num_tiles", num_tiles, 1)
    frame = _image_shape(tuple(model.config.frame_shape))
    hidden = model.config.hidden_size
    units = "channels" if is_spatial(model.config) else "units"
    shown = min(num_tiles, hidden)
    panels = []
    if layer in ("both", "input"):
        title = f"encoder input weights (first {shown} of {hidden} {units}, {GATE_LABELS[gate]}, layer 1)"
        panels.append((encoder_input_weights(model, gate), title))
    if layer in ("both", "output"):
        weights, decoder = output_weights(model)
        panels.append((weights, f"output weights of the {decoder} (first {shown} of {hidden} {units})"))
    if len(panels) == 1:
        weights, title = panels[0]
        return plot_weights(weights, path, frame_shape=_tile_shape(weights, frame), num_tiles=shown, title=title)
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="videoae-weights-") as scratch:
        images = []
        for index, (weights, title) in enumerate(panels):
            drawn = plot_weights(
                weights, Path(scratch) / f"panel{index}.png", frame_shape=_tile_shape(weights, frame), num_tiles=shown, title=title
            )
            with Image.open(drawn) as image:
                images.append(image.convert("RGB"))
    width = max(image.width for image in images)
    height = sum(image.height for image in images) + PANEL_GAP_PX * (len(images) - 1)
    combined = Image.new("RGB", (width, height), "white")
    top = 0
    for image in images:
        combined.paste(image, ((width - image.width) // 2, top))
        top += image.height + PANEL_GAP_PX
    return write_atomically(path, lambda stream: combined.save(stream, format="PNG"))


# -- the HTML page --------------------------------------------------------------------------------
