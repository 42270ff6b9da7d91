"""The LSTM layer and stack, with optional peephole connections, and their fast path.

Gate order and equations follow ``torch.nn.LSTM`` (input, forget, cell, output); with peepholes off
a layer computes what ``nn.LSTM`` computes from the same weights. With peepholes on (the paper
authors' LSTM, Gers & Schmidhuber 2000) the input and forget gates also see the previous cell state
and the output gate the new one, through per-unit weights:

    i = sigmoid(W_i x + U_i h + p_i * c_prev + b_i)      f = sigmoid(... + p_f * c_prev ...)
    g = tanh(W_g x + U_g h + b_g)                        c = f * c_prev + i * g
    o = sigmoid(W_o x + U_o h + p_o * c + b_o)           h = o * tanh(c)

Fast path: where the whole input sequence is known (the encoder, a decoder fed ground truth or
nothing) its projection ``W x`` is one large matrix product over all timesteps; the per-timestep
products (``U h``, and ``W x`` when a decoder is fed its own output) take their weight gradient
from :mod:`videoae.models.deferred_grad`, one large product per backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from videoae.models.deferred_grad import weight_product

State = tuple[Tensor, Tensor]  # (h, c), each (B, H)
INIT_SCHEMES = ("uniform", "pytorch")
NUM_GATES = 4


class LSTMLayer(nn.Module):
    """One LSTM layer over (T, B, input_size) sequences.

    Args:
        input_size: features per timestep; 0 for a layer that receives no input (an
            unconditional decoder's first layer), which then has no input weights.
        hidden_size: number of units.
        peepholes: add the peephole connections of the paper authors' LSTM.
        forget_bias: added to the forget gate's bias after initialisation.
        init: ``"uniform"`` (the authors': weights and biases from U(-init_range, init_range) and
            U(0, 0) respectively, peepholes from U(-peephole_init_range, peephole_init_range)) or
            ``"pytorch"`` (``nn.LSTM``'s default: everything from U(-1/sqrt(H), 1/sqrt(H))).
        init_range: half-width of the authors' uniform weight initialisation.
        peephole_init_range: half-width of the authors' uniform peephole initialisation.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        peepholes: bool = False,
        forget_bias: float = 0.0,
        init: str = "pytorch",
        init_range: float = 0.01,
        peephole_init_range: float = 0.1,
    ) -> None:
        super().__init__()
        if init not in INIT_SCHEMES:
            raise ValueError(f"unknown init {init!r}; choose one of {INIT_SCHEMES}")
        if input_size < 0 or hidden_size < 1:
            raise ValueError(f"need input_size >= 0 and hidden_size >= 1, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.init, self.forget_bias = init, forget_bias
        self.init_range, self.peephole_init_range = init_range, peephole_init_range
        gates = NUM_GATES * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size)) if input_size > 0 else None
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size))
        self.bias = nn.Parameter(torch.empty(gates))
        self.peephole = nn.Parameter(torch.empty(3, hidden_size)) if peepholes else None  # (i, f, o)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise with the configured scheme, then add the forget-gate bias."""
        with torch.no_grad():
            if self.init == "pytorch":
                bound = 1.0 / math.sqrt(self.hidden_size)
                for param in self.parameters():
                    param.uniform_(-bound, bound)
            else:
                for weight in (self.weight_ih, self.weight_hh):
                    if weight is not None:
                        weight.uniform_(-self.init_range, self.init_range)
                self.bias.zero_()
                if self.peephole is not None:
                    self.peephole.uniform_(-self.peephole_init_range, self.peephole_init_range)
            self.bias[self.hidden_size : 2 * self.hidden_size] += self.forget_bias

    def project_inputs(self, inputs: Tensor | None, num_steps: int, batch_size: int) -> Tensor:
        """``W x + b`` for every timestep at once: (T, B, input_size) -> (T, B, 4H)."""
        if inputs is None:
            return self.bias.expand(num_steps, batch_size, -1)
        return F.linear(inputs, self.weight_ih, self.bias)

    def cell(self, gate_inputs: Tensor, state: State, recurrent: Callable[[Tensor], Tensor]) -> State:
        """One timestep from the input part of the gates, (B, 4H), and the previous state."""
        h_prev, c_prev = state
        gates = gate_inputs + recurrent(h_prev)
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

    def recurrent_weight(self) -> Callable[[Tensor], Tensor]:
        """``h -> U h`` for one forward pass (see :func:`~videoae.models.deferred_grad.weight_product`)."""
        return weight_product(self.weight_hh)

    def input_weight(self) -> Callable[[Tensor], Tensor] | None:
        """``x -> W x`` (no bias) for inputs that arrive one timestep at a time."""
        return None if self.weight_ih is None else weight_product(self.weight_ih)

    def forward(self, inputs: Tensor | None, state: State, *, num_steps: int | None = None) -> tuple[Tensor, State]:
        """Run over a whole known sequence.

        Args:
            inputs: (T, B, input_size), or None for a layer without inputs (then give num_steps).
            state: initial (h, c), each (B, H).
            num_steps: number of timesteps when ``inputs`` is None.

        Returns:
            hidden states (T, B, H) and the final (h, c).
        """
        steps = inputs.shape[0] if inputs is not None else num_steps
        if steps is None:
            raise ValueError("num_steps is required when the layer has no inputs")
        gate_inputs = self.project_inputs(inputs, steps, state[0].shape[0])  # (T, B, 4H)
        recurrent = self.recurrent_weight()
        outputs = []
        # unbind, not gate_inputs[t]: indexing would make backward fill a (T, B, 4H) zero
        # tensor for every timestep.
        for step_inputs in gate_inputs.unbind(0):
            state = self.cell(step_inputs, state, recurrent)
            outputs.append(state[0])
        return torch.stack(outputs), state

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, peepholes={self.peephole is not None}"


