"""Training on a cluster, in one process: preemption signals, auto-resume, a lost last checkpoint,
edited configs and the process-group environment (tests/test_cluster.py runs several processes)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from videoae.cli import main
from videoae.errors import EXIT_RESUMABLE, InvalidInputError
from videoae.models import CompositeModel
from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import BEST_CHECKPOINT, CONFIG_FILE, LAST_CHECKPOINT, METRICS_FILE
from videoae.training import loop
from videoae.training.config import RunConfig
from videoae.training.distributed import DistState, process_place
from videoae.training.loop import TrainingInterrupted, train

FAST = dict(batch_size=4, eval_sequences=8, num_workers=0, log_every=2, checkpoint_every=3, eval_every=5)
TINY_MODEL = {"preset": "tiny", "hidden_size": 8}
CLI_RUN = ["--preset", "tiny", "--set", "hidden_size=8", "--set", "batch_size=4", "--set", "num_workers=0"]
CLI_RUN += ["--set", "eval_every=5", "--set", "eval_sequences=4", "--set", "checkpoint_every=3", "--no-progress"]


def tiny_run(**train_options) -> RunConfig:
    # dropout and scheduled sampling consume the RNG, which a resume must restore
    run = RunConfig.from_dict({"model": TINY_MODEL, "train": {**FAST, **train_options}})
    return run.with_overrides(["dropout=0.3", "num_layers=2", 'decoder_training_input="scheduled"', "ground_truth_decay_steps=8"])


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / LAST_CHECKPOINT).model_state


def same_weights(a: Path, b: Path) -> bool:
    first, second = weights(a), weights(b)
    return first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)


def _signal_at_step(monkeypatch, step: int, *signums: int) -> None:
    original, calls = CompositeModel.forward, {"n": 0}

    def forward(self, *args, **kwargs):
        if self.training:
            calls["n"] += 1
            if calls["n"] == step:
                for signum in signums:
                    signal.raise_signal(signum)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CompositeModel, "forward", forward)


@contextlib.contextmanager
def _default_handler(signum: int):
    """The signal's default action around a test (pytest or a shell may have changed it)."""
    before = signal.signal(signum, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signum, before)


# -- preemption signals ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGUSR1"])
def test_a_preemption_signal_saves_after_the_step_and_resumes_bit_identically(tmp_path: Path, monkeypatch, name: str) -> None:
    signum = getattr(signal, name)
    run = tiny_run(max_steps=12)
    train(run, tmp_path / "straight", progress=False)
    with _default_handler(signum):
        _signal_at_step(monkeypatch, 5, signum, signum)  # a repeat changes nothing: the save still happens
        with pytest.raises(TrainingInterrupted, match=rf"after step 5 \({name}\); saved .*--resume") as stopped:
            train(run, tmp_path / "stopped", progress=False)
        assert signal.getsignal(signum) == signal.SIG_DFL, "the handler is restored"
    assert stopped.value.exit_code == EXIT_RESUMABLE == 75
    assert read_checkpoint(tmp_path / "stopped" / LAST_CHECKPOINT).step == 5
    monkeypatch.undo()
    assert train(run, tmp_path / "stopped", resume=True, progress=False).step == 12
    assert same_weights(tmp_path / "stopped", tmp_path / "straight")


def test_sighup_is_left_alone_under_nohup(tmp_path: Path, monkeypatch) -> None:
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what nohup does
    try:
        _signal_at_step(monkeypatch, 2, signal.SIGHUP)
        assert train(tiny_run(max_steps=4), tmp_path / "run", progress=False).step == 4
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


@pytest.mark.slow
def test_sigterm_to_the_command_exits_75_with_one_line_and_a_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "videoae", "train", *CLI_RUN, "--max-steps", "100000", "--out", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / LAST_CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 75, err
    assert err.count("videoae: error:") == 1 and "Traceback" not in err, err
    step = read_checkpoint(run_dir / LAST_CHECKPOINT).step
    assert f"interrupted after step {step} (SIGTERM)" in err


# -- the lock dies with its owner ------------------------------------------------------------------


