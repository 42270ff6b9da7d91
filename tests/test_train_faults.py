"""Faults that must not lose work: divergence, kills, a second writer, bad settings and bad files
on resume. Each test names the guarantee it checks (docs/training.md, "Reliability")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
from safetensors import safe_open

from videoae.cli import main
from videoae.errors import InvalidInputError
from videoae.models import CompositeModel
from videoae.models.checkpoint import load_model, read_checkpoint
from videoae.run_folder import BEST_CHECKPOINT, CONFIG_FILE, LAST_CHECKPOINT, METRICS_FILE, RunFolderLock
from videoae.training import loop
from videoae.training.config import RunConfig
from videoae.training.loop import TrainingDiverged, train

FAST = dict(batch_size=4, eval_sequences=8, num_workers=0, log_every=2, checkpoint_every=3, eval_every=5)
TINY_MODEL = {"preset": "tiny", "hidden_size": 8}


def tiny_run(**train_options) -> RunConfig:
    return RunConfig.from_dict({"model": TINY_MODEL, "train": {**FAST, **train_options}})


def all_finite(path: Path) -> bool:
    checkpoint = read_checkpoint(path)
    tensors = [*checkpoint.model_state.values()]
    optimizer_state = checkpoint.optimizer_state or {"state": {}}  # best.safetensors holds none
    for state in optimizer_state["state"].values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return all(torch.isfinite(t).all() for t in tensors)


def test_an_update_that_breaks_the_weights_is_never_saved(tmp_path: Path) -> None:
    # lr=1e38: the loss of step 1 is finite, the weights after it are not
    run = tiny_run(max_steps=20, checkpoint_every=1, log_every=1, lr=1e38)
    with pytest.raises(TrainingDiverged, match="weights or optimizer state became non-finite.*no checkpoint was written"):
        train(run, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / LAST_CHECKPOINT).exists()


def test_resuming_into_a_diverging_learning_rate_keeps_the_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    run = tiny_run(max_steps=3, checkpoint_every=1, eval_every=1)
    train(run, run_dir, progress=False)
    monkeypatch.setattr(loop, "lr_at", lambda step, config: 1e38)  # the schedule turns explosive after the resume
    with pytest.raises(TrainingDiverged, match=r"last good checkpoint .* is kept"):
        train(run.with_overrides(["max_steps=20"]), run_dir, resume=True, progress=False)
    # (an update to huge but finite weights can still be saved: finiteness is what is checked)
    assert all_finite(run_dir / LAST_CHECKPOINT) and all_finite(run_dir / BEST_CHECKPOINT)


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no handler sees it."""


def _kill_at_evaluation(monkeypatch, call: int) -> None:
    import videoae.training.loop as loop

    original, calls = loop.evaluate_during_training, {"n": 0}

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise _Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate_during_training", evaluate)


def _logged(run_dir: Path) -> list[dict]:
    # throughput is wall-clock time: the one field that may differ
    lines = (run_dir / METRICS_FILE).read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seq_per_s"} for line in lines]


def _same_checkpoint(a: Path, b: Path) -> bool:
    first, second = read_checkpoint(a), read_checkpoint(b)
    same_tensors = all(torch.equal(first.model_state[k], second.model_state[k]) for k in first.model_state)
    return same_tensors and (first.step, first.metrics) == (second.step, second.metrics)


def test_a_kill_during_an_evaluation_on_a_checkpoint_step_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    run = tiny_run(max_steps=9, checkpoint_every=3, eval_every=3, log_every=2)
    train(run, tmp_path / "straight", progress=False)
    _kill_at_evaluation(monkeypatch, call=2)  # the evaluation of step 6, a checkpoint step
    with pytest.raises(_Killed):
        train(run, tmp_path / "killed", progress=False)
    monkeypatch.undo()
    train(run, tmp_path / "killed", resume=True, progress=False)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _logged(killed) == _logged(straight)
    assert _same_checkpoint(killed / BEST_CHECKPOINT, straight / BEST_CHECKPOINT)
    assert _same_checkpoint(killed / LAST_CHECKPOINT, straight / LAST_CHECKPOINT)
    samples = sorted(p.name for p in (straight / "samples").iterdir())
    assert samples == sorted(p.name for p in (killed / "samples").iterdir()) == ["step_000003.gif", "step_000006.gif", "step_000009.gif"]
    assert all((straight / "samples" / n).read_bytes() == (killed / "samples" / n).read_bytes() for n in samples)


