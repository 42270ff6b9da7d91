"""CUDA: every decoder variant against the CPU in float64, inference, checkpoints across devices,
exact resume, and training under torchrun with NCCL.

Every test here is marked ``cuda`` and skipped where ``torch.cuda.is_available()`` is false.
``python benchmarks/gpu_check.py --device cuda`` runs them (``pytest -m cuda``) when a GPU is lent.

Tolerances against the float64 reference, as relative norms (``|got - ref| / |ref|``):

========  ===========  =========================  ==============
path      loss         each gradient or output    all gradients
========  ===========  =========================  ==============
fp32      2e-5         1e-4                       2e-5
tf32      5e-4         1e-2                       5e-3
bf16      2e-3         5e-2                       2e-2
========  ===========  =========================  ==============

Calibrated on the CPU with the same models, inputs and comparisons: float32 was within 1e-7
of the loss and 1e-6 of each gradient; bf16 autocast within 5e-5 of the loss, 1.2e-2 of a
gradient tensor and 4e-3 of all gradients together. TF32 rounds products' inputs to 10 mantissa
bits (bf16: 7), so its errors are about 8x smaller than bf16's; the tolerances leave a margin of
4x or more over the calibration. A gradient tensor's norm is taken against its own norm plus
1e-3 of all gradients' norm, so that near-zero gradients are compared on the scale that matters.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import videoae
from videoae.cli import main
from videoae.data.moving_mnist import embedded_test_set, generate
from videoae.data.video_writers import write_npy
from videoae.evaluation.evaluate import evaluate
from videoae.evaluation.predict import encoder_features, predict_videos
from videoae.models import build_model
from videoae.models.checkpoint import read_checkpoint
from videoae.models.deferred_grad import plain_autograd
from videoae.run_folder import LAST_CHECKPOINT
from videoae.training.config import RunConfig
from videoae.training.loop import train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs an NVIDIA GPU: torch.cuda.is_available() is false (python benchmarks/gpu_check.py --device cuda runs these)",
    ),
]

FRAME = (1, 8, 8)
SIZES = dict(frame_shape=FRAME, num_input_frames=4, num_future_frames=3, num_layers=2, peepholes=True, init_range=0.3)
CELLS = {"lstm": dict(hidden_size=12), "convlstm": dict(cell="convlstm", hidden_size=5, patch_size=2, kernel_size=3)}


@dataclass(frozen=True)
class Tolerance:
    loss: float
    tensor: float  # each gradient tensor and each output
    overall: float  # all gradients together


TOLERANCES = {
    "fp32": Tolerance(loss=2e-5, tensor=1e-4, overall=2e-5),
    "tf32": Tolerance(loss=5e-4, tensor=1e-2, overall=5e-3),
    "bf16": Tolerance(loss=2e-3, tensor=5e-2, overall=2e-2),
}


def decoder_variants(cell: str) -> list[dict]:
    """Every distinct decoder setting: which decoders, which are conditional, what a conditional
    one is fed in training (only where there is one), the output, and the skip connections."""
    variants = []
    for reconstruct, predict in [(True, True), (True, False), (False, True)]:
        for cond_rec, cond_pred in itertools.product([False, True] if reconstruct else [False], [False, True] if predict else [False]):
            feedings = ["ground_truth", "free_running", "scheduled"] if cond_rec or cond_pred else ["ground_truth"]
            for feeding, output in itertools.product(feedings, ["bernoulli", "linear"]):
                variants.append(
                    dict(
                        reconstruct=reconstruct,
                        predict=predict,
                        conditional_reconstruction=cond_rec,
                        conditional_prediction=cond_pred,
                        decoder_training_input=feeding,
                        output=output,
                    )
                )
    composite = dict(conditional_reconstruction=True, conditional_prediction=True, decoder_training_input="scheduled")
    skips = ["copy", "warp"] if cell == "convlstm" else ["copy"]
    variants += [dict(composite, skip_connection=skip, predictor_first_input="last_input") for skip in skips]
    return variants


CASES = [(cell, variant) for cell in CELLS for variant in decoder_variants(cell)]


def _case_id(case: tuple[str, dict]) -> str:
    cell, variant = case
    short = {True: "1", False: "0", "ground_truth": "gt", "free_running": "free", "scheduled": "sched"}
    return cell + "-" + "-".join(f"{key[:8]}={short.get(value, value)}" for key, value in variant.items())


@contextlib.contextmanager
def same_draws_on_every_device(seed: int = 0):
    """Scheduled sampling draws ``torch.rand`` on the model's device; CPU and CUDA generators
    differ, so both runs draw from one CPU generator here."""
    generator = torch.Generator().manual_seed(seed)
    real_rand = torch.rand

    def rand(*size, device=None, **options):
        return real_rand(*size, generator=generator, **options).to(device)

    torch.rand = rand
    try:
        yield
    finally:
        torch.rand = real_rand


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 products for matmuls and cuDNN convolutions on or off, restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _frames(steps: int, seed: int) -> torch.Tensor:
    return torch.rand(2, steps, *FRAME, generator=torch.Generator().manual_seed(seed))


def _training_step(model, inputs, future, *, device: str, dtype: torch.dtype, precision: str, plain: bool) -> dict:
    """Forward (under autocast for bf16, as the training loop does) and backward of a copy of ``model``."""
    model = copy.deepcopy(model).to(device=device, dtype=dtype)
    inputs, future = inputs.to(device, dtype), future.to(device, dtype)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    path = plain_autograd() if plain else contextlib.nullcontext()
    flags = tf32(precision == "tf32") if device != "cpu" else contextlib.nullcontext()
    with flags, path, same_draws_on_every_device():
        with autocast:
            out = model(inputs, future)
        out["loss"].backward()
        predicted = model.predict(inputs, num_future=5) if model.predictor is not None else None
    outputs = {name: out[name] for name in ("reconstruction", "prediction") if name in out}
    if predicted is not None:
        outputs["predict(5)"] = predicted
    return {
        "loss": out["loss"].detach().double().cpu(),
        "outputs": {name: value.detach().double().cpu() for name, value in outputs.items()},
        "grads": {name: p.grad.detach().double().cpu() for name, p in model.named_parameters() if p.grad is not None},
    }


def _assert_close(got: dict, reference: dict, tolerance: Tolerance, what: str) -> None:
    loss_error = float(abs(got["loss"] - reference["loss"]) / abs(reference["loss"]))
    assert loss_error <= tolerance.loss, f"{what}: loss off by {loss_error:.2e} (relative)"
    assert got["grads"].keys() == reference["grads"].keys(), f"{what}: other parameters got gradients"
    assert got["outputs"].keys() == reference["outputs"].keys()
    total = torch.cat([g.flatten() for g in reference["grads"].values()]).norm()
    for name, ref in reference["grads"].items():
        error = float((got["grads"][name] - ref).norm() / (ref.norm() + 1e-3 * total))
        assert error <= tolerance.tensor, f"{what}: gradient of {name} off by {error:.2e}"
    overall = float(torch.cat([(got["grads"][n] - r).flatten() for n, r in reference["grads"].items()]).norm() / total)
    assert overall <= tolerance.overall, f"{what}: gradients off by {overall:.2e} overall"
    for name, ref in reference["outputs"].items():
        error = float((got["outputs"][name] - ref).norm() / ref.norm().clamp_min(1e-12))
        assert error <= tolerance.tensor, f"{what}: {name} off by {error:.2e}"


# -- inference: predict, eval, features ------------------------------------------------------------------


TINY_TRAIN = dict(max_steps=4, batch_size=4, eval_every=4, eval_sequences=8, checkpoint_every=2, log_every=2, num_workers=0)
FAMILIES = {
    "flat": {"preset": "tiny", "hidden_size": 8},
    "spatial": {"preset": "conv-small", "hidden_size": 4},
}
# Frames in [0, 1] and scores, CUDA against the CPU with torch's default settings (TF32 off for
# matmuls, on for cuDNN convolutions: the spatial family's convolutions round to TF32).
INFERENCE_ATOL = {"flat": 1e-4, "spatial": 1e-2}
INFERENCE_RTOL = {"flat": 1e-4, "spatial": 1e-2}


def _run_config(model: dict, **train_options) -> RunConfig:
    return RunConfig.from_dict({"model": model, "train": {**TINY_TRAIN, **train_options}})


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def cpu_run(request, tmp_path_factory) -> tuple[str, Path]:
    """A run of each family trained on the CPU (4 steps)."""
    run_dir = tmp_path_factory.mktemp(f"cpu-{request.param}") / "run"
    train(_run_config(FAMILIES[request.param], device="cpu"), run_dir, progress=False)
    return request.param, run_dir


def test_predict_eval_and_features_on_cuda_equal_the_cpu(cpu_run, tmp_path: Path, capsys) -> None:
    family, run_dir = cpu_run
    atol, rtol = INFERENCE_ATOL[family], INFERENCE_RTOL[family]
    on = {device: videoae.load(run_dir, device=device) for device in ("cpu", "cuda")}
    assert next(on["cuda"].parameters()).is_cuda
    videos = embedded_test_set(6)

    predicted = {device: predict_videos(model, videos[:, :10], num_future=12) for device, model in on.items()}
    for panel in ("reconstruction", "prediction"):
        np.testing.assert_allclose(predicted["cuda"].panels()[panel], predicted["cpu"].panels()[panel], atol=atol, rtol=0)
    scores = {device: evaluate(model, videos, num_input_frames=10, num_future=10, device=device) for device, model in on.items()}
    for decoder in ("prediction", "reconstruction"):
        for metric in ("bce", "mse", "ssim"):
            assert scores["cuda"][decoder][metric] == pytest.approx(scores["cpu"][decoder][metric], rel=rtol, abs=atol)
    features = {device: encoder_features(model, videos) for device, model in on.items()}
    np.testing.assert_allclose(features["cuda"], features["cpu"], atol=atol, rtol=rtol)

    # the same through the command line, which loads the checkpoint straight onto the device
    clips = write_npy(tmp_path / "clips.npy", generate(2, seed=5, num_frames=10))
    for device in ("cpu", "cuda"):
        common = ["--device", device]
        assert main(["eval", str(run_dir), "--num-sequences", "6", "--json", str(tmp_path / f"{device}.json"), "--no-plot", *common]) == 0
        assert main(["predict", str(run_dir), str(clips), "-o", str(tmp_path / f"pred-{device}"), "--future", "5", *common]) == 0
        assert main(["features", str(run_dir), "embedded", "--num-sequences", "6", "-o", str(tmp_path / f"{device}.npy"), *common]) == 0
    capsys.readouterr()
    cli_scores = {device: json.loads((tmp_path / f"{device}.json").read_text()) for device in ("cpu", "cuda")}
    assert cli_scores["cuda"]["prediction"]["bce"] == pytest.approx(cli_scores["cpu"]["prediction"]["bce"], rel=rtol)
    np.testing.assert_allclose(np.load(tmp_path / "cuda.npy"), np.load(tmp_path / "cpu.npy"), atol=atol, rtol=rtol)
    for name in ("clips_0_prediction.npy", "clips_1_prediction.npy"):
        np.testing.assert_allclose(np.load(tmp_path / "pred-cuda" / name), np.load(tmp_path / "pred-cpu" / name), atol=atol, rtol=0)


# -- checkpoints across devices ------------------------------------------------------------------------


CPU_ONLY_CHECK = """
import json, sys
import numpy as np
import torch
import videoae
from videoae.cli import main
from videoae.models.checkpoint import read_checkpoint

