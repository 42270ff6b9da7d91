"""Moving MNIST generation speed: the vectorised generator against a per-sequence loop, and the DataLoader.

Usage::

    python benchmarks/bench_generator.py            # about 20 s on 2 CPU cores
    python benchmarks/bench_generator.py --repeats 3 --loader-batches 10

Prints sequences per second (medians over repeats) of ``videoae.data.moving_mnist.generate`` in
batches, of a straightforward per-sequence Python loop with the same semantics and random draws
(checked to produce identical bytes), their ratio, and the throughput of ``make_loader`` over
``MovingMNIST`` with 0 and 2 worker processes, for float32 and uint8 clips, with the CPU time the
consuming (training) process spends per batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from videoae.data.datasets import MovingMNIST, make_loader
from videoae.data.moving_mnist import draw_sequence_params, generate, resolve_digits


def loop_generate(
    n: int,
    *,
    seed: int = 0,
    start: int = 0,
    num_digits: int = 2,
    num_frames: int = 20,
    image_size: int = 64,
    speed: tuple[float, float] = (0.1, 0.1),
    digits: str = "train",
) -> np.ndarray:
    """The obvious implementation: one sequence, one digit, one frame at a time."""
    digit_array = resolve_digits(digits)
    out = np.zeros((n, num_frames, image_size, image_size), dtype=np.uint8)
    for i in range(n):
        params = draw_sequence_params(
            np.array([start + i]), seed=seed, num_digits=num_digits, speed=speed, num_available_digits=len(digit_array)
        )
        for k in range(num_digits):
            digit = digit_array[params.digit_index[0, k]]
            height, width = digit.shape
            y, x = (float(v) for v in params.position[0, k])
            vy, vx = (float(v) for v in params.velocity[0, k])
            for t in range(num_frames):
                y, x = y + vy, x + vx
                if y <= 0:
                    y, vy = 0.0, -vy
                if y >= 1:
                    y, vy = 1.0, -vy
                if x <= 0:
                    x, vx = 0.0, -vx
                if x >= 1:
                    x, vx = 1.0, -vx
                top, left = int((image_size - height) * y), int((image_size - width) * x)
                window = out[i, t, top : top + height, left : left + width]
                np.maximum(window, digit, out=window)
    return out


def rate(function, num_sequences: int, repeats: int) -> float:
    """Median sequences per second of ``function(start)`` over ``repeats`` calls (fresh indices each)."""
    seconds = []
    for r in range(repeats):
        begin = time.perf_counter()
        function(r * num_sequences)
        seconds.append(time.perf_counter() - begin)
    return num_sequences / statistics.median(seconds)


def loader_rate(num_workers: int, batch_size: int, batches: int, epochs: int, dtype: torch.dtype) -> tuple[float, float]:
    """Median sequences per second of whole epochs (workers started beforehand), and the calling
    process's CPU milliseconds per batch: what a training loop pays for its data."""
    dataset = MovingMNIST(batch_size * batches, dtype=dtype)
    loader = make_loader(dataset, batch_size=batch_size, num_workers=num_workers)
    dataset.set_epoch(epochs)  # warm-up epoch: starts the persistent workers
    for _ in loader:
        pass
    seconds, cpu = [], []
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        begin, begin_cpu = time.perf_counter(), time.process_time()
        for _ in loader:
            pass
        seconds.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    return batch_size * batches / statistics.median(seconds), 1000 * statistics.median(cpu) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=21, help="timed batches of the vectorised generator")
    parser.add_argument("--loop-repeats", type=int, default=5, help="timed batches of the per-sequence loop")
    parser.add_argument("--loader-batches", type=int, default=40, help="batches per DataLoader epoch")
    parser.add_argument("--loader-epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}"
    )
    batch = args.batch_size
    np.testing.assert_array_equal(generate(8, start=123), loop_generate(8, start=123))  # same semantics
    generate(batch)  # load and cache the digits outside the timing
    fast = rate(lambda start: generate(batch, start=start), batch, args.repeats)
    slow = rate(lambda start: loop_generate(batch, start=start), batch, args.loop_repeats)
    print(f"generate, batches of {batch} (2 digits, 20 frames, 64x64): {fast:10,.0f} sequences/s")
    print(f"per-sequence Python loop, same draws and bytes:       {slow:10,.0f} sequences/s")
    print(f"speed-up: {fast / slow:.1f}x")
    for dtype in (torch.float32, torch.uint8):
        for workers in (0, 2):
            throughput, cpu_ms = loader_rate(workers, batch, args.loader_batches, args.loader_epochs, dtype)
            name = str(dtype).removeprefix("torch.")
            print(
                f"DataLoader(MovingMNIST), {name:>7} batches of {batch}, {workers} workers: "
                f"{throughput:8,.0f} sequences/s, {cpu_ms:5.1f} ms CPU per batch in the training process"
            )


if __name__ == "__main__":
    main()
