"""``videoae plot``, ``videoae weights`` and ``videoae report``: pictures and a page about a run."""

from __future__ import annotations

import argparse

from videoae.cli.paths import check_output_file
from videoae.errors import InvalidInputError


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae plot``, ``videoae weights`` and ``videoae report``."""
    from videoae.reporting.run_figures import DEFAULT_GATE, DEFAULT_NUM_TILES, GATES

    plot = commands.add_parser(
        "plot",
        help="draw a run's training curves as a PNG",
        description="Draw the training loss, learning rate and evaluation metrics (beside the baselines) of a run "
        "against the training step, from RUN/metrics.jsonl.",
    )
    plot.add_argument("run_dir", metavar="RUN", help="a run folder (the --out of videoae train or videoae demo)")
    plot.add_argument(
        "-o",
        "--out",
        metavar="OUT.png",
        help="picture to write (default RUN/plot.png; the demo's own training_curves.png is left as it is)",
    )
    plot.set_defaults(run=_run_plot)

    weights = commands.add_parser(
        "weights",
        help="draw a model's input and output weights as frame-sized images (the paper's figure)",
        description="Draw each unit's weights on the pixels as a 64x64 tile, as in the paper: the first encoder "
        "layer's input weights (one gate's rows; default the cell-input gate g, what a unit writes into its "
        "memory) and the output layer's weights (the future predictor's readout, else the reconstruction "
        "decoder's). By default both go into one PNG, input weights above output weights; red is positive, blue "
        "negative, each tile scaled by its own largest weight.",
    )
    weights.add_argument("checkpoint", metavar="CKPT", help="a checkpoint file, or a run folder (its best checkpoint, else its last)")
    weights.add_argument("-o", "--out", metavar="OUT.png", required=True, help="picture to write (.png)")
    weights.add_argument(
        "--layer", choices=("both", "input", "output"), default="both", help="which weights to draw (default: both, in two panels)"
    )
    weights.add_argument(
        "--tiles", type=int, default=DEFAULT_NUM_TILES, metavar="N", help="units to show, the first N (default %(default)s)"
    )
    weights.add_argument(
        "--gate", choices=GATES, default=DEFAULT_GATE, help="the gate whose input weights are drawn (default %(default)s: g)"
    )
    weights.set_defaults(run=_run_weights)

    report = commands.add_parser(
        "report",
        help="write one self-contained HTML page about a run",
        description="Write an HTML page with the run's evaluation beside the baselines (units stated), training "
        "curves, per-frame scores, the latest sample GIF, checkpoint steps and its configuration. Pictures are "
        "embedded, so the one file opens in any browser, offline.",
    )
    report.add_argument("run_dir", metavar="RUN", help="a run folder (the --out of videoae train or videoae demo)")
    report.add_argument("-o", "--out", metavar="REPORT.html", help="page to write (default RUN/report.html)")
    report.set_defaults(run=_run_report)


def _run_plot(args: argparse.Namespace) -> int:
    from videoae.reporting.run_figures import plot_run_curves

    if args.out:
        check_output_file(args.out, (".png",), "-o")
    print(f"wrote {plot_run_curves(args.run_dir, args.out)}")
    return 0


def _run_weights(args: argparse.Namespace) -> int:
    from videoae.models.checkpoint import load_model
    from videoae.reporting.run_figures import check_png_path, plot_model_weights

    if args.tiles < 1:
        raise InvalidInputError(f"--tiles must be at least 1, got {args.tiles}")
    check_png_path(args.out)  # before loading a checkpoint that may be large
    check_output_file(args.out, (".png",), "-o")
    model = load_model(args.checkpoint)
    path = plot_model_weights(model, args.out, layer=args.layer, num_tiles=args.tiles, gate=args.gate)
    print(f"wrote {path}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from videoae.reporting.html_report import write_report

    if args.out:
        check_output_file(args.out, (".html", ".htm"), "-o")
    print(f"wrote {write_report(args.run_dir, args.out)}")
    return 0