class RecurrentStack(nn.Module):
    """Layers run one after the other over a known sequence, with dropout between layers as in
    ``nn.LSTM``: what the flat and the spatial stacks share.

    Args:
        make_layer: builds a layer from its input size and hidden size; each layer maps
            ``(inputs, state, num_steps=)`` to ``(outputs, final state)``.
        input_size: input features or channels of the first layer (0: no input).
        hidden_size: hidden features or channels of every layer, the input of all but the first.
        num_layers: number of layers.
        dropout: dropout probability on the outputs of every layer but the last, in training.
    """

    def __init__(
        self, make_layer: Callable[[int, int], nn.Module], input_size: int, hidden_size: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(make_layer(size, hidden_size) for size in sizes)
        self.dropout = dropout

    def _drop(self, x: Tensor, layer_index: int) -> Tensor:
        if layer_index < len(self.layers) - 1 and self.dropout > 0:
            return F.dropout(x, self.dropout, self.training)
        return x

    def forward(self, inputs: Tensor | None, states: list[State], *, num_steps: int | None = None) -> tuple[Tensor, list[State]]:
        """Run a known sequence layer by layer: (T, B, ...) -> (T, B, ...) hidden states, final states."""
        new_states = []
        x = inputs
        for index, (layer, state) in enumerate(zip(self.layers, states)):
            x, final = layer(x, state, num_steps=num_steps)
            x = self._drop(x, index)
            new_states.append(final)
        return x, new_states


class LSTMStack(RecurrentStack):
    """Layers of :class:`LSTMLayer`, with dropout between layers as in ``nn.LSTM``.

    Args:
        input_size: features per timestep of the first layer (0: no input).
        hidden_size: units per layer.
        num_layers: number of layers.
        dropout: dropout probability on the outputs of every layer but the last, in training.
        **layer_options: passed to every :class:`LSTMLayer`.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, *, dropout: float = 0.0, **layer_options) -> None:
        super().__init__(partial(LSTMLayer, **layer_options), input_size, hidden_size, num_layers, dropout)
        self.hidden_size = hidden_size

    def zero_state(self, batch_size: int, like: Tensor) -> list[State]:
        """All-zero (h, c) for every layer."""
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return [(zeros, zeros) for _ in self.layers]

    def stepper(self) -> Callable[[Tensor | None, list[State]], tuple[Tensor, list[State]]]:
        """A function taking one timestep through every layer, for inputs produced on the fly.

        Create one per forward pass: it holds that pass's deferred weight gradients.
        """
        input_weights = [layer.input_weight() for layer in self.layers]
        recurrent_weights = [layer.recurrent_weight() for layer in self.layers]

        def step(x: Tensor | None, states: list[State]) -> tuple[Tensor, list[State]]:
            new_states = []
            for index, layer in enumerate(self.layers):
                state = states[index]
                if x is None:
                    gate_inputs = layer.bias.expand(state[0].shape[0], -1)
                else:
                    gate_inputs = input_weights[index](x) + layer.bias
                state = layer.cell(gate_inputs, state, recurrent_weights[index])
                x = self._drop(state[0], index)
                new_states.append(state)
            return x, new_states

        return step