@pytest.mark.slow
def test_a_resume_straight_after_sigkill_is_not_refused_by_the_dead_runs_workers(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # two DataLoader workers: they outlive their killed parent for a moment
    command = [sys.executable, "-m", "videoae", "train", *CLI_RUN, "--set", "num_workers=2", "--max-steps", "100000"]
    process = subprocess.Popen([*command, "--out", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run_dir / LAST_CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert main(["train", "--resume", str(run_dir), "--max-steps", str(read_checkpoint(run_dir / LAST_CHECKPOINT).step + 2)]) == 0


# -- auto-resume -----------------------------------------------------------------------------------


def test_resume_if_exists_starts_then_continues_to_the_same_weights(tmp_path: Path, capsys) -> None:
    straight, requeued = tmp_path / "straight", tmp_path / "requeued"
    assert main(["train", *CLI_RUN, "--max-steps", "9", "--out", str(straight)]) == 0
    for limit in ("4", "9", "9"):  # a new folder; a run to continue; a finished run (nothing to do)
        assert main(["train", *CLI_RUN, "--max-steps", limit, "--out", str(requeued), "--resume-if-exists"]) == 0
    assert same_weights(straight, requeued)
    steps = [json.loads(line)["step"] for line in (requeued / METRICS_FILE).read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 9


def test_resume_if_exists_refuses_another_configuration_with_one_line(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", *CLI_RUN, "--max-steps", "3", "--out", str(run_dir)]) == 0
    before = {p.name: p.read_bytes() for p in [run_dir / CONFIG_FILE, run_dir / METRICS_FILE, run_dir / LAST_CHECKPOINT]}
    capsys.readouterr()
    code = main(["train", *CLI_RUN, "--set", "lr=0.01", "--max-steps", "6", "--out", str(run_dir), "--resume-if-exists"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "holds a run of another configuration (train.lr (0.001 in the run, 0.01 now))" in err
    assert before == {p.name: p.read_bytes() for p in [run_dir / CONFIG_FILE, run_dir / METRICS_FILE, run_dir / LAST_CHECKPOINT]}


def test_resume_takes_no_settings_and_says_which_were_given(tmp_path: Path, capsys) -> None:
    assert main(["train", "--resume", str(tmp_path), "--resume-if-exists", "--preset", "tiny"]) == 2
    assert "takes no --preset, --resume-if-exists; to give the whole command" in capsys.readouterr().err


# -- a resume that cannot find its checkpoint never starts over ------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 12 steps: checkpoints every 3, evaluations every 5, a best checkpoint."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    train(tiny_run(max_steps=12), run_dir, progress=False)
    return run_dir


def _copy_without_last(trained_run: Path, tmp_path: Path, replace_with) -> Path:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    last = run_dir / LAST_CHECKPOINT
    last.unlink()
    replace_with(last)
    return run_dir


@pytest.mark.parametrize(
    ("replace_with", "message"),
    [
        (lambda last: None, "has trained (checkpoints/best.safetensors exists, metrics.jsonl logs step 12) but"),
        (lambda last: last.symlink_to(last.parent / "gone.safetensors"), "is not a checkpoint file (a folder, a broken link"),
        (lambda last: last.mkdir(), "is not a checkpoint file (a folder, a broken link"),
    ],
    ids=["deleted", "dangling-symlink", "folder"],
)
def test_a_run_that_lost_its_last_checkpoint_is_refused_and_untouched(
    trained_run: Path, tmp_path: Path, capsys, replace_with, message
) -> None:
    run_dir = _copy_without_last(trained_run, tmp_path, replace_with)
    before = {name: (run_dir / name).read_bytes() for name in (METRICS_FILE, CONFIG_FILE, BEST_CHECKPOINT)}
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert before == {name: (run_dir / name).read_bytes() for name in (METRICS_FILE, CONFIG_FILE, BEST_CHECKPOINT)}


def test_a_log_alone_that_shows_progress_also_refuses(trained_run: Path, tmp_path: Path) -> None:
    run_dir = _copy_without_last(trained_run, tmp_path, lambda last: None)
    (run_dir / BEST_CHECKPOINT).unlink()
    with pytest.raises(InvalidInputError, match="has trained \\(metrics.jsonl logs step 12\\) but .* is missing"):
        train(tiny_run(max_steps=12), run_dir, resume=True, progress=False)


# -- hand edits of config.json between runs --------------------------------------------------------


def test_a_hand_edited_train_setting_is_refused_on_resume(trained_run: Path, tmp_path: Path, capsys) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    config["train"]["lr"] = 0.5
    config["train"]["max_steps"] = 15  # a limit: allowed to change
    (run_dir / CONFIG_FILE).write_text(json.dumps(config))
    assert main(["train", "--resume", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "differs from the train settings last.safetensors was trained with (lr (0.001 in the run, 0.5 now))" in err, err
    assert read_checkpoint(run_dir / LAST_CHECKPOINT).step == 12


# -- the process-group environment -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RANK": "1"}, "RANK=1, WORLD_SIZE=1, LOCAL_RANK=0 do not fit together"),
        ({"RANK": "1", "WORLD_SIZE": "1"}, "do not fit together"),
        ({"RANK": "zero"}, "RANK='zero' is not a process number"),
        ({"WORLD_SIZE": "-2"}, "WORLD_SIZE='-2' is not a process number"),
        ({"LOCAL_RANK": "9" * 40}, "LOCAL_RANK='99999999999999999999...' is not a process number"),
        ({"WORLD_SIZE": "0"}, "do not fit together"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR or MASTER_PORT is not set"),
    ],
)
def test_a_stray_or_inconsistent_process_environment_is_refused_with_one_line(
    tmp_path: Path, monkeypatch, capsys, environ, message
) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["train", *CLI_RUN, "--max-steps", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_process_place_reads_torchruns_environment() -> None:
    place = process_place({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "29500"})
    assert (place.rank, place.world_size, place.local_rank) == (3, 4, 1)
    assert process_place({}).world_size == 1


def test_a_global_batch_the_processes_do_not_divide_is_refused_before_the_folder_exists(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="batch_size 4 \\(the global batch\\) is not divisible by the 3 processes"):
        loop._Trainer(
            tiny_run(max_steps=2),
            tmp_path / "run",
            DistState(world_size=3),
            contextlib.ExitStack(),
            resume=False,
            resume_if_exists=False,
            progress=False,
        )
    assert not (tmp_path / "run").exists()


def test_only_the_training_process_stops_on_a_signal_its_workers_ignore_it(monkeypatch) -> None:
    import videoae.training.stop_request as stop_request

    stop = stop_request.StopRequest()
    try:
        monkeypatch.setattr(stop_request.os, "getpid", lambda: -1)  # as in a forked DataLoader worker
        signal.raise_signal(signal.SIGTERM)
        assert not stop.requested
        monkeypatch.undo()
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested and stop.preempted and stop.signal_name == "SIGTERM"
    finally:
        stop.restore()
    assert os.getpid() > 0
