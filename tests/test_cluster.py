"""Training with several processes, as on a cluster (gloo on CPU): Ctrl-C and restarts under
torchrun, two nodes, a changed number of processes on resume, a dead peer and a refused start.
Every process is bounded by a timeout; all of it is slow."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from videoae.cli import main
from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import CONFIG_FILE, LAST_CHECKPOINT, LOCK_FILE, METRICS_FILE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available"),
]

SETTINGS = ["hidden_size=8", "batch_size=8", "num_workers=0", "eval_every=1000", "eval_sequences=8", "checkpoint_every=3"]
TRAIN = ["train", "--preset", "tiny", "--no-progress", *[arg for setting in SETTINGS for arg in ("--set", setting)]]
# dropout and scheduled sampling draw from each process's RNG, which a resume must restore
RANDOM = ["--set", "dropout=0.3", "--set", "num_layers=2", "--set", "decoder_training_input=scheduled"]
RANDOM += ["--set", "ground_truth_decay_steps=50"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(*options: str, nproc: int = 2) -> list[str]:
    port = ["--master-port", str(_free_port())] if "--rdzv-endpoint" not in options else []
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), *port, *options, "-m", "videoae"]


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / LAST_CHECKPOINT).model_state


def assert_same_weights(a: Path, b: Path, *, exact: bool) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:
        if exact:
            assert torch.equal(first[name], second[name]), name
        else:
            torch.testing.assert_close(second[name], first[name], rtol=1e-3, atol=1e-4)  # float sums in another order


def wait_for_checkpoint(run_dir: Path, process: subprocess.Popen, at_least: int = 1) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            step = read_checkpoint(run_dir / LAST_CHECKPOINT).step
        except Exception:  # noqa: BLE001 - not written yet, or being replaced
            step = 0
        if step >= at_least:
            return step
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint in {run_dir}: {process.poll()=}")


def signal_mid_run(command: list[str], run_dir: Path, signum: int) -> tuple[str, float]:
    """Start ``command`` in a session of its own, send ``signum`` to all of it (as a terminal or a
    scheduler does) once it has checkpointed step 6; (its stderr, seconds from the signal to its end)."""
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for_checkpoint(run_dir, process, at_least=6)
    signalled = time.monotonic()
    os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=TIMEOUT)
    return err, time.monotonic() - signalled


def logged_losses(run_dir: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_ctrl_c_under_torchrun_saves_on_every_rank_and_resumes_bit_identically(tmp_path: Path) -> None:
    stopped = tmp_path / "stopped"
    # a terminal's Ctrl-C goes to torchrun's whole process group; torchrun forwards it to its workers
    err, grace = signal_mid_run([*torchrun(), *TRAIN, *RANDOM, "--max-steps", "100000", "--out", str(stopped)], stopped, signal.SIGINT)
    assert "forcefully exiting" not in err, err[-3000:]
    step = read_checkpoint(stopped / LAST_CHECKPOINT).step
    assert f"interrupted after step {step} (SIGINT)" in err, err[-3000:]
    assert grace < 30, f"torchrun's grace period is 30 s; the save took {grace:.1f} s"

    limit = ["--max-steps", str(step + 6)]
    run([*torchrun(), *TRAIN, *RANDOM, *limit, "--out", str(stopped), "--resume-if-exists"])
    run([*torchrun(), *TRAIN, *RANDOM, *limit, "--out", str(tmp_path / "straight")])
    assert_same_weights(tmp_path / "straight", stopped, exact=True)


def test_torchrun_restarts_a_killed_worker_and_the_group_continues_to_the_same_weights(tmp_path: Path) -> None:
    restarted, steps = tmp_path / "restarted", ["--max-steps", "300"]
    command = [*torchrun("--max-restarts", "1"), *TRAIN, *RANDOM, *steps, "--out", str(restarted), "--resume-if-exists"]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = wait_for_checkpoint(restarted, process, at_least=6)
    rank0 = int((restarted / LOCK_FILE).read_text())  # process 0 wrote its id into the lock it holds
    os.kill(rank0, signal.SIGKILL)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err[-3000:]
    assert read_checkpoint(restarted / LAST_CHECKPOINT).step == 300
    assert killed_at < 300 and "resuming" in err, "the restarted group continued from the checkpoint"

    run([*torchrun(), *TRAIN, *RANDOM, *steps, "--out", str(tmp_path / "straight")])
    assert_same_weights(tmp_path / "straight", restarted, exact=True)


def test_two_nodes_with_c10d_rendezvous_train_like_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    steps = ["--max-steps", "6"]
    assert main([*TRAIN, *steps, "--out", str(tmp_path / "one")]) == 0
    endpoint = f"127.0.0.1:{_free_port()}"
    options = ["--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "videoae-test"]
    nodes = [
        subprocess.Popen(
            [*torchrun(*options, nproc=1), *TRAIN, *steps, "--out", str(tmp_path / "two")],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=TIMEOUT) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert sum(out.count("trained") for out, _ in outputs) == 1, "only process 0 reports"
    assert_same_weights(tmp_path / "one", tmp_path / "two", exact=False)


@pytest.mark.parametrize(("first", "then"), [(2, 1), (1, 2)], ids=["2-then-1", "1-then-2"])
def test_a_run_resumed_by_another_number_of_processes_continues_the_same_stream(tmp_path: Path, first: int, then: int) -> None:
    # log lines every 4 steps; SIGTERM stops the first part at some step, most likely inside an interval
    train = [*TRAIN, "--set", "log_every=4"]
    changed = tmp_path / "changed"
    launcher = torchrun(nproc=first) if first > 1 else [sys.executable, "-m", "videoae"]
    signal_mid_run([*launcher, *train, "--max-steps", "100000", "--out", str(changed)], changed, signal.SIGTERM)
    stopped_at = read_checkpoint(changed / LAST_CHECKPOINT).step
    end = (stopped_at // 4 + 2) * 4
    resume = ["train", "--resume", str(changed), "--max-steps", str(end), "--no-progress"]
    if then == 1:
        assert main(resume) == 0
    else:
        run([*torchrun(nproc=then), *resume])
    assert main([*train, "--max-steps", str(end), "--out", str(tmp_path / "straight")]) == 0
    assert_same_weights(tmp_path / "straight", changed, exact=False)
    straight, resumed = logged_losses(tmp_path / "straight"), logged_losses(changed)
    assert straight.keys() == resumed.keys() == set(range(4, end + 1, 4))
    assert resumed == pytest.approx(straight, rel=1e-4), f"stopped at {stopped_at}: the interval across the change logs the same mean"


def _launch_ranks(command: list[str], world_size: int) -> list[subprocess.Popen]:
    """Start the processes of a group by hand, as a launcher other than torchrun would."""
    port = str(_free_port())
    processes = []
    for rank in range(world_size):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size)}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "videoae", *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    return processes


def test_when_a_rank_dies_the_others_exit_promptly_with_one_line_and_the_run_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    rank0, rank1 = _launch_ranks([*TRAIN, "--max-steps", "100000", "--out", str(run_dir)], 2)
    wait_for_checkpoint(run_dir, rank0, at_least=6)
    rank1.kill()
    rank1.communicate()
    started = time.monotonic()
    _, err = rank0.communicate(timeout=120)
    waited = time.monotonic() - started
    assert rank0.returncode == 75, err[-3000:]
    assert err.count("videoae: error:") == 1 and "lost contact with another training process" in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert waited < 60, f"process 0 took {waited:.1f} s to notice"
    step = read_checkpoint(run_dir / LAST_CHECKPOINT).step
    assert main(["train", "--resume", str(run_dir), "--max-steps", str(step + 3), "--no-progress"]) == 0


def test_a_refused_multi_process_start_says_why_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert main([*TRAIN, "--max-steps", "3", "--out", str(run_dir)]) == 0
    before = (run_dir / CONFIG_FILE).read_bytes()
    ranks = _launch_ranks([*TRAIN, "--max-steps", "6", "--out", str(run_dir)], 2)
    outputs = [rank.communicate(timeout=TIMEOUT) for rank in ranks]
    assert [rank.returncode for rank in ranks] == [2, 2]
    assert outputs[0][1].strip().startswith("videoae: error:") and outputs[0][1].count("\n") == 1, outputs[0][1]
    assert "already holds a run" in outputs[0][1]
    assert outputs[1][1] == "", "rank 1 leaves the explaining to rank 0"
    assert (run_dir / CONFIG_FILE).read_bytes() == before

    # under torchrun, the workers' output holds the one line, and no worker traceback
    done = subprocess.run(
        [*torchrun(), *TRAIN, "--max-steps", "6", "--out", str(run_dir)], env=ENV, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode != 0
    assert done.stderr.count("videoae: error:") == 1 and "gloo" not in done.stderr.lower(), done.stderr[-3000:]
