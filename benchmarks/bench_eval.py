"""Where `videoae eval` spends its time: the model's forward pass against the metrics and baselines.

Usage::

    python benchmarks/bench_eval.py                                  # small model, 1,000 sequences, 10 -> 10 frames
    python benchmarks/bench_eval.py --num-sequences 10000 --threads 2
    python benchmarks/bench_eval.py --future 100 --compare-sequences 64

Scores an untrained model of ``--preset`` (its weights change nothing of the time) the way
``evaluate`` does, a batch at a time, timing each part: making the embedded test set's sequences,
the model's forward pass, and every metric of the reconstruction, the prediction and the two
baselines. Then runs ``evaluate_data`` itself end to end. With ``--compare-sequences N`` it also
times, on N sequences, the metrics as they were computed before they were made fast (one call per
prediction, five Gaussian-filtered maps per frame pair, cross-entropy of the baselines in float64),
beside the current ones in the same process, and prints the ratio. Wall-clock seconds and the
process's CPU seconds are printed; on a shared machine compare ratios taken in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from videoae.data.evaluation_sets import evaluation_data
from videoae.data.pixels import to_unit_float
from videoae.evaluation.evaluate import baseline_predictions, evaluate_data
from videoae.evaluation.metrics import score_predictions
from videoae.models import build_model


class Clock:
    """Wall-clock and CPU seconds, summed over the calls it timed."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def time(self, function: Callable[..., object], *args: object) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return result


def previous_scores(prediction: torch.Tensor, target: torch.Tensor, logits: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The metrics of one prediction as computed before: every map of every frame pair written out."""
    pixels = lambda values: values.flatten(2)  # noqa: E731 - (B, T, pixels)
    if logits is not None:
        bce = pixels(F.binary_cross_entropy_with_logits(logits, target, reduction="none")).sum(2)
    else:
        p, y = prediction.double().clamp(1e-7, 1 - 1e-7), target.double()
        bce = pixels(-(y * torch.log(p) + (1 - y) * torch.log1p(-p))).sum(2)
    scores = {"bce": bce, "mse": pixels((prediction - target).square()).sum(2), "mae": pixels((prediction - target).abs()).sum(2)}
    scores["psnr"] = 10 * torch.log10(1 / pixels((prediction - target).square()).mean(2).clamp_min(1e-10))
    batch, steps, _, height, width = target.shape
    x, y = prediction.reshape(-1, height, width), target.reshape(-1, height, width)
    window = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / 4.5)
    window = (window / window.sum()).to(x.dtype)
    rows = torch.stack([F.pad(window, (i, height - 11 - i)) for i in range(height - 10)])
    cols = torch.stack([F.pad(window, (i, width - 11 - i)) for i in range(width - 10)])
    mu_x, mu_y, xx, yy, xy = (rows @ torch.stack([x, y, x * x, y * y, x * y], dim=1) @ cols.T).unbind(1)
    c1, c2 = 1e-4, 9e-4
    ssim = ((2 * mu_x * mu_y + c1) * (2 * (xy - mu_x * mu_y) + c2)) / ((mu_x**2 + mu_y**2 + c1) * (xx - mu_x**2 + yy - mu_y**2 + c2))
    scores["ssim"] = ssim.reshape(batch, steps, -1).mean(2)
    return scores


def current_batch(outputs: dict, inputs: torch.Tensor, truth: torch.Tensor, guesses: dict) -> None:
    """The metric calls ``evaluate`` makes for one batch."""
    if "reconstruction" in outputs:
        score_predictions(
            inputs,
            {"r": outputs["reconstruction"]},
            logits={"r": outputs["reconstruction_logits"]} if "reconstruction_logits" in outputs else None,
        )
    predictions = dict(guesses)
    if "prediction" in outputs:
        predictions["p"] = outputs["prediction"]
    score_predictions(truth, predictions, logits={"p": outputs["prediction_logits"]} if "prediction_logits" in outputs else None)


def previous_batch(outputs: dict, inputs: torch.Tensor, truth: torch.Tensor, guesses: dict) -> None:
    """The same scores as before: one call per prediction."""
    if "reconstruction" in outputs:
        previous_scores(outputs["reconstruction"], inputs, outputs.get("reconstruction_logits"))
    if "prediction" in outputs:
        previous_scores(outputs["prediction"], truth, outputs.get("prediction_logits"))
    for guess in guesses.values():
        previous_scores(guess, truth, None)


def split(model: torch.nn.Module, data, batch_size: int, num_input: int, future: int, previous: bool = False) -> dict[str, Clock]:
    """Seconds spent making the data, in the model and in the metrics, batch by batch as ``evaluate`` works."""
    clocks = {"data": Clock(), "model": Clock(), "metrics": Clock()}
    blocks = iter(data.blocks())
    with torch.no_grad():
        while (block := clocks["data"].time(next, blocks, None)) is not None:
            for start in range(0, len(block), batch_size):
                clips = to_unit_float(torch.from_numpy(block[start : start + batch_size])).unsqueeze(2)  # (B, T, 1, H, W)
                inputs, truth = clips[:, :num_input], clips[:, num_input : num_input + future]
                outputs = clocks["model"].time(model, inputs, truth)
                guesses = baseline_predictions(inputs, future)
                if previous:
                    clocks["metrics"].time(previous_batch, outputs, inputs, truth, guesses)
                else:
                    clocks["metrics"].time(current_batch, outputs, inputs, truth, guesses)
    return clocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small", help="model preset (default small, the demo's)")
    parser.add_argument("--num-sequences", type=int, default=1000)
    parser.add_argument("--future", type=int, default=10, help="frames predicted and scored after 10 input frames")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compare-sequences", type=int, default=0, metavar="N", help="also time the previous metrics on N sequences")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {args.threads} torch threads, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    torch.manual_seed(0)
    model = build_model(args.preset).eval()
    num_input = model.config.num_input_frames
    data = evaluation_data("embedded", num_frames=num_input + args.future, num_sequences=args.num_sequences)
    print(
        f"{args.preset} model, {args.num_sequences} embedded sequences, {num_input} -> {args.future} frames, batches of {args.batch_size}"
    )
    clocks = split(model, data, args.batch_size, num_input, args.future)
    for name, clock in clocks.items():
        print(f"  {name:<8} {clock.wall:8.1f} s wall {clock.cpu:8.1f} s CPU")
    ratio = clocks["metrics"].wall / clocks["model"].wall
    print(f"  metrics / model: {ratio:.2f} (wall)")
    total = Clock()
    total.time(lambda: evaluate_data(model, data, num_input_frames=num_input, num_future=args.future, batch_size=args.batch_size))
    print(f"evaluate_data end to end: {total.wall:.1f} s wall, {total.cpu:.1f} s CPU")
    if args.compare_sequences:
        subset = evaluation_data("embedded", num_frames=num_input + args.future, num_sequences=args.compare_sequences)
        walls: dict[str, list[float]] = {"previous": [], "current": []}
        for _ in range(3):  # alternated, so that load on a shared machine falls on both
            for name in walls:
                walls[name].append(
                    split(model, subset, args.batch_size, num_input, args.future, previous=name == "previous")["metrics"].wall
                )
        before, after = statistics.median(walls["previous"]), statistics.median(walls["current"])
        print(
            f"metrics on {args.compare_sequences} sequences, median of 3: previous {before:.2f} s, current {after:.2f} s: "
            f"{before / after:.1f}x faster"
        )


if __name__ == "__main__":
    main()