assert not torch.cuda.is_available(), "CUDA_VISIBLE_DEVICES is empty: this process must see no GPU"
for run_dir, clips_file, expected_file, atol in json.loads(sys.argv[1]):
    model = videoae.load(run_dir)  # onto the CPU, the default
    clips = torch.from_numpy(np.load(clips_file))
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(clips, 5).numpy(), np.load(expected_file), atol=atol, rtol=0)
    # and the run saved on the GPU continues here (its config says device auto)
    assert main(["train", "--resume", run_dir, "--max-steps", "6", "--no-progress"]) == 0
    assert read_checkpoint(run_dir + "/checkpoints/last.safetensors").step == 6
print("cpu-only ok")
"""


def test_a_checkpoint_saved_on_cuda_loads_and_resumes_on_a_machine_without_gpu(tmp_path: Path) -> None:
    clips = torch.from_numpy(generate(2, seed=7, num_frames=10)).float().div(255).unsqueeze(2)
    np.save(tmp_path / "clips.npy", clips.numpy())
    checks = []
    for family, model in FAMILIES.items():
        run_dir = tmp_path / family
        train(_run_config(model, device="auto"), run_dir, progress=False)  # auto: the GPU here
        checkpoint = read_checkpoint(run_dir / LAST_CHECKPOINT)
        assert "cuda_rng_rank0" in checkpoint.extra_tensors, "a run saved on CUDA keeps its CUDA generator for resume"
        with torch.no_grad():
            expected = videoae.load(run_dir, device="cuda").predict(clips.cuda(), 5).cpu().numpy()
        np.save(tmp_path / f"{family}.npy", expected)
        checks.append([str(run_dir), str(tmp_path / "clips.npy"), str(tmp_path / f"{family}.npy"), INFERENCE_ATOL[family]])
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", CPU_ONLY_CHECK, json.dumps(checks)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "cpu-only ok" in done.stdout, done.stderr[-3000:]


def test_a_checkpoint_saved_on_the_cpu_resumes_on_cuda_with_its_optimizer_state(tmp_path: Path) -> None:
    model = FAMILIES["flat"]
    straight = _run_config(model, device="cpu", max_steps=8, checkpoint_every=4)
    train(straight, tmp_path / "cpu", progress=False)
    train(straight.with_overrides(["max_steps=4"]), tmp_path / "moved", progress=False)
    train(straight.with_overrides(["device=cuda"]), tmp_path / "moved", resume=True, progress=False)
    resumed = read_checkpoint(tmp_path / "moved" / LAST_CHECKPOINT)
    assert resumed.step == 8
    # Adam's step count went on from the CPU's 4: its state was loaded, onto the GPU
    assert {float(state["step"]) for state in resumed.optimizer_state["state"].values()} == {8.0}
    losses = {}
    for name in ("cpu", "moved"):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        losses[name] = {r["step"]: r["loss"] for r in map(json.loads, lines) if "loss" in r}
    assert losses["moved"].keys() == losses["cpu"].keys() == {2, 4, 6, 8}
    for step in (6, 8):  # after the move: float32 on another device, 2-4 Adam steps on
        assert losses["moved"][step] == pytest.approx(losses["cpu"][step], rel=1e-3)


# -- resume on CUDA ------------------------------------------------------------------------------------


RESUME_CHECK = """
import json, sys
import torch
from videoae.models.checkpoint import read_checkpoint
from videoae.training.config import RunConfig
from videoae.training.loop import train

