"""Table 1 of Srivastava et al. 2015, checked: the paper's five models side by side at one budget.

Trains, with the same size, data, seed and wall-clock budget per run:

    autoencoder            reconstructs the input frames (reversed), no predictor
    predictor              future predictor alone, unconditional
    composite              both decoders, unconditional predictor
    conditional-predictor  future predictor alone, conditional (fed the previous frame)
    composite-conditional  both decoders, conditional predictor

The reconstruction decoder is unconditional in every variant (``--conditional-reconstruction``
makes it conditional), so that the rows differ in the predictor only. A variant with a conditional
decoder is trained once per ``--feeding``: ground truth (the authors'), its own output
(free-running, the seed notebook's) or scheduled sampling, annealed from ground truth to its own
output over ``--ground-truth-decay-steps`` steps.

Each run is videoae's own training (``videoae.training.loop.train``, the demo's optimiser settings
for the model's family unless ``--paper-optimizer``: SGD, momentum 0.9, lr 1e-4, L2 1e-4), on
Moving MNIST made on the fly from the bundled training digits. The weights at the end of the
budget are scored on the first ``--eval-sequences`` embedded test sequences (10 -> 10 frames;
BCE in nats per frame, MSE summed per frame, SSIM per frame) beside the baselines, and its encoder
is probed by ``benchmarks/linear_probe.py`` (digit classes from the features, mAP), beside the
same architecture at random initialisation. One table (mean and spread over seeds) is printed and
everything is written to JSON; every run folder lies under ``--out``.

    python benchmarks/table1.py --minutes 10 --seeds 2                      # flat family (small)
    python benchmarks/table1.py --preset conv-small --minutes 10 --seeds 2  # spatial family
    python benchmarks/table1.py --preset paper --paper-optimizer --device cuda --minutes 60
    python benchmarks/table1.py --combine A/table1.json B/table1.json --json all.json  # one table of several

``--combine`` puts the runs of several invocations at the same settings into one table (e.g. a
second seed for the best rows only), without training.

Figures only: the tests check the output's structure and ranges, never its values.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import torch

from videoae import __version__
from videoae.atomic import write_json_atomically
from videoae.cli.demo import demo_config
from videoae.evaluation.evaluate import BASELINES, evaluate
from videoae.models.checkpoint import load_model
from videoae.models.config import DECODER_TRAINING_INPUTS, PRESETS, ModelConfig, preset
from videoae.run_folder import EVAL_FILE, LAST_CHECKPOINT, METRICS_FILE, read_metrics
from videoae.training.config import RunConfig, TrainConfig
from videoae.training.loop import train
from videoae.training.periodic_eval import evaluation_videos
from videoae.validation import resolve_device

JSON_FILE = "table1.json"
DEFAULT_MINUTES = 10.0  # the starting budget per run on 2 cores
DEFAULT_MAX_STEPS = 1_000_000  # the wall-clock budget ends a run first
DEFAULT_EVAL_SEQUENCES = 1000
DEFAULT_DECAY_STEPS = 2000  # a third of a 10-minute scheduled `small` run on 2 idle cores (6,394 steps, docs/evaluation.md)
MIN_PROBE_SEQUENCES = 10  # what run_probe accepts
TRAIN_EVAL_SEQUENCES = 128  # the loop's own evaluation at the end of a run (metrics.jsonl)
# The authors' newer code (REFERENCE.md). Their element-wise update clip has no counterpart in
# TrainConfig (grad_clip clips the global norm), so none is used.
PAPER_OPTIMIZER = dict(optimizer="sgd", momentum=0.9, lr=1e-4, weight_decay=1e-4, grad_clip=0.0)
METRICS = ("bce", "mse", "ssim")
DECODERS = ("prediction", "reconstruction")
# The training loss at equal steps: every run of a seed trains on the same batches in the same
# order, so these compare the variants on identical data, without the wall clock's step counts.
CURVE_STEPS = (1000, 2000, 4000, 8000)
CURVE_WINDOW = 500  # steps averaged up to each of CURVE_STEPS, and at the end of the run


class Variant(NamedTuple):
    name: str  # --variants and run folder names
    label: str  # the table's row
    reconstruct: bool
    predict: bool
    conditional_prediction: bool
    paper_bce: float | None  # Table 1: nats per predicted frame, 2 x 2048, the authors' training


VARIANTS = (
    Variant("autoencoder", "autoencoder", True, False, False, None),
    Variant("predictor", "future predictor", False, True, False, 350.2),
    Variant("composite", "composite", True, True, False, 344.9),
    Variant("conditional-predictor", "conditional future predictor", False, True, True, 343.5),
    Variant("composite-conditional", "composite, conditional predictor", True, True, True, 341.2),
)
VARIANTS_BY_NAME = {variant.name: variant for variant in VARIANTS}


class Job(NamedTuple):
    """One training run of the table (a named tuple: a dataclass would need this script in sys.modules)."""

    variant: Variant
    feeding: str | None  # what conditional decoders are fed in training; None: no conditional decoder
    seed: int
    run: RunConfig

    @property
    def name(self) -> str:
        feeding = f"-{self.feeding.replace('_', '-')}" if self.feeding else ""
        return f"{self.variant.name}{feeding}-seed{self.seed}"


def model_config(base: ModelConfig, variant: Variant, *, conditional_reconstruction: bool, feeding: str | None) -> ModelConfig:
    """``base`` with the variant's decoders (and feeding, for conditional ones)."""
    changes = dict(
        reconstruct=variant.reconstruct,
        predict=variant.predict,
        conditional_prediction=variant.conditional_prediction,
        conditional_reconstruction=conditional_reconstruction,
    )
    if feeding is not None:
        changes["decoder_training_input"] = feeding
    return base.replace(**changes)


