"""Training: the run folder, exact resume, robustness, and the command line."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from videoae.cli import main
from videoae.data.training_batches import StepBatchSampler
from videoae.errors import InvalidInputError
from videoae.models import CompositeModel
from videoae.models.checkpoint import read_checkpoint
from videoae.training.config import RunConfig, TrainConfig
from videoae.training.loop import LAST_CHECKPOINT, TrainingDiverged, TrainingInterrupted, train
from videoae.training.schedules import ground_truth_at, lr_at

FAST = dict(batch_size=4, eval_sequences=8, num_workers=0, log_every=2, checkpoint_every=3, eval_every=5)
TINY_MODEL = {"preset": "tiny", "hidden_size": 8}


def tiny_run(**train_options) -> RunConfig:
    return RunConfig.from_dict({"model": TINY_MODEL, "train": {**FAST, **train_options}})


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / LAST_CHECKPOINT).model_state


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_writes_config_metrics_checkpoints_and_samples(tmp_path: Path) -> None:
    result = train(tiny_run(max_steps=10), tmp_path / "run", progress=False)
    run_dir = tmp_path / "run"
    assert result.step == 10 and result.stop_reason == "max_steps"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["hidden_size"] == 8 and config["train"]["max_steps"] == 10
    logged = records(run_dir)
    assert [r["step"] for r in logged if "loss" in r] == [2, 4, 6, 8, 10]
    evals = [r for r in logged if "eval" in r]
    assert [r["step"] for r in evals] == [5, 10]
    assert {"prediction", "reconstruction", "baselines"} <= set(evals[-1]["eval"])
    assert all(math.isfinite(r["loss"]) and r["seq_per_s"] > 0 for r in logged if "loss" in r)
    assert (run_dir / "checkpoints" / "best.safetensors").is_file()
    assert read_checkpoint(run_dir / LAST_CHECKPOINT).step == 10
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step_000005.gif", "step_000010.gif"]


def test_resume_ends_bit_identical_to_an_uninterrupted_run(tmp_path: Path) -> None:
    # dropout and scheduled sampling make the run consume the RNG, which resume must restore
    options = dict(max_steps=12, checkpoint_every=4)
    run = tiny_run(**options).with_overrides(["dropout=0.3", "num_layers=2", 'decoder_training_input="scheduled"'])
    train(run, tmp_path / "straight", progress=False)
    train(run.with_overrides(["max_steps=6"]), tmp_path / "stopped", progress=False)
    train(run, tmp_path / "stopped", resume=True, progress=False)
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "stopped")
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
    # the log is not duplicated by the resumed part
    steps = [r["step"] for r in records(tmp_path / "stopped") if "loss" in r]
    assert steps == sorted(set(steps))


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_is_bit_identical(tmp_path: Path) -> None:
    args = ["--preset", "tiny", "--set", "hidden_size=8", "--set", "batch_size=4", "--set", "num_workers=0"]
    args += ["--set", "eval_every=1000", "--set", "eval_sequences=4", "--set", "checkpoint_every=7", "--no-progress"]
    max_steps = ["--max-steps", "400"]
    assert main(["train", *args, *max_steps, "--out", str(tmp_path / "straight")]) == 0

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "videoae", "train", *args, *max_steps, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (killed / LAST_CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # somewhere inside a later step or checkpoint write
    process.send_signal(signal.SIGKILL)
    process.wait()
    step_at_kill = read_checkpoint(killed / LAST_CHECKPOINT).step
    assert 0 < step_at_kill < 400, "the kill should land mid-run"

    assert main(["train", "--resume", str(killed), *max_steps, "--no-progress"]) == 0
    straight, resumed = weights(tmp_path / "straight"), weights(killed)
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
    assert not [p for p in (killed / "checkpoints").iterdir() if p.name.endswith(".tmp")]


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    original = CompositeModel.forward
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 7:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(CompositeModel, "forward", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan.*last good checkpoint"):
        train(tiny_run(max_steps=20, eval_every=100), tmp_path / "run", progress=False)
    checkpoint = read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT)
    assert checkpoint.step == 6
    assert all(torch.isfinite(t).all() for t in checkpoint.model_state.values())


def test_nan_in_compiled_bf16_points_at_compile_not_the_learning_rate(tmp_path: Path, monkeypatch) -> None:
    original = CompositeModel.forward

    def poisoned(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(CompositeModel, "forward", poisoned)
    monkeypatch.setattr(torch, "compile", lambda model: model)  # what is checked is the advice, not inductor
    with pytest.raises(TrainingDiverged, match="without torch.compile"):
        train(tiny_run(max_steps=4, compile=True, precision="bf16"), tmp_path / "run", progress=False)


def _interrupt_at_call(monkeypatch, call: int, interrupt) -> None:
    original = CompositeModel.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == call:
                interrupt()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompositeModel, "forward", forward)


def test_ctrl_c_finishes_the_step_saves_and_the_run_resumes(tmp_path: Path, monkeypatch) -> None:
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    _interrupt_at_call(monkeypatch, 5, lambda: signal.raise_signal(signal.SIGINT))
    with pytest.raises(TrainingInterrupted, match="interrupted after step 5.*--resume"):
        train(tiny_run(max_steps=10, eval_every=100), tmp_path / "run", progress=False)
    assert read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).step == 5
    assert signal.getsignal(signal.SIGINT) is before, "the handler is restored"
    monkeypatch.undo()
    result = train(tiny_run(max_steps=10, eval_every=100), tmp_path / "run", resume=True, progress=False)
    assert result.step == 10


def test_a_second_ctrl_c_aborts_mid_step_without_saving(tmp_path: Path, monkeypatch) -> None:
    def twice() -> None:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    _interrupt_at_call(monkeypatch, 5, twice)
    with pytest.raises(TrainingInterrupted, match=r"aborted during step 5.*\(step 3\) is kept"):
        train(tiny_run(max_steps=10, eval_every=100), tmp_path / "run", progress=False)
    assert read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).step == 3


def test_a_failing_disk_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    import videoae.atomic as atomic_module

    real_replace = os.replace
    saves = {"n": 0}

    def flaky_replace(source, target):
        if str(target).endswith("last.safetensors"):
            saves["n"] += 1
            if saves["n"] == 2:
                raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(atomic_module.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full.*previous checkpoint is intact"):
        train(tiny_run(max_steps=10, eval_every=100), tmp_path / "run", progress=False)
    assert read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT).step == 3


def test_learning_rate_schedules() -> None:
    config = TrainConfig(lr=1.0, warmup_steps=4, schedule="cosine", max_steps=14, min_lr_ratio=0.1)
    assert [lr_at(s, config) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(9, config) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(14, config) == pytest.approx(0.1)
    assert lr_at(7, TrainConfig(lr=0.5)) == 0.5


def test_batches_are_sharded_by_index_and_fixed_data_is_reshuffled_each_pass() -> None:
    single = StepBatchSampler(start_step=3, end_step=4, global_batch=6)
    shards = [StepBatchSampler(start_step=3, end_step=4, global_batch=6, rank=r, world_size=2) for r in range(2)]
    assert list(single) == [[18, 19, 20, 21, 22, 23]]
    assert sum((next(iter(s)) for s in shards), []) == next(iter(single))
    fixed = StepBatchSampler(start_step=0, end_step=4, global_batch=5, num_items=10, seed=1)
    first_pass, second_pass = sum(list(fixed)[:2], []), sum(list(fixed)[2:], [])
    assert sorted(first_pass) == sorted(second_pass) == list(range(10))
    assert first_pass != second_pass
    with pytest.raises(InvalidInputError, match="divisible"):
        StepBatchSampler(start_step=0, end_step=1, global_batch=5, world_size=2)


def test_training_on_a_fixed_array_file(tmp_path: Path) -> None:
    from videoae.data.moving_mnist import generate
    from videoae.data.video_writers import write_npy

    path = write_npy(tmp_path / "train.npy", generate(12, seed=3))
    result = train(tiny_run(max_steps=4, data=str(path)), tmp_path / "run", progress=False)
    assert result.step == 4


def test_cli_rejects_bad_settings_before_training(tmp_path: Path, capsys) -> None:
    for options, message in [
        (["--preset", "tiny", "--set", "train.lr=-1"], "lr must be a positive number"),
        (["--preset", "tiny", "--set", "hidden_sise=3"], "'hidden_sise' is not a setting"),
        (["--preset", "tiny", "--set", "optimizer=adamw"], "optimizer must be one of"),
        (["--preset", "huge"], "unknown model preset"),
    ]:
        code = main(["train", *options, "--out", str(tmp_path / "run"), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_cli_refuses_to_overwrite_a_run_and_to_change_a_resumed_one(tmp_path: Path, capsys) -> None:
    common = ["--set", "hidden_size=8", "--set", "batch_size=4", "--set", "num_workers=0", "--set", "eval_sequences=4", "--no-progress"]
    assert main(["train", "--preset", "tiny", "--max-steps", "2", *common, "--out", str(tmp_path / "run")]) == 0
    before = (tmp_path / "run" / LAST_CHECKPOINT).read_bytes()
    capsys.readouterr()
    assert main(["train", "--preset", "tiny", "--max-steps", "2", *common, "--out", str(tmp_path / "run")]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "run"), "--set", "lr=1"]) == 2
    assert "takes no --set" in capsys.readouterr().err
    assert (tmp_path / "run" / LAST_CHECKPOINT).read_bytes() == before


def test_cli_reports_an_unwritable_output_folder(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["train", "--preset", "tiny", "--max-steps", "1", "--out", str(blocker / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the run folder" in err and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"


def test_config_files_json_and_yaml(tmp_path: Path) -> None:
    from videoae.training.config import load_config_file

    (tmp_path / "run.yaml").write_text("model:\n  preset: tiny\n  hidden_size: 12\ntrain:\n  lr: 0.0003\n")
    (tmp_path / "run.json").write_text(json.dumps({"model": "paper", "train": {"optimizer": "sgd"}}))
    from_yaml = RunConfig.from_dict(load_config_file(tmp_path / "run.yaml"))
    assert from_yaml.model.hidden_size == 12 and from_yaml.train.lr == 3e-4
    assert RunConfig.from_dict(load_config_file(tmp_path / "run.json")).train.optimizer == "sgd"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not a valid json config"):
        load_config_file(tmp_path / "bad.json")
    with pytest.raises(InvalidInputError, match="unknown config section"):
        RunConfig.from_dict({"optimiser": {}})


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_processes_match_one_with_the_same_global_batch(tmp_path: Path) -> None:
    args = ["train", "--preset", "tiny", "--max-steps", "6", "--no-progress"]
    for setting in ["hidden_size=8", "batch_size=8", "num_workers=0", "eval_every=3", "eval_sequences=8", "checkpoint_every=3"]:
        args += ["--set", setting]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_free_port()), "-m", "videoae"]
    completed = subprocess.run([*command, *args, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5)
    # metrics were reduced over both processes: the evaluation covers all 8 sequences
    evals = [r["eval"] for r in records(tmp_path / "two") if "eval" in r]
    reference = [r["eval"] for r in records(tmp_path / "one") if "eval" in r]
    assert evals[-1]["data"]["num_sequences"] == 8
    assert evals[-1]["prediction"]["bce"] == pytest.approx(reference[-1]["prediction"]["bce"], rel=1e-4)
    assert "trained" in completed.stdout and completed.stdout.count("trained") == 1  # only rank 0 prints


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sampler_is_deterministic_for_the_generator() -> None:
    a = list(StepBatchSampler(start_step=0, end_step=3, global_batch=4))
    b = list(StepBatchSampler(start_step=2, end_step=3, global_batch=4))
    assert a[2] == b[0] == [8, 9, 10, 11]
    assert np.array_equal(np.array(a).ravel(), np.arange(12))


def test_training_leaves_float_handling_as_it_found_it(tmp_path: Path) -> None:
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a denormal
    train(tiny_run(max_steps=2, eval_every=100), tmp_path / "run", progress=False)
    assert (tiny * 1.0).item() != 0.0, "denormals must not stay flushed after training"


def test_scheduled_sampling_anneals_from_ground_truth_to_own_output() -> None:
    config = TrainConfig(ground_truth_decay_steps=4)
    assert [ground_truth_at(step, config) for step in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert ground_truth_at(3, TrainConfig()) is None  # the model's own fixed probability


def test_the_best_checkpoint_holds_no_optimizer_state(tmp_path: Path) -> None:
    # resume reads last.safetensors; best.safetensors is for eval, predict and features (Adam's two
    # moments would triple its size)
    train(tiny_run(max_steps=5, eval_every=5), tmp_path / "run", progress=False)
    best = read_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors")
    last = read_checkpoint(tmp_path / "run" / LAST_CHECKPOINT)
    assert best.optimizer_state is None and last.optimizer_state is not None
    assert best.model_state.keys() == last.model_state.keys() and best.metrics and best.step == 5
    sizes = {name: (tmp_path / "run" / "checkpoints" / f"{name}.safetensors").stat().st_size for name in ("best", "last")}
    assert sizes["best"] < sizes["last"] / 2


@pytest.mark.parametrize(
    "setting, suggestion",
    [
        ("learning_rate=0.01", "did you mean lr?"),
        ("train.learning_rate=0.01", "did you mean lr?"),
        ("hidden_sise=8", "did you mean hidden_size?"),
        ("model.layers=2", "did you mean num_layers?"),
        ("epochs=3", "did you mean max_steps?"),
    ],
)
def test_an_unknown_setting_is_answered_with_the_closest_names_before_the_full_list(tmp_path: Path, capsys, setting, suggestion) -> None:
    code = main(["train", "--preset", "tiny", "--set", setting, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert suggestion in err and err.index(suggestion) < err.index("known: ")  # the full list comes last


def test_a_config_file_with_a_common_name_gets_the_same_hint(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"learning_rate \(did you mean lr\?\); known keys"):
        RunConfig.from_dict({"train": {"learning_rate": 0.1}})
    with pytest.raises(InvalidInputError, match=r"unknown train config key\(s\): zzz; known keys"):
        RunConfig.from_dict({"train": {"zzz": 1}})
