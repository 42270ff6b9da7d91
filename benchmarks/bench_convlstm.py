"""Training-step speed of videoae's ConvLSTM against a conventional PyTorch ConvLSTM, side by side.

The conventional design is what most public code writes: one ``Conv2d`` over the concatenated
``[x, h]`` at every timestep, in a Python loop, default settings. Both run the same composite
model (encoder, reconstruction and future predictor, unconditional decoders, the same sizes) on
the same batches; they differ only in how the cell computes its gates. videoae's variants:
float32, channels-last memory, and bf16 autocast (fast where the CPU has AMX or AVX-512 BF16).

    python benchmarks/bench_convlstm.py                        # conv-small at batch 16
    python benchmarks/bench_convlstm.py --preset conv-openstl --batch 4 --steps 3
    python benchmarks/bench_convlstm.py --profile              # where the time goes, by operator

Prints sequences/s (median step time), GFLOP/s of the convolutions, and each variant's speed as a
ratio to the conventional design measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from videoae.models import ModelConfig, build_model
from videoae.models.cores import grid_size, model_input_size

VARIANTS = ("conventional", "videoae", "videoae-channels-last", "videoae-bf16", "videoae-bf16-channels-last")


class ConventionalConvLSTM(nn.Module):
    """The usual ConvLSTM: gates from one convolution over [x, h] at every step, no peepholes."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.in_channels, self.channels = in_channels, channels
        self.conv = nn.Conv2d(in_channels + channels, 4 * channels, kernel_size, padding=kernel_size // 2)

    def forward(
        self, inputs: list[torch.Tensor | None], h: torch.Tensor, c: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        outputs = []
        for x in inputs:
            if x is None:  # an unconditional decoder: zeros in place of the input
                x = h.new_zeros(h.shape[0], self.in_channels, *h.shape[2:])
            i, f, g, o = self.conv(torch.cat([x, h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return outputs, h, c


class ConventionalComposite(nn.Module):
    """The composite model of ``config`` (one layer per stack) built from :class:`ConventionalConvLSTM`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        size, channels, k = model_input_size(config), config.hidden_size, config.kernel_size
        self.encoder = ConventionalConvLSTM(size, channels, k)
        self.reconstructor = ConventionalConvLSTM(size, channels, k)
        self.predictor = ConventionalConvLSTM(size, channels, k)
        self.readout_r = nn.Conv2d(channels, size, 1)
        self.readout_p = nn.Conv2d(channels, size, 1)

    def forward(self, inputs: torch.Tensor, future: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.config.patch_size
        x = [F.pixel_unshuffle(frame, p) for frame in inputs.unbind(1)]
        truth = [F.pixel_unshuffle(frame, p) for frame in future.unbind(1)]
        h = x[0].new_zeros(x[0].shape[0], self.config.hidden_size, *grid_size(self.config))
        _, h, c = self.encoder(x, h, h)
        rec, _, _ = self.reconstructor([None] * len(x), h, c)
        pred, _, _ = self.predictor([None] * len(truth), h, c)
        loss = sum(F.binary_cross_entropy_with_logits(self.readout_r(r), t, reduction="sum") for r, t in zip(rec, reversed(x)))
        loss = loss + sum(F.binary_cross_entropy_with_logits(self.readout_p(q), t, reduction="sum") for q, t in zip(pred, truth))
        return {"loss": loss / (inputs.shape[0] * (len(x) + len(truth)))}


def conv_flops(config: ModelConfig, batch: int, num_input: int, num_future: int) -> float:
    """FLOPs of the gate convolutions in one training step (forward and backward, x3), videoae's count:
    input convolutions only where there is an input, no input gradient for data."""
    h, w = grid_size(config)
    k2, C, D = config.kernel_size**2, config.hidden_size, model_input_size(config)
    per_position = 2 * k2 * 4 * C
    hidden = per_position * C * h * w * batch * (num_input + 2 * num_future) * 3 * config.num_layers
    inputs = per_position * D * h * w * batch * num_input * 2  # forward and weight gradient
    return hidden + inputs


def measure(variant: str, config: ModelConfig, batch: int, steps: int, warmup: int) -> float:
    """Median seconds of one training step (forward, backward, Adam)."""
    torch.manual_seed(0)
    model = ConventionalComposite(config) if variant == "conventional" else build_model(config)
    memory = torch.channels_last if variant.endswith("channels-last") else torch.contiguous_format
    model = model.to(memory_format=memory)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    frames = torch.rand(batch, config.num_input_frames + config.num_future_frames, *config.frame_shape).round()
    inputs, future = frames[:, : config.num_input_frames], frames[:, config.num_input_frames :]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if "bf16" in variant else contextlib.nullcontext()
    times = []
    for index in range(warmup + steps):
        start = time.perf_counter()
        with autocast:
            loss = model(inputs, future)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def profile(config: ModelConfig, batch: int) -> None:
    """The operators that take videoae's training step, by self CPU time."""
    model = build_model(config)
    frames = torch.rand(batch, config.num_input_frames + config.num_future_frames, *config.frame_shape).round()
    inputs, future = frames[:, : config.num_input_frames], frames[:, config.num_input_frames :]
    model(inputs, future)["loss"].backward()  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            model(inputs, future)["loss"].backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="conv-small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--profile", action="store_true", help="print an operator profile of videoae's step instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = build_model(args.preset).config
    if config.cell != "convlstm":
        parser.error(f"{args.preset} is not a ConvLSTM preset")
    if args.profile:
        profile(config, args.batch)
        return
    # The conventional composite has one layer per stack and unconditional decoders: compare like with like.
    config = config.replace(
        num_layers=1, conditional_reconstruction=False, conditional_prediction=False, reconstruct=True, predict=True, peepholes=False
    )
    flops = conv_flops(config, args.batch, config.num_input_frames, config.num_future_frames)
    print(f"{args.preset} (1 layer, unconditional decoders), batch {args.batch}, {args.threads} thread(s), {args.steps} steps each")
    results = {}
    for variant in args.variants:
        results[variant] = measure(variant, config, args.batch, args.steps, args.warmup)
    reference = results.get("conventional")
    print(f"{'variant':<24}{'seq/s':>9}{'s/step':>9}{'conv GFLOP/s':>14}{'vs conventional':>17}")
    for variant, seconds in results.items():
        ratio = f"{reference / seconds:.2f}x" if reference else "-"
        print(f"{variant:<24}{args.batch / seconds:>9.1f}{seconds:>9.3f}{flops / seconds / 1e9:>14.1f}{ratio:>17}")


if __name__ == "__main__":
    main()
