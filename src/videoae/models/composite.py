"""Encoder, decoders and the composite model (Srivastava et al. 2015, section 2).

An encoder LSTM reads the input frames; its final state seeds a reconstruction decoder (the input
frames in reverse order) and a future predictor (the next frames in order), or just one of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoae.errors import InvalidInputError
from videoae.models.config import ModelConfig, preset
from videoae.models.convlstm import ConvLSTMLayer
from videoae.models.cores import (
    is_spatial,
    make_readout,
    model_input_size,
    read_out,
    readout_stepper,
    recurrent_stack,
    to_frame_space,
    to_model_space,
)
from videoae.models.lstm import LSTMLayer, State
from videoae.models.warp import FlowWarp
from videoae.validation import check_int

SKIP_CLAMP = 0.01  # fed frames are clamped to [this, 1 - this] before their logit (at most 4.6 nats)


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode without autograd for the duration, restoring the model's previous mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating-point type of a model's parameters (float32 for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.dtype if parameter is not None else torch.float32


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def frames_to_model_space(frames: Tensor, config: ModelConfig, name: str, dtype: torch.dtype) -> Tensor:
    """(B, T, *frame_shape) frames -> (T, B, ...) in model space (see :mod:`videoae.models.cores`), in ``dtype``.

    Raises:
        InvalidInputError: frames of another shape, empty, not float, or not finite (checked on CPU).
    """
    shape = config.frame_shape
    if frames.dim() != 2 + len(shape) or tuple(frames.shape[2:]) != shape:
        raise InvalidInputError(
            f"{name} must have shape (batch, time, {', '.join(map(str, shape))}) for this model, got {tuple(frames.shape)}"
        )
    if frames.shape[0] == 0 or frames.shape[1] == 0:
        raise InvalidInputError(f"{name} is empty: shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise InvalidInputError(f"{name} must be a float tensor with values in [0, 1], got {frames.dtype}")
    # On CUDA this check would stall the step on the host, so it runs on CPU only.
    if frames.device.type == "cpu" and not torch.isfinite(frames).all():
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    # Frames in another float type (float64 from numpy, say) are computed in the model's own.
    return to_model_space(frames.transpose(0, 1).to(dtype), config)


class Decoder(nn.Module):
    """A recurrent stack (LSTM, or ConvLSTM for the spatial family) seeded with the encoder's state,
    and a readout to frames (linear, or a 1x1 convolution).

    Args:
        config: the model config.
        conditional: fed the previous frame at each step (the first step's input is given); else
            fed nothing.
    """

    def __init__(self, config: ModelConfig, *, conditional: bool) -> None:
        super().__init__()
        self.conditional = conditional
        self.bernoulli = config.output == "bernoulli"
        self.lstm = recurrent_stack(config, model_input_size(config) if conditional else 0)
        self.readout = make_readout(config)
        # Created only when used, so that checkpoints of models without them load unchanged.
        skip = config.skip_connection if conditional else "none"
        self.skip_scale = nn.Parameter(torch.ones(())) if skip != "none" else None
        self.warp = FlowWarp(config.hidden_size, config.patch_size) if skip == "warp" else None

    def _with_skip(self, outputs: Tensor, fed: Tensor, hidden: Tensor) -> Tensor:
        """Readout values plus the learned multiple of the fed frame (moved, with a warp), in the
        same (logit) space."""
        if self.skip_scale is None:
            return outputs
        if self.warp is not None:
            # (T, B, C, h, w) for a whole sequence or (B, C, h, w) for one step -> (N, C, h, w)
            fed = self.warp(hidden.flatten(0, -4), fed.flatten(0, -4)).reshape(fed.shape)
        if self.bernoulli:
            fed = torch.logit(fed.clamp(SKIP_CLAMP, 1.0 - SKIP_CLAMP))
        return outputs + self.skip_scale * fed

    def to_frames(self, outputs: Tensor) -> Tensor:
        """Readout values (logits or linear outputs) -> frames in [0, 1]."""
        return torch.sigmoid(outputs) if self.bernoulli else outputs.clamp(0.0, 1.0)

    def _feedback(self, outputs: Tensor) -> Tensor:
        # What a conditional decoder sees of its own output: probabilities, or the raw linear
        # output as the seed notebook feeds it.
        return torch.sigmoid(outputs) if self.bernoulli else outputs

    def forward(
        self,
        state: list[State],
        num_steps: int,
        *,
        targets: Tensor | None = None,
        ground_truth_probability: float = 0.0,
        first_input: Tensor | None = None,
    ) -> Tensor:
        """Decode ``num_steps`` frames; returns readout values (T, B, D) (logits when Bernoulli).

        Args:
            state: the encoder's final state, one (h, c) per layer.
            num_steps: frames to produce.
            targets: (T, B, D) ground-truth frames, fed to a conditional decoder with probability
                ``ground_truth_probability`` per step and sequence (1: always, the authors'
                training; 0: its own output, inference and free-running training).
            ground_truth_probability: see ``targets``.
            first_input: (B, ...) in model space: what a conditional decoder is fed at its first
                step (zeros if None).
        """
        batch_size = state[0][0].shape[0]
        if not self.conditional:
            hidden, _ = self.lstm(None, state, num_steps=num_steps)  # (T, B, H) or (T, B, C, h, w)
            return read_out(self.readout, hidden)
        if first_input is None:
            first_input = state[0][0].new_zeros(batch_size, *self._frame_shape())
        if targets is not None and ground_truth_probability >= 1.0:
            # Every input is known up front: the first input, then the previous ground-truth frame.
            inputs = torch.cat([first_input[None], targets[:-1]])  # (T, B, D)
            hidden, _ = self.lstm(inputs, state)
            return self._with_skip(read_out(self.readout, hidden), inputs, hidden)
        return self._rollout(state, num_steps, batch_size, targets, ground_truth_probability, first_input)

    def _frame_shape(self) -> tuple[int, ...]:
        """The shape of one frame in model space: (D,), or (C', h, w) for the spatial family."""
        if isinstance(self.readout, nn.Conv2d):
            return (self.readout.out_channels, *self.lstm.grid_size)
        return (self.readout.out_features,)

    def _rollout(self, state, num_steps, batch_size, targets, ground_truth_probability, first_input) -> Tensor:
        step = self.lstm.stepper()
        readout = readout_stepper(self.readout)
        x = first_input
        outputs = []
        for t in range(num_steps):
            hidden, state = step(x, state)
            out = self._with_skip(readout(hidden), x, hidden)  # (B, D) or (B, C', h, w)
            outputs.append(out)
            x = self._feedback(out)
            if targets is not None and ground_truth_probability > 0.0:
                draw = torch.rand(batch_size, 1, device=x.device)
                use_truth = draw.view(batch_size, *[1] * (x.dim() - 1)) < ground_truth_probability
                x = torch.where(use_truth, targets[t], x)
        return torch.stack(outputs)  # (T, B, D)


class CompositeModel(nn.Module):
    """The LSTM autoencoder, future predictor or composite model, per its config.

    Frames are (B, T, *frame_shape) float tensors, values in [0, 1] for images.

    Args:
        config: architecture and loss; see :class:`ModelConfig`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = recurrent_stack(config, model_input_size(config))
        self.reconstructor = Decoder(config, conditional=config.conditional_reconstruction) if config.reconstruct else None
        self.predictor = Decoder(config, conditional=config.conditional_prediction) if config.predict else None
        self.apply(self._init_weights)
        for decoder in (self.reconstructor, self.predictor):
            if decoder is not None and config.readout_bias:
                nn.init.constant_(decoder.readout.bias, config.readout_bias)
        if is_spatial(config):
            # Convolutions on channels-last maps: measured 1.2x faster steps on CPU in float32 and
            # 1.25x under bf16 autocast (benchmarks/bench_convlstm.py, docs/models.md).
            self.to(memory_format=torch.channels_last)

    def _init_weights(self, module: nn.Module) -> None:
        # apply() visits children first, so a layer's own reset overrides this for its convolutions
        if isinstance(module, (LSTMLayer, ConvLSTMLayer, FlowWarp)):
            module.reset_parameters()
        elif isinstance(module, (nn.Linear, nn.Conv2d)) and self.config.init == "uniform":
            nn.init.uniform_(module.weight, -self.config.init_range, self.config.init_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        # with init "pytorch" the readout keeps its own default initialisation

    # -- shapes ---------------------------------------------------------------------------------

    def _to_time_major(self, frames: Tensor, name: str) -> Tensor:
        """(B, T, *frame_shape) -> (T, B, ...) in model space, validated (:func:`frames_to_model_space`)."""
        return frames_to_model_space(frames, self.config, name, model_dtype(self))

    def _to_batch_major(self, values: Tensor) -> Tensor:
        """(T, B, ...) in model space -> (B, T, *frame_shape)."""
        return to_frame_space(values, self.config).transpose(0, 1)

    def _loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Summed over each frame's values, averaged over frames and sequences."""
        frames = targets.shape[0] * targets.shape[1]
        if self.config.output == "bernoulli":
            total = F.binary_cross_entropy_with_logits(outputs.float(), targets, reduction="sum")
        else:
            total = (outputs.float() - targets).square().sum()
        return total / frames

    # -- stages ---------------------------------------------------------------------------------

    def _encode(self, inputs: Tensor) -> list[State]:
        states = self.encoder.zero_state(inputs.shape[1], inputs)
        _, states = self.encoder(inputs, states)
        return states

    def forward(self, inputs: Tensor, future: Tensor | None = None, *, ground_truth_probability: float | None = None) -> dict[str, Tensor]:
        """Training forward pass.

        Args:
            inputs: (B, T, *frame_shape) input frames.
            future: (B, K, *frame_shape) the frames that follow; required by a model with a
                predictor, ignored by an autoencoder.
            ground_truth_probability: overrides the config's, for scheduled sampling schedules.

        Returns:
            ``loss`` (the sum of the decoders' losses), ``reconstruction_loss`` and/or
            ``prediction_loss``, and ``reconstruction`` (B, T, ...) / ``prediction`` (B, K, ...)
            in [0, 1]. ``reconstruction[:, t]`` reconstructs ``inputs[:, t]`` (the decoder made
            it in reverse order). With Bernoulli outputs also ``*_logits``.
        """
        x = self._to_time_major(inputs, "inputs")
        state = self._encode(x)
        p_truth = self._training_truth_probability(ground_truth_probability)
        result: dict[str, Tensor] = {}
        losses = []
        decoders = [("reconstruction", self.reconstructor, lambda: x.flip(0)), ("prediction", self.predictor, None)]
        for name, decoder, make_targets in decoders:
            if decoder is None:
                continue
            if make_targets is not None:
                targets = make_targets()  # (T, B, D): input frames in reverse order
            else:
                if future is None:
                    raise InvalidInputError("this model predicts the future: pass the future frames, or use model.predict() for inference")
                targets = self._to_time_major(future, "future")
            first = self._first_input(decoder, x)
            outputs = decoder(state, targets.shape[0], targets=targets, ground_truth_probability=p_truth, first_input=first)
            loss = self._loss(outputs, targets)
            losses.append(loss)
            result[f"{name}_loss"] = loss
            if make_targets is not None:
                outputs = outputs.flip(0)  # back to the inputs' order
            result[name] = self._to_batch_major(decoder.to_frames(outputs))
            if decoder.bernoulli:
                result[f"{name}_logits"] = self._to_batch_major(outputs)
        result["loss"] = torch.stack(losses).sum()
        return result

    def _first_input(self, decoder: Decoder, inputs: Tensor) -> Tensor | None:
        """What a conditional decoder is fed first: the last input frame for a predictor so
        configured, else zeros (None)."""
        if decoder is self.predictor and self.config.predictor_first_input == "last_input":
            return inputs[-1]
        return None

    def _training_truth_probability(self, override: float | None) -> float:
        mode = self.config.decoder_training_input
        if not self.training:
            return 0.0  # evaluation is inference: a conditional decoder sees its own output
        if mode == "scheduled":
            return self.config.ground_truth_probability if override is None else float(override)
        return 1.0 if mode == "ground_truth" else 0.0

    def encode(self, frames: Tensor) -> list[State]:
        """The encoder's final state after reading ``frames`` (B, T, ...): one (h, c) per layer."""
        with evaluation_mode(self):
            return self._encode(self._to_time_major(frames, "frames"))

    def features(self, frames: Tensor) -> Tensor:
        """The learned representation: the encoder's final (h, c) of every layer, flattened and
        concatenated: (B, 2 * L * H) flat; (B, 2 * L * C * h * w) spatial, each map in (C, h, w) order."""
        state = self.encode(frames)
        return torch.cat([part.flatten(1) for layer_state in state for part in layer_state], dim=1)

    def reconstruct(self, frames: Tensor) -> Tensor:
        """Reconstruct ``frames`` (B, T, ...) from the encoder's state, in their natural order."""
        if self.reconstructor is None:
            raise InvalidInputError("this model has no reconstruction decoder (config reconstruct=False)")
        with evaluation_mode(self):
            x = self._to_time_major(frames, "frames")
            outputs = self.reconstructor(self._encode(x), x.shape[0])
            return self._to_batch_major(self.reconstructor.to_frames(outputs.flip(0)))

    def predict(self, frames: Tensor, num_future: int | None = None) -> Tensor:
        """Predict the ``num_future`` frames (default: as trained) after ``frames`` (B, T, ...).

        Any ``num_future`` works, far past the trained horizon too; a conditional predictor is fed
        its own previous output.
        """
        if self.predictor is None:
            raise InvalidInputError("this model has no future predictor (config predict=False)")
        steps = self.config.num_future_frames if num_future is None else check_int("num_future", num_future, 1)
        with evaluation_mode(self):
            x = self._to_time_major(frames, "frames")
            outputs = self.predictor(self._encode(x), steps, first_input=self._first_input(self.predictor, x))
            return self._to_batch_major(self.predictor.to_frames(outputs))


def build_model(name_or_config: str | ModelConfig, **overrides) -> CompositeModel:
    """A model from a preset name (``"paper"``, ``"seed"``, ``"small"``, ``"tiny"``) or a config.

    Args:
        name_or_config: preset name or :class:`ModelConfig`.
        **overrides: config fields to change, e.g. ``hidden_size=256``.
    """
    config = preset(name_or_config) if isinstance(name_or_config, str) else name_or_config
    if overrides:
        config = config.replace(**overrides)
    return CompositeModel(config)
