"""The measurements of ``gpu_check.py``: matmul rates, training throughput, data loading.

Loaded by ``gpu_check.py`` as a module; run as a script only as its torch.compile worker (a
process of its own, so that a compile that outlives its budget can be stopped):

    python benchmarks/gpu_speed.py --compile-worker RESULTS.jsonl --device cuda [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import time
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import torch

from videoae import __version__
from videoae.data.moving_mnist import generate
from videoae.data.training_batches import StepBatchSampler, training_dataset, training_loader
from videoae.models import build_model, deferred_grad, preset
from videoae.models.config import ModelConfig
from videoae.models.deferred_grad import plain_autograd
from videoae.training.config import TrainConfig
from videoae.training.runtime import configure_for_training, resolve_precision
from videoae.validation import resolve_device

HERE = Path(__file__).resolve().parent
MODELS = ("paper", "notebook", "small", "conv-small")  # the order measured: what matters most first
FLAT = ("paper", "small")  # the models with deferred weight gradients (conv-small and nn.LSTM have none)
QUICK_SIZES = {"paper": 16, "small": 16, "conv-small": 4, "notebook": 16}  # hidden sizes under --quick
BATCHES, QUICK_BATCHES = (256, 64), (4, 2)
PRECISIONS = ("bf16", "tf32", "fp32")  # fp32: torch's defaults (TF32 for cuDNN convolutions only)
NUM_INPUT, NUM_FUTURE = 10, 10
MATMUL_SIZE, QUICK_MATMUL_SIZE = 8192, 256
STEP_SECONDS = 0.6  # timed per setting, at least MIN_TIMED_STEPS steps
MIN_TIMED_STEPS, WARMUP_STEPS = 3, 2
WORKER_COUNTS = (0, 2, 4, 8, 12)  # DataLoader workers tried, up to the machine's cores less 2
DATA_SECONDS = 2.0
# Compiled settings, most important first: the bar is paper at batch 256 in bf16.
COMPILED = (("paper", "deferred"), ("paper", "plain"), ("small", "plain"), ("small", "deferred"), ("conv-small", "n/a"))


class Setting(NamedTuple):
    """One training configuration measured (a named tuple: this script is loaded without sys.modules)."""

    model: str  # a MODELS name
    batch: int
    precision: str  # bf16 | tf32 | fp32
    gradients: str  # deferred | plain | n/a
    compile: bool = False

    @property
    def name(self) -> str:
        return f"{self.model} b{self.batch} {self.precision} {self.gradients}{' compiled' if self.compile else ''}"

    @classmethod
    def of(cls, row: dict) -> Setting:
        return cls(*(row[field] for field in cls._fields))


def load_script(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"gpu_check_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_scripts() -> dict[str, ModuleType]:
    """The FLOP counts of bench_model.py and bench_convlstm.py, and the notebook's design."""
    return {name: load_script(name) for name in ("bench_model", "bench_convlstm", "notebook_design")}


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def tf32(enabled: bool | None):
    """TF32 for matmuls and cuDNN convolutions on (True), off (False) or left as they are (None)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if enabled is not None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def precisions(device: torch.device) -> list[str]:
    if device.type == "cpu":
        return ["bf16", "fp32"]  # a CPU has no TF32
    return [p for p in PRECISIONS if p != "bf16" or torch.cuda.is_bf16_supported()]


# -- environment -------------------------------------------------------------------------------------


def matmul_rate(device: torch.device, precision: str, size: int, repeats: int = 10) -> float:
    """Median TFLOP/s of a dense ``size``-cubed product in fp32, TF32 or bf16."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    times = []
    with tf32(precision == "tf32" if device.type == "cuda" else None):
        for index in range(repeats + 2):
            synchronize(device)
            start = time.perf_counter()
            a @ b
            synchronize(device)
            if index >= 2:
                times.append(time.perf_counter() - start)
    return 2 * size**3 / sorted(times)[len(times) // 2] / 1e12


def environment(device: torch.device, quick: bool) -> dict:
    """Versions, the device, the matmul rates, and what ``videoae train`` does here by default."""
    info = {"videoae": __version__, "torch": torch.__version__, "python": platform.python_version(), "cpu_cores": cpu_cores()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name, gpu_memory_gib=props.total_memory / 2**30, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version()
        )
    size = QUICK_MATMUL_SIZE if quick else MATMUL_SIZE
    info["matmul"] = {"size": size, "tflop_per_s": {p: matmul_rate(device, p, size) for p in precisions(device)}}
    train = TrainConfig()
    info["train_defaults"] = {
        "precision": train.precision,
        "precision auto here": resolve_precision("auto", device),
        "compile": train.compile,
        "deferred weight gradients": deferred_grad._deferred,
        "num_workers": train.num_workers,
        "pin_memory": device.type == "cuda",
        "batch_size": train.batch_size,
        "TF32 matmul": torch.backends.cuda.matmul.allow_tf32,
        "TF32 cuDNN": torch.backends.cudnn.allow_tf32,
    }
    return info


# -- training throughput ------------------------------------------------------------------------------


def settings(device: torch.device, quick: bool) -> list[Setting]:
    """Every eager setting, most important first: the larger batch, paper in bf16 first."""
    found = []
    for batch in QUICK_BATCHES if quick else BATCHES:
        for model in MODELS:
            for precision in precisions(device):
                found += [Setting(model, batch, precision, path) for path in (("deferred", "plain") if model in FLAT else ("n/a",))]
    return found


def compile_settings(device: torch.device, quick: bool) -> list[Setting]:
    batch = (QUICK_BATCHES if quick else BATCHES)[0]
    found = [Setting(model, batch, "bf16", path, True) for model, path in COMPILED]
    if device.type == "cuda":
        found += [Setting(model, batch, "tf32", path, True) for model, path in COMPILED[:2]]
    return found[:1] if quick else found


def model_config(name: str, quick: bool) -> ModelConfig:
    """The preset's config (for the notebook: the seed preset, its architecture), tiny under --quick."""
    config = preset("seed" if name == "notebook" else name)
    return config.replace(hidden_size=QUICK_SIZES[name]) if quick else config


def flops_per_step(setting: Setting, quick: bool, scripts: dict[str, ModuleType]) -> float:
    """Model FLOPs of one training step: bench_model.py's count (flat), bench_convlstm.py's (the gate convolutions)."""
    config = model_config(setting.model, quick)
    if config.cell == "convlstm":
        return scripts["bench_convlstm"].conv_flops(config, setting.batch, NUM_INPUT, NUM_FUTURE)
    return scripts["bench_model"].training_flops(config, setting.batch, NUM_INPUT, NUM_FUTURE)


def training_step(setting: Setting, device: torch.device, quick: bool, scripts: dict[str, ModuleType]):
    """One training step as the trainer takes it (training/loop.py: autocast around the forward
    pass, backward, Adam), as a function of a float video batch on the device."""
    config = model_config(setting.model, quick)
    with torch.device(device):
        if setting.model == "notebook":
            model = scripts["notebook_design"].NotebookModel(hidden_size=config.hidden_size)
        else:
            model = build_model(config)
    model.train()
    step_model = torch.compile(model, backend="eager" if quick else "inductor") if setting.compile else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if setting.precision == "bf16" else contextlib.nullcontext()
    path = plain_autograd if setting.gradients == "plain" else contextlib.nullcontext

    def step(video: torch.Tensor) -> torch.Tensor:
        inputs, future = video[:, :NUM_INPUT], video[:, NUM_INPUT : NUM_INPUT + NUM_FUTURE]  # (B, T, 1, H, W)
        with path():
            with autocast:
                if setting.model == "notebook":
                    loss = step_model(inputs.flatten(2), future.flatten(2))
                else:
                    loss = step_model(inputs, future)["loss"]
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def videos(batch: int, device: torch.device) -> torch.Tensor:
    """Real Moving MNIST on the device, float in [0, 1]: (B, T, 1, 64, 64)."""
    frames = generate(batch, seed=1, num_frames=NUM_INPUT + NUM_FUTURE)
    return torch.from_numpy(frames).to(device).float().div_(255).unsqueeze(2)


def _error(err: Exception) -> str:
    first = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {first}"[:300]


def measure(setting: Setting, device: torch.device, quick: bool, scripts: dict[str, ModuleType], deadline: float) -> dict:
    """Seconds per step (mean over timed steps after warm-up, the device synchronised at both ends)."""
    row = setting._asdict()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step = None
    if setting.compile:
        from torch import _dynamo

        _dynamo.reset()  # each setting compiles afresh, never into dynamo's recompile limit
        breaks = _graph_breaks()
    try:
        with tf32(True if setting.precision == "tf32" else None):
            step = training_step(setting, device, quick, scripts)
            video = videos(setting.batch, device)
            started = time.perf_counter()
            for _ in range(1 if quick else WARMUP_STEPS):
                step(video)
            synchronize(device)
            row["warmup_s"] = time.perf_counter() - started  # under torch.compile: mostly compiling
            steps, started = 0, time.perf_counter()
            while steps < (1 if quick else MIN_TIMED_STEPS) or (not quick and time.perf_counter() - started < STEP_SECONDS):
                loss = step(video)
                steps += 1
                if time.monotonic() > deadline:
                    break
            synchronize(device)
            seconds = (time.perf_counter() - started) / steps
        gflop = flops_per_step(setting, quick, scripts) / 1e9
        row.update(status="ok", steps=steps, step_s=seconds, seq_per_s=setting.batch / seconds, loss=float(loss))
        row.update(gflop_per_step=gflop, tflop_per_s=gflop / seconds / 1e3)
        if device.type == "cuda":
            row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        if setting.compile:
            row["graph_breaks"] = None if breaks is None else _graph_breaks() - breaks
    except Exception as err:  # noqa: BLE001 - running out of memory or failing to compile is a finding
        row.update(status="error", error=_error(err))
    finally:
        del step
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def _graph_breaks() -> int | None:
    """Graph breaks dynamo has counted in this process (a private counter: None where absent)."""
    try:
        from torch._dynamo.utils import counters

        return int(sum(counters["graph_break"].values()))
    except Exception:  # noqa: BLE001
        return None


def speed(row: dict) -> str:
    return f"{row['seq_per_s']:,.0f} seq/s" if row.get("status") == "ok" else f"{row['status']} ({row.get('error', '')})"


def throughput(device: torch.device, quick: bool, scripts: dict[str, ModuleType], deadline: float) -> list[dict]:
    rows = []
    for setting in settings(device, quick):
        if time.monotonic() > deadline:
            rows.append({**setting._asdict(), "status": "skipped", "error": "budget spent"})
            continue
        rows.append(measure(setting, device, quick, scripts, deadline))
        print(f"  {setting.name}: {speed(rows[-1])}", flush=True)
    return rows


def compile_worker(results: Path, device: torch.device, quick: bool) -> None:
    """Measure every compiled setting, one JSON line each as it finishes (the parent may stop us)."""
    configure_for_training(device)
    scripts = load_scripts()
    for setting in compile_settings(device, quick):
        row = measure(setting, device, quick, scripts, deadline=float("inf"))
        with results.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


# -- data ----------------------------------------------------------------------------------------------


def _batches(batch: int, workers: int, device: torch.device):
    """The trainer's own loader (generator in DataLoader workers, pinned on CUDA), as an iterator."""
    num_frames = NUM_INPUT + NUM_FUTURE
    dataset = training_dataset("generator", num_frames=num_frames, image_size=64, seed=0, num_digits=2, speed=(0.1, 0.1), digits="train")
    sampler = StepBatchSampler(start_step=0, end_step=10**9, global_batch=batch)
    return iter(training_loader(dataset, sampler, num_workers=workers, pin_memory=device.type == "cuda"))


def generation_rate(batch: int, workers: int, device: torch.device, quick: bool) -> float:
    """Sequences/s the loader delivers, after its first batch (the workers' start)."""
    batches = _batches(batch, workers, device)
    next(batches)
    count, started = 0, time.perf_counter()
    while count < (2 if quick else MIN_TIMED_STEPS) or (not quick and time.perf_counter() - started < DATA_SECONDS):
        next(batches)
        count += 1
    return count * batch / (time.perf_counter() - started)


def fed_training(setting: Setting, workers: int, device: torch.device, quick: bool, scripts: dict, deadline: float) -> dict:
    """Training steps fed by the loader; the wait is the time ``next`` takes once the device is idle."""
    with tf32(True if setting.precision == "tf32" else None):
        step = training_step(setting, device, quick, scripts)
        batches = _batches(setting.batch, workers, device)

        def to_device(batch: torch.Tensor) -> torch.Tensor:
            return batch.to(device, non_blocking=True).float().div_(255)  # as loop._train_step

        for _ in range(1 if quick else WARMUP_STEPS):
            step(to_device(next(batches)))
        waited, steps = 0.0, 0
        synchronize(device)
        started = time.perf_counter()
        while steps < (1 if quick else MIN_TIMED_STEPS) or (not quick and time.perf_counter() - started < DATA_SECONDS):
            synchronize(device)  # the previous step is done: from here the step waits for its data
            before = time.perf_counter()
            batch = next(batches)
            waited += time.perf_counter() - before
            step(to_device(batch))
            steps += 1
            if time.monotonic() > deadline:
                break
        synchronize(device)
        seconds = time.perf_counter() - started
    fed = steps * setting.batch / seconds
    return {"setting": setting.name, "workers": workers, "steps": steps, "fed_seq_per_s": fed, "wait_ms_per_step": 1e3 * waited / steps}


def data(device: torch.device, quick: bool, scripts: dict, compute: list[dict], deadline: float) -> dict:
    """The loader's rate per worker count, then small and paper fed by it (default and best counts)."""
    batch = (QUICK_BATCHES if quick else BATCHES)[0]
    counts = (0, 1) if quick else tuple(w for w in WORKER_COUNTS if w <= max(0, cpu_cores() - 2))
    result: dict = {"batch": batch, "generation": [], "fed": [], "skipped": []}
    for workers in counts:
        if time.monotonic() > deadline:
            result["skipped"].append(f"loader with {workers} workers: budget spent")
            continue
        rate = generation_rate(batch, workers, device, quick)
        result["generation"].append({"workers": workers, "seq_per_s": rate})
        print(f"  loader with {workers} workers: {rate:,.0f} seq/s", flush=True)
    generation = result["generation"]
    result["best_workers"] = max(generation, key=lambda g: g["seq_per_s"])["workers"] if generation else TrainConfig().num_workers
    precision = precisions(device)[0]
    compute_rate = {Setting.of(r): r["seq_per_s"] for r in compute if r.get("status") == "ok"}
    default_workers = 0 if quick else TrainConfig().num_workers
    for model in ("small", "paper"):
        setting = Setting(model, batch, precision, "deferred")
        for workers in dict.fromkeys((default_workers, result["best_workers"])):
            if time.monotonic() > deadline:
                result["skipped"].append(f"{setting.name} fed by {workers} workers: budget spent")
                continue
            row = fed_training(setting, workers, device, quick, scripts, deadline)
            reference = compute_rate.get(setting)
            row.update(compute_seq_per_s=reference, fed_over_compute=row["fed_seq_per_s"] / reference if reference else None)
            result["fed"].append(row)
            print(
                f"  {setting.name} fed by {workers} workers: {row['fed_seq_per_s']:,.0f} seq/s, {row['wait_ms_per_step']:.1f} ms/step waiting"
            )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compile-worker", type=Path, required=True, metavar="RESULTS", help="JSON lines file to append to")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    compile_worker(arguments.compile_worker, resolve_device(arguments.device), arguments.quick)