def test_a_resumed_run_logs_the_same_loss_means_as_an_uninterrupted_one(tmp_path: Path, monkeypatch) -> None:
    # checkpoints at 3 and 6, log lines every 4 steps: the interval 5..8 spans the resume
    run = tiny_run(max_steps=8, checkpoint_every=3, log_every=4, eval_every=100)
    train(run, tmp_path / "straight", progress=False)
    original, calls = CompositeModel.forward, {"n": 0}

    def forward(self, *args, **kwargs):
        calls["n"] += self.training
        if calls["n"] == 8:  # killed during step 8: resumes from step 6
            raise _Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompositeModel, "forward", forward)
    with pytest.raises(_Killed):
        train(run, tmp_path / "resumed", progress=False)
    monkeypatch.undo()
    train(run, tmp_path / "resumed", resume=True, progress=False)
    assert _logged(tmp_path / "resumed") == _logged(tmp_path / "straight")


# -- one writer per run folder -------------------------------------------------------------------


def test_a_second_writer_is_refused_with_the_process_that_holds_the_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunFolderLock(run_dir):  # another process training into it (flock: per open file, so this works in-process)
        with pytest.raises(InvalidInputError, match=rf"is in use: process {os.getpid()} is training into it"):
            train(tiny_run(max_steps=2), run_dir, progress=False)
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock"], "the refused writer wrote nothing"
    assert train(tiny_run(max_steps=2), run_dir, progress=False).step == 2  # released: the folder is free again