cases, out = json.loads(sys.argv[1]), sys.argv[2]
train_options = dict(max_steps=12, batch_size=4, eval_every=100, eval_sequences=8, checkpoint_every=4, log_every=2,
                     num_workers=0, device="cuda")
results = {}
for name, (model, mode) in cases.items():
    # warn_only: the warp's grid_sample and upsampling have no deterministic CUDA backward
    torch.use_deterministic_algorithms(True, warn_only=mode != "strict")
    run = RunConfig.from_dict({"model": model, "train": train_options})
    train(run, f"{out}/{name}/straight", progress=False)
    train(run.with_overrides(["max_steps=6"]), f"{out}/{name}/stopped", progress=False)
    train(run, f"{out}/{name}/stopped", resume=True, progress=False)
    straight = read_checkpoint(f"{out}/{name}/straight/checkpoints/last.safetensors").model_state
    resumed = read_checkpoint(f"{out}/{name}/stopped/checkpoints/last.safetensors").model_state
    equal = all(torch.equal(straight[key], resumed[key]) for key in straight)
    difference = max(float((straight[key].double() - resumed[key].double()).abs().max()) for key in straight)
    results[name] = {"equal": equal, "max_difference": difference}
print(json.dumps(results))
"""
# Dropout and scheduled sampling draw on the GPU: resume must restore its generator too.
RESUME_CASES = {
    "flat": ({"preset": "tiny", "hidden_size": 8, "num_layers": 2, "dropout": 0.3, "decoder_training_input": "scheduled"}, "strict"),
    "spatial-copy": ({"preset": "conv-small", "hidden_size": 4, "skip_connection": "copy"}, "strict"),
    "spatial-warp": ({"preset": "conv-small", "hidden_size": 4}, "tolerant"),
}
# With nondeterministic kernels (the warp's backward adds with atomics) the two runs differ by
# rounding, which Adam can turn into at most a few learning rates per step: after the 6 steps
# from the checkpoint to the end, 4 * lr * 6 bounds the weights' difference.
WARP_RESUME_ATOL = 4 * 1e-3 * 6  # TrainConfig's default lr, 1e-3


def test_resume_on_cuda_continues_the_same_run(tmp_path: Path) -> None:
    # cuBLAS is reproducible with a fixed workspace only, which must be set before it starts
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", RESUME_CHECK, json.dumps(RESUME_CASES), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for case, (_, mode) in RESUME_CASES.items():
        difference = results[case]["max_difference"]
        if mode == "strict":
            assert results[case]["equal"], f"{case}: resumed weights differ by up to {difference:.2e} with deterministic algorithms"
        else:
            assert difference <= WARP_RESUME_ATOL, f"{case}: resumed weights differ by up to {difference:.2e}"


# -- torchrun and NCCL ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(processes: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--master-port", str(_free_port())]


def test_train_under_torchrun_on_cuda(tmp_path: Path) -> None:
    # Two GPUs: two processes and NCCL. One GPU: one process, which trains without a process group
    # (WORLD_SIZE 1); the next test runs the loop's NCCL collectives on that GPU instead.
    processes = min(2, torch.cuda.device_count())
    args = ["train", "--preset", "tiny", "--max-steps", "4", "--no-progress", "--out", str(tmp_path / "run")]
    settings = ["hidden_size=8", "batch_size=8", "num_workers=2", "eval_every=2", "eval_sequences=8", "checkpoint_every=2", "device=cuda"]
    args += [part for setting in settings for part in ("--set", setting)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*_torchrun(processes), "-m", "videoae", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained") == 1  # only rank 0 prints
    assert read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).step == 4


NCCL_CHECK = """
import os
import torch
import torch.distributed as dist
from torch import nn
from videoae.models import build_model
from videoae.training import distributed

