"""The Table 1 benchmark's code path: which runs it plans, how it summarises seeds, and a whole
table from tiny runs (figures are never asserted: only structure and ranges)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from videoae.run_folder import CONFIG_FILE, EVAL_FILE, LAST_CHECKPOINT

LABELS = ("autoencoder", "future predictor", "composite", "conditional future predictor", "composite, conditional predictor")


@pytest.fixture(scope="module")
def table1(load_benchmark):
    return load_benchmark("table1")


def test_every_variant_shares_size_seed_and_budget_and_differs_only_in_its_decoders(table1, tmp_path: Path) -> None:
    jobs = table1.plan(table1.parse_args(["--minutes", "3", "--seeds", "2", "--out", str(tmp_path)]))
    assert [job.name for job in jobs[:5]] == [
        "autoencoder-seed0",
        "predictor-seed0",
        "composite-seed0",
        "conditional-predictor-ground-truth-seed0",
        "composite-conditional-ground-truth-seed0",
    ]
    assert [job.seed for job in jobs] == [0] * 5 + [1] * 5
    decoders = {(job.variant.name, job.seed): job.run.model for job in jobs}
    for name, reconstruct, predict, conditional in [
        ("autoencoder", True, False, False),
        ("predictor", False, True, False),
        ("composite", True, True, False),
        ("conditional-predictor", False, True, True),
        ("composite-conditional", True, True, True),
    ]:
        model = decoders[(name, 0)]
        assert (model.reconstruct, model.predict, model.conditional_prediction) == (reconstruct, predict, conditional)
        assert not model.conditional_reconstruction
    first = jobs[0].run
    for job in jobs:
        assert (job.run.model.cell, job.run.model.hidden_size, job.run.model.num_layers) == ("lstm", 256, 1)  # the small preset
        same_training = {**job.run.train.to_dict(), "seed": first.train.seed}
        assert same_training == first.train.to_dict()
        assert job.run.train.seed == job.seed and job.run.train.max_minutes == 3


def test_conditional_variants_run_once_per_feeding_and_scheduled_sampling_anneals(table1, tmp_path: Path) -> None:
    args = ["--feeding", "ground_truth", "free_running", "scheduled", "--ground-truth-decay-steps", "500", "--out", str(tmp_path)]
    jobs = table1.plan(table1.parse_args(args))
    assert len(jobs) == 3 + 2 * 3
    conditional = [job for job in jobs if job.variant.conditional_prediction]
    assert {(job.variant.name, job.run.model.decoder_training_input) for job in conditional} == {
        (name, feeding)
        for name in ("conditional-predictor", "composite-conditional")
        for feeding in ("ground_truth", "free_running", "scheduled")
    }
    assert len({job.name for job in jobs}) == len(jobs)  # one run folder each
    for job in jobs:
        assert job.run.train.ground_truth_decay_steps == (500 if job.feeding == "scheduled" else 0)


def test_the_paper_optimizer_and_the_spatial_family_are_one_flag_away(table1, tmp_path: Path) -> None:
    paper = table1.plan(table1.parse_args(["--preset", "paper", "--paper-optimizer", "--variants", "composite", "--out", str(tmp_path)]))
    (job,) = paper
    assert (job.run.model.num_layers, job.run.model.hidden_size) == (2, 2048)
    train = job.run.train
    assert (train.optimizer, train.momentum, train.lr, train.weight_decay) == ("sgd", 0.9, 1e-4, 1e-4)
    spatial = table1.plan(table1.parse_args(["--preset", "conv-small", "--out", str(tmp_path)]))
    assert {job.run.model.cell for job in spatial} == {"convlstm"} and len(spatial) == 5


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--minutes", "0"], ["--probe-sequences", "5"], ["--variants", "composite-model"]])
def test_impossible_settings_stop_before_training(table1, argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        table1.parse_args(argv)


def test_summary_gives_mean_and_sample_spread_over_seeds(table1) -> None:
    def run(seed: int, bce: float, probe_map: float) -> dict:
        scores = {"bce": bce, "mse": 1.0, "ssim": 0.5}
        probe = {"trained": {"map": probe_map}, "random_init": {"map": 0.3}}
        return {"variant": "predictor", "feeding": None, "seed": seed, "steps": 10 * (seed + 1), "prediction": scores, "probe": probe}

    (row,) = table1.summarize([run(0, 400.0, 0.5), run(1, 404.0, 0.7)])
    assert row["seeds"] == [0, 1] and row["label"] == "future predictor" and row["paper_prediction_bce"] == 350.2
    assert row["prediction"]["bce"]["mean"] == pytest.approx(402.0)
    assert row["prediction"]["bce"]["std"] == pytest.approx(math.sqrt(8.0))  # sample standard deviation
    assert row["probe_map"]["mean"] == pytest.approx(0.6) and row["steps"]["values"] == [10, 20]
    assert "reconstruction" not in row
    (single,) = table1.summarize([run(0, 400.0, 0.5)])
    assert single["prediction"]["bce"]["std"] is None


@pytest.mark.slow
def test_a_tiny_table_trains_scores_and_probes_all_five_variants(table1, load_benchmark, monkeypatch, tmp_path: Path, capsys) -> None:
    probe = load_benchmark("linear_probe")
    # Fewer probe fits: the probe's own tests cover it, here only its place in the table matters.
    monkeypatch.setattr(probe, "WEIGHT_DECAYS", (1e-2,))
    monkeypatch.setattr(probe, "LBFGS_ITERATIONS", 5)
    monkeypatch.setattr(table1, "load_linear_probe", lambda: probe)
    out = tmp_path / "table"
    argv = [
        "--preset",
        "tiny",
        "--minutes",
        "0.2",
        "--max-steps",
        "2",
        "--eval-sequences",
        "8",
        "--probe-sequences",
        "20",
        "--out",
        str(out),
    ]
    assert table1.main([*argv, "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "python benchmarks/table1.py --preset tiny" in printed
    assert "machine: " in printed and " threads" in printed
    table_lines = printed.splitlines()
    for label in LABELS:
        assert any(line.startswith(label + " ") for line in table_lines), label

    report = json.loads((out / "table1.json").read_text())
    assert report["cpu"] and report["torch_threads"] >= 1 and report["device"] == "cpu"
    names = [run["name"] for run in report["runs"]]
    assert len(names) == 5 and [row["label"] for row in report["table"]] == list(LABELS)
    for run in report["runs"]:
        run_dir = out / run["name"]
        assert Path(run["run_dir"]) == run_dir
        assert (run_dir / CONFIG_FILE).is_file() and (run_dir / LAST_CHECKPOINT).is_file() and (run_dir / EVAL_FILE).is_file()
        assert json.loads((run_dir / CONFIG_FILE).read_text())["train"]["seed"] == 0
        assert run["steps"] == 2
        variant = table1.VARIANTS_BY_NAME[run["variant"]]
        for decoder, present in (("prediction", variant.predict), ("reconstruction", variant.reconstruct)):
            assert (decoder in run) == present
            if present:
                assert run[decoder]["bce"] > 0 and run[decoder]["mse"] > 0 and math.isfinite(run[decoder]["bce"])
                assert -1 <= run[decoder]["ssim"] <= 1
        for representation in ("trained", "random_init", "pixels", "chance"):
            assert 0 <= run["probe"][representation]["map"] <= 1
        assert set(run["training_loss"]) == {
            d for d, present in (("prediction", variant.predict), ("reconstruction", variant.reconstruct)) if present
        }
        assert set(run["baselines"]) == {"copy_last", "mean", "blank"}

    with pytest.raises(SystemExit, match="already holds"):
        table1.main(argv)  # never trains into runs that exist


def _report(runs: list[dict], **settings) -> dict:
    """A table1.json as main writes it, with made-up figures."""
    base = {"preset": "small", "minutes": 10.0, "max_steps": 1_000_000, "eval_sequences": 1000, "device": "auto", "seeds": 1}
    machine = {"cpu": "a CPU", "gpu": None, "torch": "2.13.0", "torch_threads": 2, "probe_sequences": 2000, "device": "cpu"}
    return {**machine, "videoae": "0.1.0", "command": "python benchmarks/table1.py", "settings": {**base, **settings}, "runs": runs}


def _record(variant: str, feeding: str | None, seed: int, bce: float) -> dict:
    scores = {"bce": bce, "mse": 100.0, "ssim": 0.5}
    baselines = {name: {"bce": 800.0, "mse": 170.0, "ssim": 0.04} for name in ("copy_last", "mean")}
    probe = {name: {"map": 0.3} for name in ("trained", "random_init", "pixels", "chance")}
    feeding_name = f"-{feeding.replace('_', '-')}" if feeding else ""
    name = f"{variant}{feeding_name}-seed{seed}"
    return {
        "name": name,
        "variant": variant,
        "feeding": feeding,
        "seed": seed,
        "steps": 100,
        "prediction": scores,
        "baselines": baselines,
        "probe": probe,
    }


def test_combine_puts_the_runs_of_several_invocations_into_one_table(table1, tmp_path: Path, capsys) -> None:
    first = tmp_path / "seed0.json"
    first.write_text(json.dumps(_report([_record("predictor", None, 0, 500.0), _record("conditional-predictor", "scheduled", 0, 520.0)])))
    second = tmp_path / "seed1.json"
    second.write_text(json.dumps(_report([_record("predictor", None, 1, 510.0)], seeds=1, first_seed=1)))
    out = tmp_path / "all.json"
    assert table1.main(["--combine", str(second), str(first), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [run["name"] for run in report["runs"]] == ["predictor-seed0", "predictor-seed1", "conditional-predictor-scheduled-seed0"]
    predictor, conditional = report["table"]
    assert predictor["seeds"] == [0, 1] and predictor["prediction"]["bce"]["mean"] == pytest.approx(505.0)
    assert conditional["feeding"] == "scheduled" and conditional["prediction"]["bce"]["std"] is None
    assert "505.0 ± 7.1" in capsys.readouterr().out
    assert "training_loss" not in predictor  # made-up records have no training log

    run_dir = tmp_path / "predictor-seed2"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0, "prediction_loss": float(s)}) + "\n" for s in range(10, 2501, 10))
    )
    third = tmp_path / "seed2.json"
    third.write_text(json.dumps(_report([{**_record("predictor", None, 2, 505.0), "run_dir": str(run_dir)}], first_seed=2)))
    assert table1.main(["--combine", str(third)]) == 0  # read from the run's log where the record lacks them
    printed = capsys.readouterr().out
    losses = table1.training_losses(run_dir)["prediction"]
    assert losses["1000"] == pytest.approx(755.0) and losses["2000"] == pytest.approx(1755.0) and losses["last"] == pytest.approx(2255.0)
    assert losses["4000"] is None and losses["8000"] is None  # the run stopped at step 2500
    assert any(line.startswith("future predictor") and "755.0" in line and "2255.0" in line for line in printed.splitlines())

    assert table1.main(["--combine", str(out), str(tmp_path / "seed2.json")]) == 0  # a combined file combines again
    assert json.loads(out.read_text())["commands"] == ["python benchmarks/table1.py"] * 2

    other = tmp_path / "other.json"
    other.write_text(json.dumps(_report([_record("composite", None, 0, 500.0)], minutes=3.0)))
    with pytest.raises(SystemExit, match="other minutes"):
        table1.main(["--combine", str(first), str(other)])
    with pytest.raises(SystemExit, match="predictor-seed0 appear in more than one file"):
        table1.main(["--combine", str(first), str(first)])
    with pytest.raises(SystemExit, match="cannot read"):
        table1.main(["--combine", str(tmp_path / "missing.json")])
