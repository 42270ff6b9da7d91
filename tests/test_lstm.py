"""The LSTM layer: agreement with torch.nn.LSTM, peepholes, and the fast path's gradients."""

from __future__ import annotations

import contextlib

import pytest
import torch

from videoae.models.deferred_grad import DeferredWeight, plain_autograd
from videoae.models.lstm import LSTMLayer, LSTMStack


def _copy_from_torch(stack: LSTMStack, reference: torch.nn.LSTM) -> None:
    with torch.no_grad():
        for index, layer in enumerate(stack.layers):
            layer.weight_ih.copy_(getattr(reference, f"weight_ih_l{index}"))
            layer.weight_hh.copy_(getattr(reference, f"weight_hh_l{index}"))
            layer.bias.copy_(getattr(reference, f"bias_ih_l{index}") + getattr(reference, f"bias_hh_l{index}"))


def _path(fast: bool) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext() if fast else plain_autograd()


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("fast", [True, False])
def test_matches_torch_lstm_without_peepholes(num_layers: int, fast: bool) -> None:
    torch.manual_seed(0)
    steps, batch, inputs_size, hidden = 6, 3, 5, 7
    reference = torch.nn.LSTM(inputs_size, hidden, num_layers=num_layers).double()
    stack = LSTMStack(inputs_size, hidden, num_layers).double()
    _copy_from_torch(stack, reference)
    x = torch.randn(steps, batch, inputs_size, dtype=torch.float64)
    h0 = torch.randn(num_layers, batch, hidden, dtype=torch.float64)
    c0 = torch.randn(num_layers, batch, hidden, dtype=torch.float64)

    expected, (h_n, c_n) = reference(x, (h0, c0))
    with _path(fast):
        outputs, states = stack(x, [(h0[i], c0[i]) for i in range(num_layers)])

    torch.testing.assert_close(outputs, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([s[0] for s in states]), h_n, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([s[1] for s in states]), c_n, rtol=1e-12, atol=1e-12)

    # and the gradients with respect to the weights and inputs
    x.requires_grad_(True)
    reference.zero_grad()
    ref_out, _ = reference(x, (h0, c0))
    (ref_out.sin().sum()).backward()
    ref_grads = [reference.weight_ih_l0.grad.clone(), reference.weight_hh_l0.grad.clone(), x.grad.clone()]
    x.grad = None
    with _path(fast):
        out, _ = stack(x, [(h0[i], c0[i]) for i in range(num_layers)])
        out.sin().sum().backward()
    ours = [stack.layers[0].weight_ih.grad, stack.layers[0].weight_hh.grad, x.grad]
    for a, b in zip(ours, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_peepholes_follow_the_equations() -> None:
    torch.manual_seed(1)
    layer = LSTMLayer(3, 4, peepholes=True, init="uniform", init_range=0.5, peephole_init_range=0.5).double()
    x = torch.randn(1, 2, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    out, (h, c) = layer(x, (h0, c0))

    gates = x[0] @ layer.weight_ih.T + h0 @ layer.weight_hh.T + layer.bias
    i, f, g, o = gates.chunk(4, dim=1)
    p = layer.peephole
    i = torch.sigmoid(i + p[0] * c0)
    f = torch.sigmoid(f + p[1] * c0)
    c_expected = f * c0 + i * torch.tanh(g)
    h_expected = torch.sigmoid(o + p[2] * c_expected) * torch.tanh(c_expected)
    torch.testing.assert_close(c, c_expected)
    torch.testing.assert_close(h, h_expected)
    torch.testing.assert_close(out[0], h_expected)


def test_authors_initialisation_and_forget_bias() -> None:
    layer = LSTMLayer(50, 40, peepholes=True, init="uniform", init_range=0.01, peephole_init_range=0.1, forget_bias=5.0)
    assert layer.weight_ih.abs().max() <= 0.01 and layer.weight_hh.abs().max() <= 0.01
    assert layer.peephole.abs().max() <= 0.1 and layer.peephole.abs().max() > 0.01
    forget = layer.bias[40:80]
    others = torch.cat([layer.bias[:40], layer.bias[80:]])
    assert torch.all(forget == 5.0) and torch.all(others == 0.0)
    default = LSTMLayer(50, 40)
    assert default.peephole is None
    assert 0.1 < default.weight_hh.abs().max() <= 1 / 40**0.5


def test_layer_without_inputs_uses_only_its_state() -> None:
    layer = LSTMLayer(0, 4)
    assert layer.weight_ih is None
    state = (torch.randn(2, 4), torch.randn(2, 4))
    out, _ = layer(None, state, num_steps=3)
    assert out.shape == (3, 2, 4)
    with pytest.raises(ValueError, match="num_steps"):
        layer(None, state)


def test_deferred_weight_gradcheck() -> None:
    torch.manual_seed(2)
    weight = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    xs = [torch.randn(4, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)]

    def function(weight: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor:
        linear = DeferredWeight(weight)
        h = xs[0]
        outputs = []
        for x in xs:  # a recurrence: each use's input depends on the previous output
            h = torch.tanh(linear(x + h[:, :3]))
            outputs.append(h)
        return torch.stack(outputs)

    assert torch.autograd.gradcheck(function, (weight, *xs))


@pytest.mark.parametrize("peepholes", [False, True])
def test_fast_path_gradcheck(peepholes: bool) -> None:
    torch.manual_seed(3)
    layer = LSTMLayer(3, 4, peepholes=peepholes, init="uniform", init_range=0.4, peephole_init_range=0.4).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    params = list(layer.parameters())

    def function(x, h0, c0, *weights):
        out, (h, c) = layer(x, (h0, c0))
        return out, c

    assert torch.autograd.gradcheck(function, (x, h0, c0, *params))


def test_stepper_matches_sequence_run() -> None:
    torch.manual_seed(4)
    stack = LSTMStack(3, 5, 2, peepholes=True, init="uniform", init_range=0.3)
    x = torch.randn(4, 2, 3)
    states = stack.zero_state(2, x)
    expected, final = stack(x, states)
    step = stack.stepper()
    outputs = []
    for t in range(4):
        h, states = step(x[t], states)
        outputs.append(h)
    torch.testing.assert_close(torch.stack(outputs), expected)
    torch.testing.assert_close(states[1][1], final[1][1])