@pytest.mark.slow
def test_a_lock_held_by_another_process_refuses_the_cli_with_one_line(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from videoae.run_folder import RunFolderLock; lock = RunFolderLock(__import__('pathlib').Path(sys.argv[1])); print('locked', flush=True); sys.stdin.read()",
            str(run_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        code = main(["train", "--preset", "tiny", "--max-steps", "1", "--set", "num_workers=0", "--out", str(run_dir), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and f"process {holder.pid} is training into it" in err and err.count("\n") == 1, err
    finally:
        holder.stdin.close()
        holder.wait()
    assert not (run_dir / CONFIG_FILE).exists()


# -- a run killed before its first checkpoint ----------------------------------------------------


def _kill_during_step(monkeypatch, step: int) -> None:
    original, calls = CompositeModel.forward, {"n": 0}

    def forward(self, *args, **kwargs):
        calls["n"] += self.training
        if calls["n"] == step:
            raise _Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompositeModel, "forward", forward)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0_on_a_clean_log(tmp_path: Path, monkeypatch, caplog) -> None:
    run = tiny_run(max_steps=8, checkpoint_every=100, eval_every=100, log_every=2)
    train(run, tmp_path / "straight", progress=False)
    _kill_during_step(monkeypatch, 7)
    with pytest.raises(_Killed):
        train(run, tmp_path / "killed", progress=False)
    monkeypatch.undo()
    assert [r["step"] for r in _logged(tmp_path / "killed")] == [2, 4, 6]
    with pytest.raises(InvalidInputError, match="already holds a run; resume it"):  # never appended to
        train(run, tmp_path / "killed", progress=False)
    assert train(run, tmp_path / "killed", resume=True, progress=False).step == 8
    assert "has no checkpoint yet: training it again from step 0" in caplog.text
    assert _logged(tmp_path / "killed") == _logged(tmp_path / "straight")


# -- settings checked before the run folder exists -----------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("seed=-1", "seed must be in"),
        ("seed=18446744073709551615", "seed must be in"),
        ("init_range=1e39", "init_range must be of type float (a finite number"),
        ("forget_bias=NaN", "forget_bias must be of type float (a finite number"),
        ("digits=nope.npy", "nope.npy"),
        ("seed=1" + "0" * 5000, "the value is an integer of more than 4300 digits"),
        ("lr=" + "[" * 5000, "the value is nested too deeply"),
        ("eval_sequences=1000000", "use eval_sequences <= 13,107"),  # once trained, then died at the first evaluation
        ("batch_size=1000000", "use batch_size <= 13,107"),
        ("num_workers=100000", "num_workers must be in [0, 256]"),
        ("max_steps=" + "1" + "0" * 30, "max_steps must be in [1, 2**53]"),
        ("num_layers=1000000", "num_layers must be in [1, 64]"),
        ("a" * 100_000 + "=1", "(100,000 characters) is not a setting"),
        ("lr=" + "x" * 100_000, "(100,000 characters)"),
    ],
    ids=lambda value: value[:24],
)
def test_invalid_settings_leave_no_run_folder(tmp_path: Path, capsys, setting: str, message: str) -> None:
    code = main(
        ["train", "--preset", "tiny", "--max-steps", "1", "--set", "num_workers=0", "--set", setting, "--out", str(tmp_path / "run")]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def _alias_bomb() -> str:
    """371 bytes of YAML whose last alias names a list of 9**8 numbers."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "x:\n" + "\n".join("  " + line for line in lines) + "\ntrain:\n  speed: *a8\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bomb.yaml", _alias_bomb(), "holds more than 10,000 values"),
        ("big.json", '{"train": {"optimizer": "' + "a" * 2**21 + '"}}', "larger than 1,048,576 bytes"),
        ("key.json", '{"train": {"' + "k" * 900_000 + '": 1}}', "(900,000 characters)"),
        ("list.yaml", "model: {preset: [tiny]}\n", "unknown model preset ['tiny']"),
        ("map.yaml", "model: {preset: {name: tiny}}\n", "unknown model preset {'name': 'tiny'}"),
        ("keys.yaml", "model: {1: 2}\n3: 4\n", "unknown config section(s): 3"),
        ("latin1.yaml", "train: {digits: caf\xe9}\n".encode("latin-1"), "not UTF-8 text (byte 19); save the config as UTF-8"),
        ("digits.yaml", "train: {seed: 1" + "0" * 5000 + "}\n", "an integer of more than 4300 digits"),
        ("digits.json", '{"train": {"seed": 1' + "0" * 5000 + "}}", "an integer of more than 4300 digits"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else "",
)
def test_a_config_file_past_limits_or_of_wrong_types_is_one_short_line(tmp_path: Path, capsys, name: str, content, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    started = time.monotonic()
    code = main(["train", "--config", str(path), "--max-steps", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and len(err) < 2000, err[:3000]
    assert time.monotonic() - started < 10  # the bomb once took 60 s and 3.3 GB; a long key 2.2 GB for "did you mean"
    assert not (tmp_path / "run").exists()


def test_a_config_from_a_pipe_is_read(tmp_path: Path, capsys) -> None:
    read_end, write_end = os.pipe()  # what the shell's --config <(echo ...) passes: /dev/fd/N
    os.write(write_end, b'{"model": "tiny", "train": {"seed": -1}}')
    os.close(write_end)
    try:
        code = main(["train", "--config", f"/dev/fd/{read_end}", "--out", str(tmp_path / "run")])
    finally:
        os.close(read_end)
    err = capsys.readouterr().err
    assert code == 2 and "seed must be in" in err, err  # read and validated, not "no such config file"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_symlink_loop_as_out_is_named_as_such(tmp_path: Path, capsys) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code = main(["train", "--preset", "tiny", "--max-steps", "1", "--out", str(loop)])
    err = capsys.readouterr().err
    assert code == 2 and "symbolic link that leads nowhere" in err and "File exists" not in err


def test_tensorboard_without_its_package_leaves_no_run_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(InvalidInputError, match="needs the tensorboard package"):
        train(tiny_run(max_steps=1, tensorboard=True), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# -- damaged or edited files on resume: one line, nothing lost -----------------------------------


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained for 3 steps; copy it before damaging it."""
    run_dir = tmp_path_factory.mktemp("short") / "run"
    train(tiny_run(max_steps=3, eval_every=100), run_dir, progress=False)
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def _edit_checkpoint(path: Path, edit) -> None:
    """Rewrite a checkpoint with ``edit(document, tensors)`` applied to its metadata and tensors."""
    with safe_open(str(path), framework="pt") as handle:
        document = json.loads(handle.metadata()["videoae"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - safe_open is not a mapping
    edit(document, tensors)
    safetensors.torch.save_file(tensors, str(path), metadata={"videoae": json.dumps(document)})


def _resume_fails_with_one_line(run_dir: Path, capsys, message: str) -> None:
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    code = main(["train", "--resume", str(run_dir), "--max-steps", "6", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert all(p.read_bytes() == data for p, data in before.items()), "nothing already saved changes"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"model": "tiny", "train": {"seed": 0}}\xff\xfe', "damaged run config"),
        (b"[1, 2, 3]", "damaged run config (a list, not a mapping)"),
        (b"[" * 100_000 + b"]" * 100_000, "damaged run config (nested too deeply)"),
    ],
)
def test_a_damaged_run_config_on_resume_gives_one_line(short_run: Path, tmp_path: Path, capsys, content: bytes, message: str) -> None:
    run_dir = _copy(short_run, tmp_path)
    (run_dir / CONFIG_FILE).write_bytes(content)
    _resume_fails_with_one_line(run_dir, capsys, message)


def test_a_metrics_log_ending_in_undecodable_bytes_resumes(short_run: Path, tmp_path: Path) -> None:
    run_dir = _copy(short_run, tmp_path)
    with open(run_dir / METRICS_FILE, "ab") as handle:
        handle.write(b'{"step": 4, "loss": \xff\xfe\xfd')
    assert main(["train", "--resume", str(run_dir), "--max-steps", "4", "--no-progress"]) == 0
    assert [r["step"] for r in _logged(run_dir) if "loss" in r] == [2, 3, 4]


def _set(key: str, value):
    def edit(document: dict, tensors: dict) -> None:
        if key == "best_score":
            document["extra"]["best_score"] = value
        else:
            document[key] = value

    return edit


def _num_params(document: dict, tensors: dict) -> None:
    document["optimizer"]["param_groups"][0]["num_params"] = 10**11


def _rng_as_float(document: dict, tensors: dict) -> None:
    tensors["extra/rng_rank0"] = tensors["extra/rng_rank0"].float()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("step", float("inf")), "step inf is not a count of steps"),
        (_set("step", -4), "step -4 is not a count of steps"),
        (_set("step", 10**30), "step 1000000000000000000000000000000 is not a count of steps (0 to 2**53)"),
        (_set("best_score", "low"), "best_score 'low' (not a finite number)"),
        (_num_params, "declares 100000000000 parameters"),
        (_rng_as_float, "an RNG state of dtype torch.float32"),
    ],
    ids=["step-infinity", "step-negative", "step-1e30", "best-score-string", "num-params-1e11", "rng-float"],
)
def test_a_damaged_checkpoint_on_resume_gives_one_line(short_run: Path, tmp_path: Path, capsys, edit, message: str) -> None:
    run_dir = _copy(short_run, tmp_path)
    _edit_checkpoint(run_dir / LAST_CHECKPOINT, edit)
    _resume_fails_with_one_line(run_dir, capsys, message)


