"""The ConvLSTM layer against a direct float64 reference: one pixel, one gate, one sum at a time."""

from __future__ import annotations

import math

import pytest
import torch

from videoae.models.convlstm import ConvLSTMLayer, ConvLSTMStack


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _reference_step(layer: ConvLSTMLayer, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shi et al.'s equations written out per output pixel, with zero padding, for one sample."""
    channels, height, width = h.shape
    k, pad = layer.kernel_size, layer.kernel_size // 2
    w_x = layer.input_conv.weight if layer.input_conv is not None else None
    w_h, bias = layer.hidden_conv.weight, layer.hidden_conv.bias

    def conv_at(weight: torch.Tensor, source: torch.Tensor, out_channel: int, row: int, col: int) -> float:
        total = 0.0
        for in_channel in range(source.shape[0]):
            for dr in range(k):
                for dc in range(k):
                    r, q = row + dr - pad, col + dc - pad
                    if 0 <= r < height and 0 <= q < width:
                        total += float(weight[out_channel, in_channel, dr, dc]) * float(source[in_channel, r, q])
        return total

    h_new, c_new = torch.zeros_like(h), torch.zeros_like(c)
    for ch in range(channels):
        for row in range(height):
            for col in range(width):
                gate = []
                for g in range(4):
                    out_channel = g * channels + ch
                    value = float(bias[out_channel]) + conv_at(w_h, h, out_channel, row, col)
                    if w_x is not None:
                        value += conv_at(w_x, x, out_channel, row, col)
                    gate.append(value)
                i, f, g, o = gate
                c_prev = float(c[ch, row, col])
                if layer.peephole is not None:
                    i += float(layer.peephole[0, ch, row, col]) * c_prev
                    f += float(layer.peephole[1, ch, row, col]) * c_prev
                cell = _sigmoid(f) * c_prev + _sigmoid(i) * math.tanh(g)
                if layer.peephole is not None:
                    o += float(layer.peephole[2, ch, row, col]) * cell
                c_new[ch, row, col] = cell
                h_new[ch, row, col] = _sigmoid(o) * math.tanh(cell)
    return h_new, c_new


@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("in_channels, kernel_size", [(2, 3), (0, 3), (1, 5)])
def test_a_layer_follows_the_equations_pixel_by_pixel(peepholes: bool, in_channels: int, kernel_size: int) -> None:
    torch.manual_seed(0)
    layer = ConvLSTMLayer(
        in_channels, 2, kernel_size=kernel_size, grid_size=(4, 3), peepholes=peepholes, init="uniform", init_range=0.5, forget_bias=0.3
    ).double()
    with torch.no_grad():
        layer.hidden_conv.bias.uniform_(-0.5, 0.5)
    steps, batch = 3, 2
    x = torch.randn(steps, batch, in_channels, 4, 3, dtype=torch.float64) if in_channels else None
    h0, c0 = torch.randn(batch, 2, 4, 3, dtype=torch.float64), torch.randn(batch, 2, 4, 3, dtype=torch.float64)

    with torch.no_grad():
        outputs, (h_last, c_last) = layer(x, (h0, c0), num_steps=steps)
        for b in range(batch):
            h, c = h0[b], c0[b]
            for t in range(steps):
                h, c = _reference_step(layer, x[t, b] if x is not None else None, h, c)
                torch.testing.assert_close(outputs[t, b], h, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(h_last[b], h, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(c_last[b], c, rtol=1e-12, atol=1e-12)


def test_the_stepper_matches_a_sequence_run_and_gradients_check() -> None:
    torch.manual_seed(1)
    stack = ConvLSTMStack(3, 4, 2, kernel_size=3, grid_size=(4, 4), peepholes=True).double()
    x = torch.randn(3, 2, 3, 4, 4, dtype=torch.float64)
    states = stack.zero_state(2, x)
    outputs, final = stack(x, states)
    step, state, stepped = stack.stepper(), states, []
    for t in range(3):
        out, state = step(x[t], state)
        stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped), outputs, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state[1][1], final[1][1], rtol=1e-12, atol=1e-12)

    small = ConvLSTMLayer(1, 2, kernel_size=3, grid_size=(3, 3), peepholes=True).double()
    inputs = torch.randn(2, 1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h: small(x, (h, torch.zeros_like(h)))[0], (inputs, h0))


def test_even_kernels_and_missing_step_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMLayer(1, 2, kernel_size=4, grid_size=(4, 4))
    layer = ConvLSTMLayer(0, 2, kernel_size=3, grid_size=(4, 4))
    with pytest.raises(ValueError, match="num_steps"):
        layer(None, (torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)))
