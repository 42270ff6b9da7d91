"""A video classifier on an autoencoder's encoder, and the raw-pixel baseline of the same head.

The paper's use of a representation (Srivastava et al. 2015, section 3.3): a supervised classifier
starts from the unsupervised encoder's weights and is trained on labelled videos. Here the encoder
(flat LSTM or ConvLSTM, as in the autoencoder) reads the first ``num_input_frames`` frames; its
final state is taken (``state``), pooled where it is a map (``pooling``), and a small head
(``head_hidden``) turns it into K logits. The encoder is fine-tuned, or frozen (its weights fixed,
kept in eval mode: a probe trained by gradient descent).

The raw-pixel baseline (``representation="pixels"``) has no encoder: the mean of the same input
frames, flattened, goes through a head of the same shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoae.data.labels import MULTI_LABEL, TASKS
from videoae.errors import InvalidInputError
from videoae.models.checkpoint import CLASSIFIER_KEY, check_weights, read_checkpoint, resolve_checkpoint_path
from videoae.models.composite import CompositeModel, evaluation_mode, frames_to_model_space, model_dtype
from videoae.models.config import ModelConfig
from videoae.models.cores import grid_size, is_spatial, model_input_size, recurrent_stack
from videoae.models.lstm import State
from videoae.validation import coerce_fields, raise_first_failure, reject_unknown_keys, resolve_device

REPRESENTATIONS = ("encoder", "pixels")
STATES = ("all", "last_h")
POOLINGS = ("mean", "max", "flatten")
INITS = ("pretrained", "random")
MAX_HEAD_HIDDEN = 1 << 16


@dataclass
class ClassifierConfig:
    """What a classifier reads and how its head is built; the encoder's architecture is the autoencoder's :class:`ModelConfig`."""

    num_classes: int = 10  # K outputs (Moving MNIST: the 10 digit classes)
    # "multi_label": several classes per video, multi-hot targets (N, K), one sigmoid per class and
    # binary cross-entropy; "single_label": one class per video (N,), softmax and cross-entropy
    task: str = MULTI_LABEL
    # "encoder": the encoder's final state; "pixels": the mean input frame (the raw-pixel baseline)
    representation: str = "encoder"
    # "all": h and c of every layer (what `videoae features` exports); "last_h": the top layer's h
    state: str = "all"
    # ConvLSTM maps (C, h, w), per channel over the grid: "mean" (global average), "max", or
    # "flatten" (no pooling: C * h * w values). Flat states and raw pixels are vectors: not pooled.
    # "flatten" by default: where a digit is matters for which digits there are; fine-tuned on
    # 10,000 labels, conv-small's classifier scored 0.686 mAP flattened, 0.401 max- and 0.368
    # mean-pooled (docs/evaluation.md, "Does pretraining help a classifier with few labels?")
    pooling: str = "flatten"
    head_hidden: int = 0  # 0: a linear head; N > 0: one hidden layer of N ReLU units
    freeze_encoder: bool = False  # the encoder's weights stay as loaded and it runs in eval mode

    def __post_init__(self) -> None:
        coerce_fields(self, "classifier")
        self.validate()

    def validate(self) -> None:
        """Raise InvalidInputError naming the first impossible value."""
        checks = [
            (self.num_classes >= 2, "num_classes must be >= 2"),
            (self.task in TASKS, f"task must be one of {', '.join(TASKS)}"),
            (self.representation in REPRESENTATIONS, f"representation must be one of {', '.join(REPRESENTATIONS)}"),
            (self.state in STATES, f"state must be one of {', '.join(STATES)}"),
            (self.pooling in POOLINGS, f"pooling must be one of {', '.join(POOLINGS)}"),
            (0 <= self.head_hidden <= MAX_HEAD_HIDDEN, f"head_hidden must be in [0, {MAX_HEAD_HIDDEN}] (0: a linear head)"),
        ]
        raise_first_failure(checks, "classifier")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        """Build from a dict, rejecting unknown keys by name."""
        reject_unknown_keys(cls, data, "classifier")
        return cls(**data)


class VideoClassifier(nn.Module):
    """Logits of K classes from the first ``num_input_frames`` frames of each video.

    Frames are (B, T, *frame_shape) float tensors in [0, 1], T >= ``num_input_frames``.

    Args:
        model_config: the autoencoder's config: frame shape, input frames and the encoder's
            architecture. Kept as ``.config`` (checkpoints store it, as for every videoae model).
        config: the classifier's (see :class:`ClassifierConfig`).

    A new classifier's encoder is randomly initialised exactly as a new autoencoder's would be;
    :func:`classifier_from_autoencoder` copies a trained one's.
    """

    def __init__(self, model_config: ModelConfig, config: ClassifierConfig) -> None:
        super().__init__()
        model_config.validate()
        config.validate()
        self.config, self.classifier_config = model_config, config
        self.encoder = recurrent_stack(model_config, model_input_size(model_config)) if config.representation == "encoder" else None
        width = self.feature_size
        if config.head_hidden:
            self.head = nn.Sequential(nn.Linear(width, config.head_hidden), nn.ReLU(), nn.Linear(config.head_hidden, config.num_classes))
        else:
            self.head = nn.Sequential(nn.Linear(width, config.num_classes))
        if self.encoder is not None and config.freeze_encoder:
            self.encoder.requires_grad_(False)
        if self.encoder is not None and is_spatial(model_config):
            self.to(memory_format=torch.channels_last)  # as the autoencoder: its convolutions run faster so

    @property
    def frozen(self) -> bool:
        """Whether the encoder's weights are fixed (there is an encoder, and it is frozen)."""
        return self.encoder is not None and self.classifier_config.freeze_encoder

    @property
    def feature_size(self) -> int:
        """Width of the head's input: the pooled state, or the pixels of one frame."""
        model_config, config = self.config, self.classifier_config
        if config.representation == "pixels":
            return model_config.frame_size
        maps = 1 if config.state == "last_h" else 2 * model_config.num_layers
        per_map = model_config.hidden_size
        if is_spatial(model_config) and config.pooling == "flatten":
            height, width = grid_size(model_config)
            per_map *= height * width
        return maps * per_map

    def train(self, mode: bool = True) -> VideoClassifier:
        """Set training mode; a frozen encoder stays in eval mode (no dropout: a fixed representation)."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def _inputs(self, frames: Tensor) -> Tensor:
        steps = self.config.num_input_frames
        if frames.dim() >= 2 and frames.shape[1] < steps:
            raise InvalidInputError(f"the videos have {frames.shape[1]} frames but the classifier reads {steps}; give longer videos")
        inputs = frames_to_model_space(frames[:, :steps], self.config, "frames", model_dtype(self))  # (T, B, ...)
        # Contiguous: for a (T, B, D) view of batch-major frames and weights that need no gradient (a
        # frozen encoder), matmul multiplies by a weight copied T times instead of folding the time
        # axis into one product (measured 8x slower steps for the small preset under bf16).
        return inputs.contiguous()

    def _state(self, inputs: Tensor) -> list[State]:
        states = self.encoder.zero_state(inputs.shape[1], inputs)
        return self.encoder(inputs, states)[1]

    def features(self, frames: Tensor) -> Tensor:
        """The head's input (B, :attr:`feature_size`), with gradients unless the encoder is frozen."""
        if self.encoder is None:
            frames = frames[:, : self.config.num_input_frames]
            self._inputs(frames)  # the same checks as the encoder's inputs
            return frames.to(model_dtype(self)).mean(1).flatten(1)  # (B, C * H * W), the mean input frame
        inputs = self._inputs(frames)
        if self.frozen:
            with torch.no_grad():
                state = self._state(inputs)
        else:
            state = self._state(inputs)
        parts = [state[-1][0]] if self.classifier_config.state == "last_h" else [part for layer in state for part in layer]
        return torch.cat([self._pool(part) for part in parts], dim=1)

    def _pool(self, part: Tensor) -> Tensor:
        """(B, H) as it is; a map (B, C, h, w) pooled per channel (B, C), or flattened in (C, h, w) order."""
        if part.dim() == 2 or self.classifier_config.pooling == "flatten":
            return part.flatten(1)
        if self.classifier_config.pooling == "mean":
            return part.mean(dim=(2, 3))
        return part.amax(dim=(2, 3))

    def forward(self, frames: Tensor) -> Tensor:
        """Logits (B, K) of the videos ``frames`` (B, T, *frame_shape)."""
        return self.head(self.features(frames))

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Binary cross-entropy per class (multi-label, targets (B, K) 0/1) or cross-entropy
        (single-label, targets (B,) classes), averaged over the batch (and the classes)."""
        if self.classifier_config.task == MULTI_LABEL:
            return F.binary_cross_entropy_with_logits(logits.float(), targets.float())
        return F.cross_entropy(logits.float(), targets.long())

    def predict(self, frames: Tensor) -> Tensor:
        """Class probabilities (B, K) in eval mode: sigmoids (multi-label) or a softmax (single-label)."""
        with evaluation_mode(self):
            logits = self(frames).float()
        return torch.sigmoid(logits) if self.classifier_config.task == MULTI_LABEL else logits.softmax(1)


def classifier_from_autoencoder(model: CompositeModel, config: ClassifierConfig, *, init: str = "pretrained") -> VideoClassifier:
    """A classifier on ``model``'s encoder.

    Args:
        model: a trained autoencoder (flat or ConvLSTM).
        config: the classifier's config.
        init: ``"pretrained"``: the encoder's weights are copied from ``model``; ``"random"``: the same
            architecture, randomly initialised as a new autoencoder's encoder (seed torch first).
            The head is always new.

    Returns:
        The classifier on ``model``'s device, in training mode.
    """
    if init not in INITS:
        raise InvalidInputError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
    parameter = next(model.parameters())
    classifier = VideoClassifier(model.config, config).to(device=parameter.device, dtype=parameter.dtype)
    if init == "pretrained" and classifier.encoder is not None:
        classifier.encoder.load_state_dict(model.encoder.state_dict())
    return classifier.train()


def load_classifier(path: str | Path, *, device: str | torch.device = "cpu") -> VideoClassifier:
    """A classifier that ``videoae finetune`` trained: a checkpoint file or a run folder (its best checkpoint, else its last).

    Returns:
        The classifier in eval mode, on ``device``.
    """
    device = resolve_device(device)
    checkpoint = read_checkpoint(resolve_checkpoint_path(path), load_optimizer=False)
    stored = checkpoint.extra_metadata.get(CLASSIFIER_KEY)
    if not isinstance(stored, dict):
        raise InvalidInputError(
            f"{checkpoint.path} is an autoencoder, not a classifier; load it with videoae.load, or fine-tune it with videoae finetune"
        )
    config = ClassifierConfig.from_dict(stored)
    check_weights(checkpoint, lambda: VideoClassifier(checkpoint.model_config, config))
    classifier = VideoClassifier(checkpoint.model_config, config)
    classifier.load_state_dict(checkpoint.model_state, strict=True)
    return classifier.to(device).eval()
