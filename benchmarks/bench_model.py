"""Training-step speed of videoae's models against the machine's matmul rate and the notebook design.

Prints, side by side from one run: sequences/s, seconds per step (median), model GFLOP per step,
GFLOP/s, the fraction of the dense float32 matmul rate measured in the same run, peak memory, and
the throughput ratios against the seed notebook's design. Each model runs in its own subprocess so
its peak memory is its own.

    python benchmarks/bench_model.py                      # every model below
    python benchmarks/bench_model.py --models paper --steps 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from videoae.models import ModelConfig, build_model
from videoae.models.deferred_grad import plain_autograd
from videoae.training.runtime import configure_for_training

MATMUL_SIZE = 4096
# paper-plain: plain autograd path (no deferred weight gradients); paper-default-malloc: fast path
# without videoae.training.runtime.keep_freed_memory; paper-bf16: bf16 autocast (fast where the CPU has
# AMX or AVX-512 BF16; its FLOPs are not float32 FLOPs, so its % of the float32 rate can pass 100).
MODELS = ("paper", "paper-plain", "paper-default-malloc", "paper-bf16", "seed", "notebook")


def matmul_rate(repeats: int = 7) -> float:
    """Median GFLOP/s of a large float32 ``torch.matmul``."""
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * MATMUL_SIZE**3 / statistics.median(times) / 1e9


def training_flops(config: ModelConfig, batch: int, num_input: int, num_future: int) -> float:
    """Matrix-product FLOPs of one training step (forward + backward), counting only the products
    a step needs: no input gradient for inputs that are data (the encoder's frames, ground truth
    fed to a conditional decoder)."""
    H, D, L = config.hidden_size, config.frame_size, config.num_layers
    gates = 4 * H

    def stack(steps: int, input_size: int, input_is_data: bool) -> float:
        flops = 0.0
        for layer in range(L):
            size = input_size if layer == 0 else H
            product = 2 * batch * steps * size * gates
            data = layer == 0 and input_is_data
            flops += product * (2 if data else 3) if size else 0.0  # forward, dW, (dX)
            flops += 3 * 2 * batch * steps * H * gates  # recurrent: forward, dW, dh
        return flops

    teacher_forced = config.decoder_training_input == "ground_truth"
    total = stack(num_input, D, True)
    decoders = [
        (config.reconstruct, config.conditional_reconstruction, num_input),
        (config.predict, config.conditional_prediction, num_future),
    ]
    for enabled, conditional, steps in decoders:
        if enabled:
            total += stack(steps, D if conditional else 0, teacher_forced)
            total += 3 * 2 * batch * steps * H * D  # readout: forward, dW, dX
    return total


def make_batch(batch: int, frames: int) -> torch.Tensor:
    """Real Moving MNIST when the generator is available (denormals depend on the data)."""
    try:
        from videoae.data.moving_mnist import generate

        return torch.from_numpy(generate(batch, seed=1, num_frames=frames)).float().div_(255).unsqueeze(2)
    except ImportError:
        return torch.rand(batch, frames, 1, 64, 64).round()


def run_one(name: str, batch: int, warmup: int, steps: int) -> dict:
    """Time ``steps`` training steps after ``warmup`` real optimizer steps; returns the figures."""
    torch.manual_seed(0)
    video = make_batch(batch, 20)
    inputs, future = video[:, :10], video[:, 10:]
    if name == "notebook":
        sys.path.insert(0, str(Path(__file__).parent))
        from notebook_design import NotebookModel

        model = NotebookModel()
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
        flat_in, flat_future = inputs.flatten(2), future.flatten(2)

        def step() -> None:
            loss = model(flat_in, flat_future)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        flops = training_flops(build_model("seed").config, batch, 10, 10)
    else:
        if name.endswith("-default-malloc"):
            torch.set_flush_denormal(True)
        else:
            configure_for_training("cpu")  # as videoae's trainer does
        model = build_model(name.split("-")[0])
        path = plain_autograd() if name.endswith("-plain") else contextlib.nullcontext()
        if name.startswith("seed"):
            optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, fused=True)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, fused=True)

        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=name.endswith("-bf16"))

        def step() -> None:
            with path, autocast:
                loss = model(inputs, future)["loss"]
                loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        flops = training_flops(model.config, batch, 10, 10)
    model.train()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "model": name,
        "step_s": seconds,
        "seq_per_s": batch / seconds,
        "gflop_per_step": flops / 1e9,
        "gflop_per_s": flops / seconds / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2, help="optimizer steps before timing")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.batch, args.warmup, args.steps)))
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    rates = [matmul_rate()]
    results = []
    for name in args.models.split(","):
        command = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--batch",
            str(args.batch),
            "--warmup",
            str(args.warmup),
            "--steps",
            str(args.steps),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(f"  measured {name}", flush=True)
    rates.append(matmul_rate())
    rate = statistics.mean(rates)
    print(f"dense float32 matmul ({MATMUL_SIZE}^3): {rates[0]:.0f} GFLOP/s before, {rates[1]:.0f} after, using {rate:.0f}")
    print(f"{'model':<22} {'seq/s':>7} {'s/step':>7} {'GFLOP/step':>10} {'GFLOP/s':>8} {'% matmul':>8} {'peak MB':>8}")
    for r in results:
        print(
            f"{r['model']:<22} {r['seq_per_s']:7.2f} {r['step_s']:7.2f} {r['gflop_per_step']:10.0f} "
            f"{r['gflop_per_s']:8.0f} {100 * r['gflop_per_s'] / rate:7.0f}% {r['peak_rss_mb']:8.0f}"
        )
    by_name = {r["model"]: r for r in results}
    if "notebook" in by_name:
        for name in by_name:
            if name != "notebook":
                ratio = by_name[name]["seq_per_s"] / by_name["notebook"]["seq_per_s"]
                print(f"throughput {name} / notebook design: {ratio:.1f}x")


if __name__ == "__main__":
    main()
