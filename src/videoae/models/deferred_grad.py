"""Weight gradients computed once per backward pass instead of once per timestep.

A recurrent network multiplies the same weight matrix by a new (batch, features) input at every
timestep. Plain autograd then computes that weight's gradient at every timestep as a product whose
inner dimension is the batch size (64): a rank-64 update of a multi-megabyte matrix, which is
memory-bound and several times slower than one product over all timesteps at once.

:func:`deferred_linear` computes ``x @ weight.T`` like ``F.linear`` but, in backward, only stores
the pair ``(grad_output, x)``. The weight's gradient is produced by one matrix product over all
stored pairs when autograd reaches the node that :class:`DeferredWeight` created before the first
use, which autograd runs only after every use has been differentiated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

# The fast path is on by default: it gives the same gradients as plain autograd (tests compare
# them) in a fraction of the time. Tests and benchmarks turn it off with plain_autograd().
_deferred = True


@contextlib.contextmanager
def plain_autograd() -> Iterator[None]:
    """Within this block every model uses plain autograd instead of deferred weight gradients."""
    global _deferred
    previous, _deferred = _deferred, False
    try:
        yield
    finally:
        _deferred = previous


def weight_product(weight: Tensor) -> Callable[[Tensor], Tensor]:
    """``x -> x @ weight.T`` for one forward pass: with a deferred weight gradient unless inside
    :func:`plain_autograd`. Create one per forward pass and weight."""
    if _deferred:
        return DeferredWeight(weight)
    return lambda x: F.linear(x, weight)


class _Collector:
    """The (grad_output, input) pairs of every use of one weight in one forward pass."""

    def __init__(self) -> None:
        self.grad_outputs: list[Tensor] = []
        self.inputs: list[Tensor] = []

    def add(self, grad_output: Tensor, inputs: Tensor) -> None:
        self.grad_outputs.append(grad_output)
        self.inputs.append(inputs)

    def weight_grad(self, weight: Tensor) -> Tensor:
        if not self.grad_outputs:
            return torch.zeros_like(weight)
        grad_outputs = torch.cat(self.grad_outputs)  # (uses * B, out)
        inputs = torch.cat(self.inputs)  # (uses * B, in)
        self.grad_outputs, self.inputs = [], []
        return grad_outputs.t().mm(inputs).to(weight.dtype)  # (out, in), one product over all timesteps


class _Token(torch.autograd.Function):
    """A scalar that every deferred use depends on, so its backward runs after all of theirs."""

    @staticmethod
    def forward(ctx, weight: Tensor, collector: _Collector) -> Tensor:  # type: ignore[override]
        ctx.collector = collector
        ctx.save_for_backward(weight)
        return weight.new_zeros(())

    @staticmethod
    def backward(ctx, grad_token: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        return ctx.collector.weight_grad(weight), None


class _DeferredLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, token: Tensor, weight: Tensor, collector: _Collector) -> Tensor:  # type: ignore[override]
        # Under autocast (bf16 on CUDA) compute in the autocast dtype, as F.linear would.
        ctx.input_dtype, ctx.token_dtype = x.dtype, token.dtype
        device_type = x.device.type
        if torch.is_autocast_enabled(device_type):
            dtype = torch.get_autocast_dtype(device_type)
            x, weight = x.to(dtype), weight.to(dtype)
        ctx.collector = collector
        ctx.save_for_backward(x, weight)
        return x.mm(weight.t())

    @staticmethod
    def backward(ctx, grad_y: Tensor) -> tuple[Tensor | None, Tensor, None, None]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_y = grad_y.to(x.dtype)
        ctx.collector.add(grad_y, x)
        grad_x = grad_y.mm(weight).to(ctx.input_dtype) if ctx.needs_input_grad[0] else None
        return grad_x, grad_y.new_zeros((), dtype=ctx.token_dtype), None, None


class DeferredWeight:
    """One weight matrix used at many timesteps of one forward pass, with a deferred gradient.

    Create one per forward pass, then call it in place of ``F.linear(x, weight)`` (no bias).

    Args:
        weight: the ``(out_features, in_features)`` parameter.
    """

    def __init__(self, weight: Tensor) -> None:
        self.weight = weight
        self._track = torch.is_grad_enabled() and weight.requires_grad
        if self._track:
            self._collector = _Collector()
            self._token = _Token.apply(weight, self._collector)

    def __call__(self, x: Tensor) -> Tensor:
        """``x @ weight.T`` for a 2-D ``x`` of shape ``(B, in_features)``."""
        if not self._track:
            return x.mm(self.weight.t())
        return _DeferredLinear.apply(x, self._token, self.weight.detach(), self._collector)
