"""Model configuration and the named presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from videoae.errors import InvalidInputError
from videoae.validation import coerce_fields, quote, raise_first_failure, reject_unknown_keys

DECODER_TRAINING_INPUTS = ("ground_truth", "free_running", "scheduled")
CELLS = ("lstm", "convlstm")
FIRST_INPUTS = ("zeros", "last_input")
SKIP_CONNECTIONS = ("none", "copy", "warp")
OUTPUTS = ("bernoulli", "linear")
# Recurrent layers per encoder or decoder: the paper uses 1 or 2, OpenSTL 4. The bound keeps a config
# (or a checkpoint's header) that claims a million layers from being built, even on the meta device.
MAX_LAYERS = 64


@dataclass
class ModelConfig:
    """Everything that defines a model's architecture and its loss.

    Defaults are the paper's Moving MNIST composite model with conditional decoders.
    """

    # "lstm": frames flattened to vectors, fully connected LSTMs (the paper); "convlstm": frames
    # cut into patch_size blocks (space-to-depth) on a grid, convolutional LSTMs (Shi et al. 2015).
    cell: str = "lstm"

    # Shape of one frame: (C, H, W) for images, (F,) for precomputed per-frame feature vectors.
    frame_shape: tuple[int, ...] = (1, 64, 64)
    hidden_size: int = 2048  # LSTM units per layer (paper: 2048); ConvLSTM channels per layer
    patch_size: int = 4  # convlstm: a frame enters as patch_size x patch_size blocks (64x64x1 -> 16x16x16)
    kernel_size: int = 3  # convlstm: side of the gate convolutions (odd)
    num_layers: int = 2  # LSTM layers in the encoder and in each decoder (paper: 1 or 2)
    peepholes: bool = True  # the authors' LSTM has peephole connections; nn.LSTM has none
    init: str = "uniform"  # "uniform": the authors' U(+-init_range); "pytorch": nn.LSTM's default
    init_range: float = 0.01  # authors: weights from U(-0.01, 0.01), biases 0
    peephole_init_range: float = 0.1  # authors: peepholes from U(-0.1, 0.1)
    forget_bias: float = 0.0  # added to the forget gate's bias (the authors' older code used 5)
    dropout: float = 0.0  # between LSTM layers, in training (the seed notebook: 0.1)
    reconstruct: bool = True  # an autoencoder decoder: reconstructs the inputs in reverse order
    predict: bool = True  # a future predictor decoder: predicts the next frames in order
    conditional_reconstruction: bool = True  # decoder fed the previous frame (else nothing)
    conditional_prediction: bool = True
    # What a conditional decoder is fed while training: the ground-truth previous frame (the
    # authors'), its own previous output (the seed notebook's "free-running"), or ground truth
    # with probability ground_truth_probability per step and sequence ("scheduled" sampling).
    # At inference it is always fed its own output.
    decoder_training_input: str = "ground_truth"
    # A conditional predictor's first input: "zeros" (the authors') or "last_input", the frame
    # that truly precedes the first predicted one.
    predictor_first_input: str = "zeros"
    # "copy": a conditional decoder adds a learned multiple of the frame it is fed (as logits with
    # Bernoulli outputs) to its readout, so it learns what changes instead of redrawing every pixel;
    # "warp" (convlstm only): the fed frame is first moved along a flow field read from the
    # decoder's state (models/warp.py). Not in the paper; measured in docs/models.md.
    skip_connection: str = "none"
    ground_truth_probability: float = 0.5  # used by "scheduled" unless the trainer passes one
    # "bernoulli": sigmoid outputs, Bernoulli cross-entropy (paper); "linear": linear outputs,
    # squared error (the seed notebook). Both losses are summed over a frame's pixels and averaged
    # over frames and sequences, the units of the paper's Table 1.
    output: str = "bernoulli"
    # Initial bias of the readout: 0 (the authors'), or the logit of the data's mean pixel, so that
    # training starts from dark frames instead of spending its first steps learning the background
    # (Moving MNIST's mean intensity 0.051: logit -2.92; measured for the spatial family, docs/models.md).
    readout_bias: float = 0.0
    num_input_frames: int = 10  # frames the encoder reads in training
    num_future_frames: int = 10  # frames the predictor is trained on

    def __post_init__(self) -> None:
        coerce_fields(self, "model")
        self.validate()

    @property
    def frame_size(self) -> int:
        """Number of values in one frame (the LSTM's input and output width)."""
        return math.prod(self.frame_shape)

    def validate(self) -> None:
        """Raise InvalidInputError naming the first impossible value."""
        checks = [
            (len(self.frame_shape) >= 1 and all(s >= 1 for s in self.frame_shape), "frame_shape must be positive sizes, e.g. [1, 64, 64]"),
            (self.cell in CELLS, f"cell must be one of {CELLS}"),
            (self.hidden_size >= 1, "hidden_size must be >= 1"),
            (self.patch_size >= 1, "patch_size must be >= 1"),
            (self.kernel_size >= 1 and self.kernel_size % 2 == 1, "kernel_size must be odd (the convolutions keep the grid size)"),
            (self.cell != "convlstm" or len(self.frame_shape) == 3, "a convlstm model needs image frames, frame_shape [C, H, W]"),
            (
                self.cell != "convlstm" or all(side % self.patch_size == 0 for side in self.frame_shape[1:]),
                "patch_size must divide the frame's height and width",
            ),
            (1 <= self.num_layers <= MAX_LAYERS, f"num_layers must be in [1, {MAX_LAYERS}]"),
            (self.init in ("uniform", "pytorch"), "init must be 'uniform' or 'pytorch'"),
            (self.init_range > 0 and self.peephole_init_range >= 0, "init ranges must be positive"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.reconstruct or self.predict, "enable reconstruct, predict or both"),
            (self.decoder_training_input in DECODER_TRAINING_INPUTS, f"decoder_training_input must be one of {DECODER_TRAINING_INPUTS}"),
            (0.0 <= self.ground_truth_probability <= 1.0, "ground_truth_probability must be in [0, 1]"),
            (self.predictor_first_input in FIRST_INPUTS, f"predictor_first_input must be one of {FIRST_INPUTS}"),
            (self.skip_connection in SKIP_CONNECTIONS, f"skip_connection must be one of {SKIP_CONNECTIONS}"),
            (self.skip_connection != "warp" or self.cell == "convlstm", "skip_connection 'warp' needs cell 'convlstm' (a flow on a grid)"),
            (self.output in OUTPUTS, f"output must be one of {OUTPUTS}"),
            (self.num_input_frames >= 1, "num_input_frames must be >= 1"),
            (self.num_future_frames >= 1 or not self.predict, "num_future_frames must be >= 1 for a predictor"),
        ]
        raise_first_failure(checks, "model")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["frame_shape"] = list(self.frame_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict, rejecting unknown keys by name."""
        reject_unknown_keys(cls, data, "model")
        return cls(**data)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (unknown names rejected)."""
        return ModelConfig.from_dict({**self.to_dict(), **changes})


PRESETS: dict[str, ModelConfig] = {
    # The paper's best Moving MNIST model (Table 1: composite with conditional future predictor).
    "paper": ModelConfig(),
    # The seed notebook: nn.LSTM-style cells, PyTorch's init, dropout 0.1, decoders fed their own
    # output in training, linear outputs with squared error.
    "seed": ModelConfig(
        peepholes=False,
        init="pytorch",
        dropout=0.1,
        decoder_training_input="free_running",
        output="linear",
    ),
    # The CPU default for the demo: quality reachable within minutes on 2 cores (docs/models.md).
    "small": ModelConfig(
        hidden_size=256,
        num_layers=1,
        conditional_reconstruction=False,
        conditional_prediction=False,
        init="pytorch",
    ),
    # For tests: seconds on a CPU.
    "tiny": ModelConfig(hidden_size=16, num_layers=1),
    # The spatial member first chosen for the CPU demo, and the model that ships with videoae
    # (pretrained:conv-small): sharp digits within minutes on 2 cores (docs/models.md).
    "conv-small": ModelConfig(
        cell="convlstm",
        hidden_size=32,
        num_layers=1,
        patch_size=4,
        kernel_size=5,
        peepholes=True,
        init="pytorch",
        conditional_reconstruction=False,
        conditional_prediction=True,
        decoder_training_input="scheduled",
        predictor_first_input="last_input",
        skip_connection="warp",
        readout_bias=-2.92,
    ),
    # OpenSTL's ConvLSTM setting on Moving MNIST (4 layers x 128 channels, patch 4, 5x5 kernels),
    # as a composite model, to compare with its published per-frame MSE on a GPU.
    "conv-openstl": ModelConfig(
        cell="convlstm",
        hidden_size=128,
        num_layers=4,
        patch_size=4,
        kernel_size=5,
        peepholes=False,
        init="pytorch",
        reconstruct=False,
        conditional_prediction=True,
        decoder_training_input="scheduled",
    ),
}


# conv-small's design on a coarser grid: 8x8 patches (a 8x8 grid, 4x fewer positions) buy 96
# channels with 3x3 kernels (24 pixels seen, as 5x5 on 4x4 patches) at about conv-small's step cost;
# the best predictions per CPU-minute of the design search (docs/models.md).
PRESETS["conv-p8"] = PRESETS["conv-small"].replace(hidden_size=96, patch_size=8, kernel_size=3)


def preset(name: str) -> ModelConfig:
    """A copy of the named preset's config."""
    if not isinstance(name, str) or name not in PRESETS:  # a config file can put a list or a mapping here
        raise InvalidInputError(f"unknown model preset {quote(name)}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name])
