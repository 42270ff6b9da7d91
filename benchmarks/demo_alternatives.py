"""Designs tried for sharper demo reconstructions within minutes on a CPU, outside the shipped presets.

Each variant is the `small` model's LSTMs (1 x 256, unconditional decoders, Bernoulli outputs) with
a different way into and out of the LSTM, trained with Adam at batch 16 on generator data for a
wall-clock budget, then scored on the first 256 embedded test sequences (cross-entropy in nats per
frame; MSE summed per frame). A comparison strip of 4 test sequences is written per variant.

    flat        frames flattened into the LSTM, linear readout (what `small` is)
    conv        3 strided convolutions in (channels 8, 16, 32), transposed convolutions out
    mlp         one 512-unit ReLU layer in and out
    curriculum  flat, but trained on 1 input and 1 future frame at first, growing to 10 + 10
                over the first 60% of the budget (evaluation always 10 -> 10)
    one-frame   flat, trained and scored on 1 input and 1 future frame: what a single frame
                through the 256-unit state can show in the budget
    context     flat in; the encoder's final (h, c) fed to both decoders at every step, and a
                512-unit ReLU layer out: the shapes need not be carried in the decoders' state

    python benchmarks/demo_alternatives.py --variants flat,conv --minutes 4 --out /tmp/alternatives
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videoae.data.moving_mnist import embedded_test_set, generate
from videoae.models.lstm import LSTMStack
from videoae.reporting import save_comparison_png
from videoae.training.runtime import configure_for_training

VARIANTS = ("flat", "conv", "mlp", "curriculum", "one-frame", "context")
HIDDEN = 256
FRAMES = 10  # input frames, and future frames
SIDE = 64
CONV_CHANNELS = (8, 16, 32)
MLP_WIDTH = 512
CURRICULUM_FRACTION = 0.6
TEST_SEQUENCES = 256
# Learning rates: the demo's for the flat designs; the conv design stalled at the mean image with
# 1e-3 and 2e-3 in trials and learns with 5e-4.
LEARNING_RATES = {"flat": 2e-3, "conv": 5e-4, "mlp": 1e-3, "curriculum": 2e-3, "one-frame": 2e-3, "context": 1e-3}


def frame_encoder(variant: str) -> tuple[nn.Module, int]:
    """(module mapping (N, 1, 64, 64) frames to (N, F) features, F)."""
    if variant == "conv":
        c1, c2, c3 = CONV_CHANNELS
        layers = [nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(), nn.Conv2d(c2, c3, 4, 2, 1), nn.ReLU()]
        return nn.Sequential(*layers, nn.Flatten()), c3 * (SIDE // 8) ** 2
    if variant == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, MLP_WIDTH), nn.ReLU()), MLP_WIDTH
    return nn.Flatten(), SIDE * SIDE


def frame_decoder(variant: str) -> nn.Module:
    """Module mapping (N, HIDDEN) states to (N, 64 * 64) logits."""
    if variant == "conv":
        c1, c2, c3 = CONV_CHANNELS
        grid = SIDE // 8
        return nn.Sequential(
            nn.Linear(HIDDEN, c3 * grid * grid), nn.ReLU(), nn.Unflatten(1, (c3, grid, grid)),
            nn.ConvTranspose2d(c3, c2, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, 2, 1), nn.Flatten(),
        )  # fmt: skip
    if variant in ("mlp", "context"):
        return nn.Sequential(nn.Linear(HIDDEN, MLP_WIDTH), nn.ReLU(), nn.Linear(MLP_WIDTH, SIDE * SIDE))
    return nn.Linear(HIDDEN, SIDE * SIDE)


class Composite(nn.Module):
    """Encoder LSTM; unconditional reconstruction (reversed) and prediction decoders."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        self.encode_frame, features = frame_encoder(variant)
        self.encoder = LSTMStack(features, HIDDEN, 1)
        self.context = variant == "context"
        self.decoders = nn.ModuleList(LSTMStack(2 * HIDDEN if self.context else 0, HIDDEN, 1) for _ in range(2))
        self.readouts = nn.ModuleList(frame_decoder(variant) for _ in range(2))

    def forward(self, videos: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """videos (B, 20, 64, 64) in [0, 1] -> logits of the reconstruction and the prediction,
        each (B, frames, 64, 64), the reconstruction in natural order."""
        batch = videos.shape[0]
        inputs = videos[:, FRAMES - frames : FRAMES].reshape(-1, 1, SIDE, SIDE)
        features = self.encode_frame(inputs).reshape(batch, frames, -1).transpose(0, 1)
        _, state = self.encoder(features, self.encoder.zero_state(batch, features))
        outputs = []
        for decoder, readout in zip(self.decoders, self.readouts):
            context = torch.cat(state[0], dim=1).expand(frames, -1, -1) if self.context else None
            hidden, _ = decoder(context, state, num_steps=frames)  # (frames, B, H)
            logits = readout(hidden.reshape(-1, HIDDEN)).reshape(frames, batch, SIDE, SIDE).transpose(0, 1)
            outputs.append(logits)
        return outputs[0].flip(1), outputs[1]


def losses(model: Composite, videos: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction and prediction cross-entropy, nats per frame."""
    reconstruction, prediction = model(videos, frames)
    count = videos.shape[0] * frames
    inputs, future = videos[:, FRAMES - frames : FRAMES], videos[:, FRAMES : FRAMES + frames]
    return (
        F.binary_cross_entropy_with_logits(reconstruction, inputs, reduction="sum") / count,
        F.binary_cross_entropy_with_logits(prediction, future, reduction="sum") / count,
    )


def run(variant: str, minutes: float, out: Path) -> dict:
    """Train one variant for ``minutes``; returns its scores and writes its strip."""
    torch.manual_seed(0)
    model = Composite(variant)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATES[variant], fused=True)
    test = torch.from_numpy(embedded_test_set(TEST_SEQUENCES).astype(np.float32) / 255)
    full = 1 if variant == "one-frame" else FRAMES
    step, started, step_times = 0, time.monotonic(), []
    while (elapsed := time.monotonic() - started) < minutes * 60:
        frames = full
        if variant == "curriculum":
            frames = min(FRAMES, 1 + int((FRAMES - 1) * elapsed / (CURRICULUM_FRACTION * minutes * 60)))
        batch = torch.from_numpy(generate(16, seed=1, start=step * 16).astype(np.float32) / 255)
        tick = time.perf_counter()
        reconstruction_loss, prediction_loss = losses(model, batch, frames)
        optimizer.zero_grad()
        (reconstruction_loss + prediction_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
        optimizer.step()
        step_times.append(time.perf_counter() - tick)
        step += 1
    model.eval()
    with torch.no_grad():
        reconstruction_loss, prediction_loss = losses(model, test, full)
        reconstruction, prediction = (torch.sigmoid(x[:4]).numpy() for x in model(test[:4], full))
        mse = (torch.sigmoid(model(test, full)[1]) - test[:, FRAMES : FRAMES + full]).square().sum().item() / (TEST_SEQUENCES * full)
    strip = out / f"{variant}.png"
    save_comparison_png(
        strip, test[:4, FRAMES - full : FRAMES].numpy(), test[:4, FRAMES : FRAMES + full].numpy(), reconstruction, prediction
    )
    return {
        "variant": variant,
        "steps": step,
        "ms_per_step": 1000 * statistics.median(step_times),
        "reconstruction_bce": reconstruction_loss.item(),
        "prediction_bce": prediction_loss.item(),
        "prediction_mse": mse,
        "strip": strip,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {VARIANTS}")
    parser.add_argument("--minutes", type=float, default=8.0, help="training time per variant")
    parser.add_argument("--out", type=Path, default=Path("alternatives"), help="folder for the strips")
    args = parser.parse_args()
    configure_for_training()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.minutes:g} minutes per variant, batch 16")
    print(f"{'variant':<12} {'steps':>6} {'ms/step':>8} {'recon BCE':>10} {'pred BCE':>9} {'pred MSE':>9}  strip")
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        r = run(variant, args.minutes, args.out)
        print(
            f"{r['variant']:<12} {r['steps']:6d} {r['ms_per_step']:8.1f} {r['reconstruction_bce']:10.1f} "
            f"{r['prediction_bce']:9.1f} {r['prediction_mse']:9.1f}  {r['strip']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
