"""The convolutional LSTM layer and stack (Shi et al. 2015), with optional peepholes.

A ConvLSTM is an LSTM whose units are a (C, H, W) map: every gate is a convolution over the input
and the previous hidden map, and the peepholes are element-wise weights on the cell state, one
value per unit and position:

    i = sigmoid(W_i * x + U_i * h + p_i . c_prev + b_i)     f = sigmoid(... + p_f . c_prev ...)
    g = tanh(W_g * x + U_g * h + b_g)                      c = f . c_prev + i . g
    o = sigmoid(W_o * x + U_o * h + p_o . c + b_o)         h = o . tanh(c)

(``*`` a same-padded convolution, ``.`` the element-wise product; gate order as ``torch.nn.LSTM``.)

Where the whole input sequence is known (the encoder, a decoder fed ground truth) ``W * x`` is
one convolution over all timesteps at once, and each timestep convolves only the hidden map: less
work per step than the usual single convolution over the concatenated ``[x, h]``, with the same
result.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

from videoae.models.lstm import INIT_SCHEMES, NUM_GATES, RecurrentStack, State


class ConvLSTMLayer(nn.Module):
    """One ConvLSTM layer over (T, B, in_channels, H, W) sequences.

    Args:
        in_channels: input channels per timestep; 0 for a layer that receives no input (an
            unconditional decoder's first layer), which then has no input convolution.
        channels: hidden channels C.
        kernel_size: side of the square convolution kernels (odd, same padding).
        grid_size: (H, W) of the maps, needed for the peephole weights.
        peepholes: add element-wise peephole weights on the cell state.
        forget_bias: added to the forget gate's bias after initialisation.
        init: ``"pytorch"`` (``nn.Conv2d``'s default) or ``"uniform"`` (weights from
            U(-init_range, init_range), biases 0, peepholes from U(-peephole_init_range, ...)).
        init_range, peephole_init_range: half-widths of the uniform initialisation.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        *,
        kernel_size: int,
        grid_size: tuple[int, int],
        peepholes: bool = False,
        forget_bias: float = 0.0,
        init: str = "pytorch",
        init_range: float = 0.01,
        peephole_init_range: float = 0.1,
    ) -> None:
        super().__init__()
        if init not in INIT_SCHEMES:
            raise ValueError(f"unknown init {init!r}; choose one of {INIT_SCHEMES}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        self.in_channels, self.channels, self.kernel_size = in_channels, channels, kernel_size
        self.init, self.forget_bias = init, forget_bias
        self.init_range, self.peephole_init_range = init_range, peephole_init_range
        gates, padding = NUM_GATES * channels, kernel_size // 2
        # The bias lives on the hidden convolution, which every timestep runs.
        self.input_conv = nn.Conv2d(in_channels, gates, kernel_size, padding=padding, bias=False) if in_channels > 0 else None
        self.hidden_conv = nn.Conv2d(channels, gates, kernel_size, padding=padding)
        self.peephole = nn.Parameter(torch.empty(3, channels, *grid_size)) if peepholes else None  # (i, f, o)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise with the configured scheme, then add the forget-gate bias."""
        with torch.no_grad():
            for conv in (self.input_conv, self.hidden_conv):
                if conv is None:
                    continue
                if self.init == "pytorch":
                    conv.reset_parameters()
                else:
                    conv.weight.uniform_(-self.init_range, self.init_range)
            if self.init == "uniform":
                self.hidden_conv.bias.zero_()
            if self.peephole is not None:
                bound = self.peephole_init_range if self.init == "uniform" else 1.0 / self.channels**0.5
                self.peephole.uniform_(-bound, bound)
            self.hidden_conv.bias[self.channels : 2 * self.channels] += self.forget_bias

    def project_inputs(self, inputs: Tensor) -> Tensor:
        """``W * x`` for every timestep at once: (T, B, in, H, W) -> (T, B, 4C, H, W)."""
        steps, batch = inputs.shape[:2]
        projected = self.input_conv(inputs.flatten(0, 1))  # (T*B, 4C, H, W)
        return projected.unflatten(0, (steps, batch))

    def cell(self, gate_inputs: Tensor | None, state: State) -> State:
        """One timestep from the input part of the gates (B, 4C, H, W), or None, and the state."""
        h_prev, c_prev = state
        gates = self.hidden_conv(h_prev)
        if gate_inputs is not None:
            gates = gates + gate_inputs
        if gates.dtype in (torch.float16, torch.bfloat16):
            gates = gates.float()  # under autocast too, the cell state accumulates in float32
        i, f, g, o = gates.chunk(NUM_GATES, dim=1)
        if self.peephole is not None:
            i = i + self.peephole[0] * c_prev
            f = f + self.peephole[1] * c_prev
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        if self.peephole is not None:
            o = o + self.peephole[2] * c
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def forward(self, inputs: Tensor | None, state: State, *, num_steps: int | None = None) -> tuple[Tensor, State]:
        """Run over a whole known sequence.

        Args:
            inputs: (T, B, in_channels, H, W), or None for a layer without inputs (then give num_steps).
            state: initial (h, c), each (B, C, H, W).
            num_steps: number of timesteps when ``inputs`` is None.

        Returns:
            hidden maps (T, B, C, H, W) and the final (h, c).
        """
        steps = inputs.shape[0] if inputs is not None else num_steps
        if steps is None:
            raise ValueError("num_steps is required when the layer has no inputs")
        gate_inputs = self.project_inputs(inputs).unbind(0) if inputs is not None else [None] * steps
        outputs = []
        for step_inputs in gate_inputs:
            state = self.cell(step_inputs, state)
            outputs.append(state[0])
        return torch.stack(outputs), state

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.channels}, kernel_size={self.kernel_size}, peepholes={self.peephole is not None}"


class ConvLSTMStack(RecurrentStack):
    """Layers of :class:`ConvLSTMLayer` on one grid, with dropout between layers.

    The same interface as :class:`~videoae.models.lstm.LSTMStack`, on maps instead of vectors.

    Args:
        in_channels: input channels of the first layer (0: no input).
        channels: hidden channels per layer.
        num_layers: number of layers.
        dropout: dropout probability on the outputs of every layer but the last, in training.
        **layer_options: passed to every :class:`ConvLSTMLayer` (kernel_size and grid_size required).
    """

    def __init__(self, in_channels: int, channels: int, num_layers: int, *, dropout: float = 0.0, **layer_options) -> None:
        super().__init__(partial(ConvLSTMLayer, **layer_options), in_channels, channels, num_layers, dropout)
        self.channels = channels
        self.grid_size = tuple(layer_options["grid_size"])

    def zero_state(self, batch_size: int, like: Tensor) -> list[State]:
        """All-zero (h, c) maps for every layer."""
        zeros = like.new_zeros(batch_size, self.channels, *self.grid_size)
        return [(zeros, zeros) for _ in self.layers]

    def stepper(self) -> Callable[[Tensor | None, list[State]], tuple[Tensor, list[State]]]:
        """A function taking one timestep through every layer, for inputs produced on the fly."""

        def step(x: Tensor | None, states: list[State]) -> tuple[Tensor, list[State]]:
            new_states = []
            for index, layer in enumerate(self.layers):
                gate_inputs = None if x is None else layer.input_conv(x)
                state = layer.cell(gate_inputs, states[index])
                x = self._drop(state[0], index)
                new_states.append(state)
            return x, new_states

        return step