state = distributed.setup("cuda")
dist.init_process_group("nccl")  # the loop joins only with WORLD_SIZE > 1: join here, on one GPU
torch.manual_seed(0)
model = build_model("tiny", hidden_size=8, num_layers=2).to(state.device)
reference = build_model("tiny", hidden_size=8, num_layers=2).to(state.device)
reference.load_state_dict(model.state_dict())
wrapped = nn.parallel.DistributedDataParallel(model, device_ids=[state.device])  # as the loop wraps it
video = torch.rand(4, 20, 1, 64, 64, device=state.device)
for net in (wrapped, reference):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = net(video[:, :10], video[:, 10:])
    out["loss"].backward()
for a, b in zip(model.parameters(), reference.parameters()):
    torch.testing.assert_close(a.grad, b.grad)
# the collectives of checkpoints (RNG states: uint8), logging (sums) and stop decisions (max)
rng = torch.get_rng_state().to(state.device)
gathered = [torch.empty_like(rng)]
dist.all_gather(gathered, rng)
assert torch.equal(gathered[0], rng)
cuda_rng = torch.cuda.get_rng_state(state.device).to(state.device)
gathered = [torch.empty_like(cuda_rng)]
dist.all_gather(gathered, cuda_rng)
assert torch.equal(gathered[0].cpu(), torch.cuda.get_rng_state(state.device))
value = torch.tensor([1.0, 2.0], device=state.device)
dist.all_reduce(value, op=dist.ReduceOp.SUM)
flag = torch.tensor([1.0], device=state.device)
dist.all_reduce(flag, op=dist.ReduceOp.MAX)
objects = [None]
dist.all_gather_object(objects, {"bce": 1.5})
assert value.tolist() == [1.0, 2.0] and flag.item() == 1.0 and objects == [{"bce": 1.5}]
dist.barrier()
dist.destroy_process_group()
print("nccl ok", dist.is_nccl_available())
"""


def test_the_collectives_of_the_training_loop_run_on_nccl(tmp_path: Path) -> None:
    script = tmp_path / "nccl_check.py"
    script.write_text(textwrap.dedent(NCCL_CHECK))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*_torchrun(1), str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nccl ok True" in done.stdout


# -- every decoder variant against float64 (last: the longest, and a stopped run keeps the rest) ------------


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_forward_and_backward_on_cuda_equal_the_cpu_in_float64(case: tuple[str, dict]) -> None:
    cell, variant = case
    torch.manual_seed(0)
    model = build_model("tiny", **SIZES, **CELLS[cell], **variant)
    inputs, future = _frames(4, seed=1), _frames(3, seed=2)
    reference = _training_step(model, inputs, future, device="cpu", dtype=torch.float64, precision="fp32", plain=False)
    precisions = ["fp32", "tf32"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    # the spatial family has no deferred products: plain autograd is the same code there
    paths = [False, True] if cell == "lstm" else [False]
    for precision, plain in itertools.product(precisions, paths):
        got = _training_step(model, inputs, future, device="cuda", dtype=torch.float32, precision=precision, plain=plain)
        _assert_close(got, reference, TOLERANCES[precision], f"{precision}, {'plain autograd' if plain else 'deferred gradients'}")