def has_conditional_decoder(config: ModelConfig) -> bool:
    return (config.reconstruct and config.conditional_reconstruction) or (config.predict and config.conditional_prediction)


def train_config(args: argparse.Namespace, *, seed: int, feeding: str | None) -> TrainConfig:
    """The demo's settings for the preset's family, changed only where the table needs it."""
    base = demo_config(args.minutes, args.preset).train
    changes = dict(
        seed=seed,
        max_minutes=args.minutes,
        max_steps=args.max_steps,
        eval_every=args.max_steps,  # the loop evaluates once, at the end of the budget
        checkpoint_every=args.max_steps,  # and saves once: checkpoints would eat the budget
        eval_sequences=min(args.eval_sequences, TRAIN_EVAL_SEQUENCES),
        device=args.device,
    )
    if args.paper_optimizer:
        changes.update(PAPER_OPTIMIZER)
    for name in ("batch_size", "lr", "precision"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if feeding == "scheduled":
        changes["ground_truth_decay_steps"] = args.ground_truth_decay_steps
    return dataclasses.replace(base, **changes)


def plan(args: argparse.Namespace) -> list[Job]:
    """Every run, seed by seed, so that a stopped session has whole seeds of the table."""
    base = preset(args.preset)
    jobs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for variant in (VARIANTS_BY_NAME[name] for name in args.variants):
            unfed = model_config(base, variant, conditional_reconstruction=args.conditional_reconstruction, feeding=None)
            for feeding in args.feeding if has_conditional_decoder(unfed) else [None]:
                model = model_config(base, variant, conditional_reconstruction=args.conditional_reconstruction, feeding=feeding)
                jobs.append(Job(variant, feeding, seed, RunConfig(model=model, train=train_config(args, seed=seed, feeding=feeding))))
    return jobs


def load_linear_probe() -> ModuleType:
    """``benchmarks/linear_probe.py`` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("linear_probe", Path(__file__).with_name("linear_probe.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def training_losses(run_dir: Path) -> dict[str, dict[str, float | None]]:
    """Per decoder, the training loss averaged over the ``CURVE_WINDOW`` steps up to each of
    ``CURVE_STEPS`` (None where the run stopped before) and over its last ``CURVE_WINDOW`` steps."""
    records = [record for record in read_metrics(run_dir) if "loss" in record]
    last = max((record["step"] for record in records), default=0)
    ends = {**{str(step): step for step in CURVE_STEPS}, "last": last}
    losses = {}
    for decoder in DECODERS:
        key = f"{decoder}_loss"
        if records and key in records[0]:
            windows = {name: [r[key] for r in records if end - CURVE_WINDOW < r["step"] <= end] for name, end in ends.items()}
            losses[decoder] = {
                name: statistics.fmean(window) if ends[name] <= last and window else None for name, window in windows.items()
            }
    return losses


def run_job(job: Job, run_dir: Path, *, videos, probe: ModuleType, probe_sequences: int) -> dict:
    """Train, score on the test videos and probe the encoder; returns the run's record."""
    started = time.perf_counter()
    result = train(job.run, run_dir, progress=False)
    train_seconds = time.perf_counter() - started
    device = resolve_device(job.run.train.device)
    model = load_model(run_dir / LAST_CHECKPOINT, device=device)  # the end of the budget, not a test-set pick
    config = model.config
    scores = evaluate(model, videos, num_input_frames=config.num_input_frames, num_future=config.num_future_frames, device=device)
    write_json_atomically(run_dir / EVAL_FILE, {**scores, "checkpoint": str(run_dir / LAST_CHECKPOINT)})
    probed = probe.run_probe(model.cpu(), num_sequences=probe_sequences)  # the probe computes on the CPU
    return {
        "name": job.name,
        "variant": job.variant.name,
        "feeding": job.feeding,
        "seed": job.seed,
        "run_dir": str(run_dir),
        "steps": result.step,
        "stop_reason": result.stop_reason,
        "train_seconds": train_seconds,
        "sequences_per_second": result.step * job.run.train.batch_size / max(train_seconds, 1e-9),
        **{decoder: scores[decoder] for decoder in DECODERS if decoder in scores},
        "baselines": scores["baselines"],
        "probe": probed,
        "training_loss": training_losses(run_dir),
    }


def _stat(values: list[float]) -> dict:
    """Mean, sample standard deviation over seeds (None for one seed) and the values."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None, "values": values}


def _stat_or_none(values: list[float | None]) -> dict | None:
    """:func:`_stat` where every seed has a value, else None (a seed stopped earlier)."""
    return None if any(value is None for value in values) else _stat(values)


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (variant, feeding), in the order first run, with statistics over its seeds."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["variant"], run["feeding"]), []).append(run)
    rows = []
    for (name, feeding), group in groups.items():
        variant = VARIANTS_BY_NAME[name]
        row = {"variant": name, "label": variant.label, "feeding": feeding, "seeds": [run["seed"] for run in group]}
        row["steps"] = _stat([run["steps"] for run in group])
        for decoder in DECODERS:
            if decoder in group[0]:
                row[decoder] = {metric: _stat([run[decoder][metric] for run in group]) for metric in METRICS}
        row["probe_map"] = _stat([run["probe"]["trained"]["map"] for run in group])
        row["random_init_map"] = _stat([run["probe"]["random_init"]["map"] for run in group])
        row["paper_prediction_bce"] = variant.paper_bce
        if all("training_loss" in run for run in group):
            row["training_loss"] = {
                decoder: {
                    at: _stat_or_none([run["training_loss"][decoder][at] for run in group]) for at in group[0]["training_loss"][decoder]
                }
                for decoder in group[0]["training_loss"]
            }
        rows.append(row)
    return rows


def _cell(stat: dict | float | None, digits: int, width: int = 15) -> str:
    """A right-aligned number, ``mean ± std`` for a statistic over several seeds, ``-`` for none."""
    if stat is None:
        return f"{'-':>{width}}"
    if not isinstance(stat, dict):
        stat = {"mean": stat, "std": None}
    text = f"{stat['mean']:.{digits}f}"
    if stat["std"] is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return f"{text:>{width}}"


DIGITS = {"bce": 1, "mse": 1, "ssim": 3}
COLUMNS = [f"{'pred' if decoder == 'prediction' else 'rec'} {metric.upper()}" for decoder in DECODERS for metric in METRICS]


def table(rows: list[dict], runs: list[dict]) -> str:
    """The printed table: the variants, then the baselines and the probe's reference rows."""
    label = 48  # the variant's name and its feeding
    lines = [f"{'':<34}{'feeding':<14}{'steps':>9}" + "".join(f"{c:>15}" for c in [*COLUMNS, "probe mAP", "random mAP"]) + f"{'paper':>8}"]
    for row in rows:
        cells = [_cell(row.get(decoder, {}).get(metric), DIGITS[metric]) for decoder in DECODERS for metric in METRICS]
        probes = _cell(row["probe_map"], 3) + _cell(row["random_init_map"], 3)
        name = f"{row['label']:<34}{row['feeding'] or '-':<14}"
        lines.append(f"{name}{row['steps']['mean']:>9.0f}" + "".join(cells) + probes + _cell(row["paper_prediction_bce"], 1, 8))
    first = runs[0]  # every run scores the same test videos and probes the same labelled ones
    # the baselines the runs were scored with: a file written before the blank frame existed has two
    for baseline in [name for name in BASELINES if name in first["baselines"]]:
        cells = [_cell(first["baselines"][baseline][metric], DIGITS[metric]) for metric in METRICS]
        lines.append(f"{'baseline: ' + baseline:<{label}}{'':>9}" + "".join(cells))
    for key, text in (("pixels", "probe: raw pixels (mean input frame)"), ("chance", "probe: chance")):
        lines.append(f"{text:<{label}}{'':>{9 + 15 * len(COLUMNS)}}" + _cell(first["probe"][key]["map"], 3))
    return "\n".join(lines)


def curves_table(rows: list[dict]) -> str:
    """The training loss of each decoder at equal steps, on the batches every run of a seed shares."""
    heads = [*(f"step {step}" for step in CURVE_STEPS), f"last {CURVE_WINDOW}"]
    lines = [f"{'training loss at equal steps':<34}{'feeding':<14}{'decoder':<16}" + "".join(f"{head:>15}" for head in heads)]
    for row in rows:
        for decoder, losses in row.get("training_loss", {}).items():
            name = f"{row['label']:<34}{row['feeding'] or '-':<14}{decoder:<16}"
            lines.append(name + "".join(_cell(stat, 1) for stat in losses.values()))
    return "\n".join(lines)


CURVES_FOOTER = f"""\
training loss: nats per frame on the training batches, mean of the {CURVE_WINDOW} steps up to the step named ('-': the run
stopped before it), the same batches in every run of a seed. A decoder fed ground truth is scored teacher-forced
there (scheduled feeding: partly), so its training loss is not comparable with the test BCE or other feedings'."""


FOOTER = """\
BCE: nats per frame; MSE: summed over a frame's pixels; SSIM: per frame; all averaged over frames and sequences
(pred: the 10 future frames, rec: the 10 input frames). a ± b: mean ± sample standard deviation over seeds.
probe mAP: the linear probe's mean average precision over the 10 digit classes on the encoder's features;
random mAP: the same architecture at random initialisation. paper: Table 1's prediction BCE (2 x 2048 models,
the authors' training), for scale only at another size or budget."""


# Settings that must agree for runs of several invocations to share one table; the variants,
# feedings, seeds and folders may differ.
SHARED_SETTINGS = (
    "preset",
    "paper_optimizer",
    "ground_truth_decay_steps",
    "conditional_reconstruction",
    "minutes",
    "max_steps",
    "batch_size",
    "lr",
    "precision",
    "eval_sequences",
    "device",
)
SHARED_MACHINE = ("cpu", "gpu", "torch", "torch_threads", "probe_sequences")


def run_order(run: dict) -> tuple:
    """The single invocation's order: variant, then feeding, then seed."""
    feeding = -1 if run["feeding"] is None else DECODER_TRAINING_INPUTS.index(run["feeding"])
    return [variant.name for variant in VARIANTS].index(run["variant"]), feeding, run["seed"]


def combine(paths: list[Path]) -> dict:
    """One report of the runs of several ``table1.json`` files made at the same settings."""
    reports = []
    for path in paths:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise SystemExit(f"cannot read {path} as a table1.json: {error}") from None
    first = reports[0]
    for path, report in zip(paths[1:], reports[1:]):
        differing = [key for key in SHARED_SETTINGS if report["settings"].get(key) != first["settings"].get(key)]
        differing += [key for key in SHARED_MACHINE if report.get(key) != first.get(key)]
        if differing:
            raise SystemExit(
                f"{path} was made with other {', '.join(differing)} than {paths[0]}: only runs at the same settings share a table"
            )
    runs = sorted((run for report in reports for run in report["runs"]), key=run_order)
    names = [run["name"] for run in runs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SystemExit(f"the run(s) {', '.join(repeated)} appear in more than one file: combine each run once")
    for run in runs:  # runs recorded before the training losses were: read from their log, where it is still there
        if "training_loss" not in run and "run_dir" in run and (Path(run["run_dir"]) / METRICS_FILE).is_file():
            run["training_loss"] = training_losses(Path(run["run_dir"]))
    return {
        **{key: first.get(key) for key in ("cpu", "device", "gpu", "torch", "torch_threads", "videoae", "probe_sequences")},
        "settings": {key: first["settings"].get(key) for key in SHARED_SETTINGS},
        "commands": [command for report in reports for command in report.get("commands", [report.get("command")])],
        "combined_from": [str(path) for path in paths],
        "runs": runs,
        "table": summarize(runs),
    }


def print_tables(report: dict) -> None:
    """The scores table, and the training losses at equal steps where the runs have them."""
    print(table(report["table"], report["runs"]))
    print(FOOTER)
    if any("training_loss" in row for row in report["table"]):
        print(curves_table(report["table"]))
        print(CURVES_FOOTER)


def cpu_model() -> str:
    """The CPU's "model name" from /proc/cpuinfo (else what the platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=list(PRESETS), help="model size and family (default %(default)s)")
    parser.add_argument("--paper-optimizer", action="store_true", help="the authors' SGD: momentum 0.9, lr 1e-4, L2 1e-4, no clip")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[v.name for v in VARIANTS],
        choices=list(VARIANTS_BY_NAME),
        metavar="NAME",
        help="default: all five",
    )
    parser.add_argument("--feeding", nargs="+", default=["ground_truth"], choices=DECODER_TRAINING_INPUTS, help="for conditional decoders")
    parser.add_argument(
        "--ground-truth-decay-steps",
        type=int,
        default=DEFAULT_DECAY_STEPS,
        metavar="N",
        help="scheduled feeding: steps from ground truth to own output (default %(default)s; 0: the model's fixed probability)",
    )
    parser.add_argument("--conditional-reconstruction", action="store_true", help="a conditional reconstruction decoder in every variant")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="training time per run (default %(default)s; 0: no limit)")
    parser.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, help="training steps per run at most")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per variant (default %(default)s)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the demo's for the family")
    parser.add_argument("--lr", type=float, default=None, help="default: the demo's, or 1e-4 with --paper-optimizer")
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default=None, help="default: the demo's for the family")
    parser.add_argument("--eval-sequences", type=int, default=DEFAULT_EVAL_SEQUENCES, help="embedded test sequences scored")
    parser.add_argument("--probe-sequences", type=int, default=None, help="labelled sequences of the linear probe (default: its own)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (training and scoring; the probe runs on the CPU)")
    parser.add_argument("--out", type=Path, default=None, help="folder of the runs and the JSON (default runs/table1-DATE-TIME)")
    parser.add_argument("--json", type=Path, default=None, help=f"JSON file (default OUT/{JSON_FILE}; with --combine: none)")
    parser.add_argument(
        "--combine", type=Path, nargs="+", metavar="JSON", help="no training: one table of the runs in these table1.json files"
    )
    args = parser.parse_args(argv)
    if args.combine:
        return args
    if args.minutes < 0 or args.max_steps < 1 or args.seeds < 1 or args.eval_sequences < 1:
        parser.error("--minutes must be >= 0, and --max-steps, --seeds and --eval-sequences >= 1")
    if args.probe_sequences is not None and args.probe_sequences < MIN_PROBE_SEQUENCES:
        parser.error(f"--probe-sequences must be >= {MIN_PROBE_SEQUENCES} (the probe splits them into train, validation and test)")
    if args.minutes == 0 and args.max_steps == DEFAULT_MAX_STEPS:
        parser.error("--minutes 0 trains without a time limit: give --max-steps")
    args.variants = list(dict.fromkeys(args.variants))
    args.feeding = list(dict.fromkeys(args.feeding))
    args.out = args.out or Path("runs") / time.strftime("table1-%Y%m%d-%H%M%S")
    args.json = args.json or args.out / JSON_FILE
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.combine:
        report = combine(args.combine)
        if args.json:
            write_json_atomically(args.json, report)
        print("\n".join(["combined:", *(f"  {command}" for command in report["commands"])]))
        print(f"machine: {report['cpu']}; torch {report['torch']}, {report['torch_threads']} threads; device {report['device']}")
        print_tables(report)
        if args.json:
            print(f"JSON: {args.json}")
        return 0
    jobs = plan(args)  # every config is validated before the first run starts
    taken = [job.name for job in jobs if (args.out / job.name / LAST_CHECKPOINT).exists()]
    if taken:
        raise SystemExit(f"{args.out} already holds the run(s) {', '.join(taken)}: choose another --out")
    probe = load_linear_probe()
    probe_sequences = args.probe_sequences or probe.DEFAULT_NUM_SEQUENCES
    device = resolve_device(args.device)
    first = jobs[0].run
    videos = evaluation_videos(args.eval_sequences, first.model.num_input_frames + first.model.num_future_frames)
    hardware = cpu_model() + (f"; GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "")
    report = {
        "command": shlex.join(["python", "benchmarks/table1.py", *argv]),
        "cpu": cpu_model(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "videoae": __version__,
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "probe_sequences": probe_sequences,
        "runs": [],
    }
    train_settings = first.train
    print("command:", report["command"])
    print(f"machine: {hardware}; torch {torch.__version__}, {report['torch_threads']} threads; device {device}")
    print(
        f"model: preset {args.preset} ({first.model.cell}, {first.model.num_layers} x {first.model.hidden_size}); reconstruction decoder "
        f"{'conditional' if args.conditional_reconstruction else 'unconditional'}"
    )
    print(
        f"training: {train_settings.optimizer} lr {train_settings.lr:g}, batch {train_settings.batch_size}, grad-norm clip "
        f"{train_settings.grad_clip:g}, {train_settings.precision}; {args.minutes:g} min (at most {args.max_steps} steps) per run; "
        f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; {len(jobs)} runs into {args.out}"
    )
    print(f"scored on the first {args.eval_sequences} embedded test sequences; probe on {probe_sequences} labelled sequences", flush=True)
    for job in jobs:
        record = run_job(job, args.out / job.name, videos=videos, probe=probe, probe_sequences=probe_sequences)
        report["runs"].append(record)
        report["table"] = summarize(report["runs"])
        write_json_atomically(args.json, report)  # after every run: a stopped session keeps what it measured
        prediction = f"prediction BCE {record['prediction']['bce']:.1f}, " if "prediction" in record else ""
        print(
            f"  {job.name}: {record['steps']} steps in {record['train_seconds']:.0f} s; {prediction}probe mAP "
            f"{record['probe']['trained']['map']:.3f}",
            flush=True,
        )
    print_tables(report)
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