def test_a_checkpoint_declaring_a_huge_model_is_refused_before_building_it(short_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    shutil.copy(short_run / LAST_CHECKPOINT, path)
    _edit_checkpoint(path, lambda document, tensors: document["model_config"].update(hidden_size=12000))
    with pytest.raises(InvalidInputError, match="do not match its model config"):
        load_model(path)  # 12000 hidden units would be gigabytes: the shapes are compared on the meta device


def test_a_checkpoint_header_claiming_a_million_layers_is_refused_at_once(short_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "deep.safetensors"
    shutil.copy(short_run / LAST_CHECKPOINT, path)
    _edit_checkpoint(path, lambda document, tensors: document["model_config"].update(num_layers=10**6))
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match=r"num_layers must be in \[1, 64\]"):
        load_model(path)  # building a million layers, even on the meta device, took minutes and gigabytes
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("dtype", [torch.bool, torch.int8])
def test_weights_stored_as_integers_are_refused_not_cast(short_run: Path, tmp_path: Path, dtype: torch.dtype) -> None:
    path = tmp_path / "cast.safetensors"
    shutil.copy(short_run / LAST_CHECKPOINT, path)

    def cast(document: dict, tensors: dict) -> None:
        name = next(name for name in sorted(tensors) if name.startswith("model/"))
        tensors[name] = tensors[name].to(dtype)

    _edit_checkpoint(path, cast)
    with pytest.raises(InvalidInputError, match=f"non-float weights .*{dtype}"):
        load_model(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_a_checkpoint_is_refused_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "last.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInputError, match="not a regular file"):
        load_model(fifo)


# -- smaller things ------------------------------------------------------------------------------


def test_a_full_disk_names_the_file_not_its_temporary_and_says_disk_full(tmp_path: Path, monkeypatch) -> None:
    import errno

    import videoae.atomic as atomic
    from videoae.cli import _one_line

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic.write_json_atomically(tmp_path / "eval.json", {"a": 1})
    assert _one_line(info.value) == f"{tmp_path / 'eval.json'}: disk full"
    assert list(tmp_path.iterdir()) == []


def test_only_the_training_process_acts_on_ctrl_c_not_its_dataloader_workers(monkeypatch, caplog) -> None:
    import videoae.training.stop_request as stop_request

    stop = stop_request.StopRequest()
    try:
        monkeypatch.setattr(stop_request.os, "getpid", lambda: -1)  # as in a forked worker
        stop._handle(signal.SIGINT, None)
        assert not stop.requested and "stopping after this step" not in caplog.text
        monkeypatch.undo()
        stop._handle(signal.SIGINT, None)
        assert stop.requested and caplog.text.count("stopping after this step") == 1
    finally:
        stop.restore()
