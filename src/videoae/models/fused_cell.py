"""The element-wise part of one LSTM timestep as a single autograd node with a hand-written backward.

Plain autograd records each of the cell's dozen element-wise operations as its own node and runs
roughly twice as many kernels backwards, each with per-call overhead; for the small hidden sizes
trained on CPUs that overhead, not arithmetic, dominates a step. :func:`lstm_cell` computes the
same values (the equations in :mod:`videoae.models.lstm`) with one node whose backward is the
closed-form derivative below; tests check it against autograd with ``gradcheck`` in float64.

With ``s = sigmoid`` and pre-activations ``a_i, a_f, a_g, a_o`` (peepholes ``p`` optional)::

    i = s(a_i + p_i c_prev)   f = s(a_f + p_f c_prev)   g = tanh(a_g)
    c = f c_prev + i g        o = s(a_o + p_o c)        h = o tanh(c)

    dA_o = dh tanh(c) o (1 - o)
    dc   = dc_next + dh o (1 - tanh(c)^2) + p_o dA_o
    dA_i = dc g i (1 - i)     dA_f = dc c_prev f (1 - f)     dA_g = dc i (1 - g^2)
    dc_prev = dc f + p_i dA_i + p_f dA_f
    dp_i = sum_batch(dA_i c_prev)   dp_f = sum_batch(dA_f c_prev)   dp_o = sum_batch(dA_o c)
"""

from __future__ import annotations

import torch
from torch import Tensor

NUM_GATES = 4


class _LSTMCell(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gates: Tensor, c_prev: Tensor, peephole: Tensor | None) -> tuple[Tensor, Tensor]:  # noqa: ANN001
        a_i, a_f, a_g, a_o = gates.chunk(NUM_GATES, dim=1)
        if peephole is not None:
            a_i = torch.addcmul(a_i, peephole[0], c_prev)
            a_f = torch.addcmul(a_f, peephole[1], c_prev)
        i, f, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g)
        c = torch.addcmul(f * c_prev, i, g)
        if peephole is not None:
            a_o = torch.addcmul(a_o, peephole[2], c)
        o, tanh_c = torch.sigmoid(a_o), torch.tanh(c)
        h = o * tanh_c
        ctx.save_for_backward(i, f, g, o, tanh_c, c_prev, c if peephole is not None else None, peephole)
        return h, c

    @staticmethod
    def backward(ctx, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:  # noqa: ANN001
        i, f, g, o, tanh_c, c_prev, c, peephole = ctx.saved_tensors
        d_o = grad_h * tanh_c * o * (1 - o)
        d_c = torch.addcmul(grad_c, grad_h * o, 1 - tanh_c * tanh_c)
        if peephole is not None:
            d_c = torch.addcmul(d_c, d_o, peephole[2])
        d_i = d_c * g * i * (1 - i)
        d_f = d_c * c_prev * f * (1 - f)
        d_g = d_c * i * (1 - g * g)
        d_c_prev = d_c * f
        d_peephole = None
        if peephole is not None:
            d_c_prev = torch.addcmul(torch.addcmul(d_c_prev, d_i, peephole[0]), d_f, peephole[1])
            if ctx.needs_input_grad[2]:
                d_peephole = torch.stack([(d_i * c_prev).sum(0), (d_f * c_prev).sum(0), (d_o * c).sum(0)])
        return torch.cat([d_i, d_f, d_g, d_o], dim=1), d_c_prev, d_peephole


def lstm_cell(gates: Tensor, c_prev: Tensor, peephole: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(h, c)`` of one timestep from the summed pre-activations ``gates`` (B, 4H) in nn.LSTM's
    gate order (input, forget, cell, output), the previous cell state (B, H) and optional peephole
    weights (3, H) for (input, forget, output)."""
    return _LSTMCell.apply(gates, c_prev, peephole)
