"""``videoae report``: one self-contained HTML page about a run folder.

Nothing on the page refers to another file or to the network: pictures are base64 ``data:`` URIs
and the style sheet is inline, so the page can be mailed, archived or opened offline. Every string
that comes from the run folder (names, config values, paths) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import statistics
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from videoae import __version__
from videoae.atomic import write_atomically
from videoae.errors import InvalidInputError
from videoae.evaluation.evaluate import BASELINE_DESCRIPTIONS, baseline_verdict
from videoae.evaluation.metrics import UNITS
from videoae.models.checkpoint import read_checkpoint
from videoae.run_folder import (
    BEST_CHECKPOINT,
    CURVES_FILE,
    EVAL_FILE,
    LAST_CHECKPOINT,
    METRICS_FILE,
    PER_FRAME_FILE,
    REPORT_FILE,
    latest_evaluation,
    latest_sample_gif,
    read_config,
    read_metrics,
    run_folder,
)

logger = logging.getLogger(__name__)

MIME_TYPES = {".png": "image/png", ".gif": "image/gif"}
# (key, column title, unit, format): the metrics table, in the order of the paper's conventions.
METRIC_COLUMNS = (
    ("bce", "cross-entropy", "nats per frame", "{:.1f}"),
    ("mse", "MSE", "sum over pixels per frame", "{:.1f}"),
    ("mae", "MAE", "sum over pixels per frame", "{:.1f}"),
    ("ssim", "SSIM", "per frame, 1 = identical", "{:.3f}"),
    ("psnr", "PSNR", "dB", "{:.2f}"),
)
TRAINING_LOSS_KEYS = (("loss", "total"), ("reconstruction_loss", "reconstruction"), ("prediction_loss", "prediction"))
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, monospace; }
td.key { font-family: ui-monospace, monospace; }
.unit { font-weight: normal; color: #555; font-size: 0.85em; }
.note { color: #555; font-size: 0.92em; }
.configs { display: flex; flex-wrap: wrap; gap: 2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.92em; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def data_uri(path: Path) -> str:
    """The file's bytes as a base64 ``data:`` URI."""
    mime = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure(path: Path, alt: str, caption: str) -> str:
    """An embedded image with its natural size (pixel art stays crisp), or a note if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
        uri = data_uri(path)
    except (OSError, UnidentifiedImageError) as err:
        logger.warning("cannot embed %s: %s", path, err)
        return f'<p class="note">could not read {_e(path.name)}: {_e(err)}</p>'
    return f'<figure><img src="{uri}" alt="{_e(alt)}" width="{width}" height="{height}"><figcaption>{_e(caption)}</figcaption></figure>'


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _number(value: object, form: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return '<td class="num">&ndash;</td>'
    try:
        return f'<td class="num">{_e(form.format(value))}</td>'
    except OverflowError:  # an integer past float's range, from a hand-edited file
        return '<td class="num">&ndash;</td>'


def _metrics_section(evaluation: Mapping | None, source: str) -> str:
    if evaluation is None:
        return f'<h2>Evaluation</h2><p class="note">{_e(source)}: train until the first evaluation, or run videoae demo.</p>'
    rows = [("model: prediction", evaluation.get("prediction")), ("model: reconstruction", evaluation.get("reconstruction"))]
    baselines = evaluation.get("baselines")
    for name, values in baselines.items() if isinstance(baselines, Mapping) else ():
        rows.append((f"baseline: {BASELINE_DESCRIPTIONS.get(name, name)}", values))
    header = ["scored"] + [f'{_e(title)}<br><span class="unit">{_e(unit)}</span>' for _, title, unit, _ in METRIC_COLUMNS]
    body = [
        [f"<td>{_e(label)}</td>"] + [_number(values.get(key), form) for key, _, _, form in METRIC_COLUMNS]
        for label, values in rows
        if isinstance(values, Mapping)
    ]
    data = evaluation.get("data") if isinstance(evaluation.get("data"), Mapping) else {}
    scope = ""
    if data:
        scope = (
            f"{_e(data.get('num_sequences', '?'))} test sequences, {_e(data.get('num_input_frames', '?'))} input frames, "
            f"{_e(data.get('num_future_frames', '?'))} predicted frames. "
        )
    units = evaluation.get("units") if isinstance(evaluation.get("units"), Mapping) else UNITS
    legend = "".join(f"<li><b>{_e(key)}</b>: {_e(text)}</li>" for key, text in units.items())
    return (
        "<h2>Evaluation</h2>"
        f'<p class="note">From {_e(source)}. {scope}Predictions and baselines are scored on the frames after the '
        "input; reconstructions on the input frames. Lower is better for cross-entropy, MSE and MAE; higher for SSIM "
        "and PSNR. All values are per-frame means over frames and sequences.</p>"
        + _table(header, body)
        + _verdict(evaluation)
        + f'<ul class="note">{legend}</ul>'
    )


def _verdict(evaluation: Mapping) -> str:
    """Which baselines the prediction beats, in words (a damaged evaluation gets none)."""
    try:
        lines = baseline_verdict(dict(evaluation))
    except (KeyError, TypeError, ValueError):
        return ""
    return "".join(f'<p class="verdict">{_e(line.strip())}</p>' for line in lines)


def _training_section(records: list[dict], steps: dict[str, int]) -> str:
    logged = [r for r in records if isinstance(r.get("loss"), (int, float)) and not isinstance(r.get("loss"), bool)]
    rows = []
    if logged:
        last = logged[-1]
        rows.append(["<td>last logged step</td>", f'<td class="num">{_e(last.get("step", "?"))}</td>'])
        for key, label in TRAINING_LOSS_KEYS:
            if isinstance(last.get(key), (int, float)):
                rows.append([f"<td>training loss: {_e(label)} (per frame, summed over pixels)</td>", _number(last[key], "{:.1f}")])
        speeds = [r["seq_per_s"] for r in logged if isinstance(r.get("seq_per_s"), (int, float))]
        if speeds:
            rows.append(["<td>training speed (median, sequences/s)</td>", _number(statistics.median(speeds), "{:.1f}")])
    evaluations = sum(1 for r in records if isinstance(r.get("eval"), Mapping))
    rows.append(["<td>evaluations logged</td>", f'<td class="num">{evaluations}</td>'])
    for name, step in steps.items():
        rows.append([f"<td>checkpoint <code>{_e(name)}</code>: step</td>", f'<td class="num">{_e(step)}</td>'])
    if not steps:
        rows.append(["<td>checkpoints</td>", "<td>none in this run folder</td>"])
    return "<h2>Training</h2>" + _table(["", "value"], rows)


def _config_section(config: dict | None) -> str:
    if config is None:
        return '<h2>Configuration</h2><p class="note">no readable config.json in this run folder</p>'
    tables = []
    for section in ("model", "train"):
        values = config.get(section)
        if isinstance(values, Mapping):
            rows = [[f'<td class="key">{_e(key)}</td>', f'<td class="key">{_e(json.dumps(value))}</td>'] for key, value in values.items()]
            tables.append(f"<div><h3>{_e(section)}</h3>{_table(['setting', 'value'], rows)}</div>")
    return f'<h2>Configuration</h2><div class="configs">{"".join(tables)}</div>'


def _plot(existing: Path, newer_than: Path | None, draw: Callable[[Path], Path], scratch: Path) -> Path | None:
    """The run's own plot when it is at least as new as its data, else one drawn into ``scratch``."""
    if existing.is_file() and newer_than is not None and newer_than.is_file() and existing.stat().st_mtime >= newer_than.stat().st_mtime:
        return existing
    try:
        return draw(scratch / existing.name)
    except InvalidInputError as err:
        logger.warning("no %s: %s", existing.name, err)
        return None


def build_report(run_dir: Path) -> str:
    """The report page of a run folder, as one HTML string (see :func:`write_report`)."""
    from videoae.reporting import plot_per_frame, plot_training_curves

    records = read_metrics(run_dir)
    name = run_dir.resolve().name
    config = read_config(run_dir)
    evaluation, source = latest_evaluation(run_dir, records)
    steps = checkpoint_steps(run_dir)
    eval_file = run_dir / EVAL_FILE if source.startswith(EVAL_FILE) else None
    parts = []
    with tempfile.TemporaryDirectory(prefix="videoae-report-") as folder:
        scratch = Path(folder)
        curves = _plot(
            run_dir / CURVES_FILE, run_dir / METRICS_FILE,
            lambda path: plot_training_curves(records, path, title=f"videoae training: {name}"), scratch,
        )  # fmt: skip
        parts.append("<h2>Training curves</h2>")
        parts.append(
            _figure(curves, "training curves", f"loss, learning rate and evaluations against the training step (from {METRICS_FILE})")
            if curves else '<p class="note">nothing to plot yet</p>'
        )  # fmt: skip
        if evaluation is not None:
            per_frame = _plot(
                run_dir / PER_FRAME_FILE, eval_file,
                lambda path: plot_per_frame(evaluation, path, title="prediction quality per predicted frame"), scratch,
            )  # fmt: skip
            if per_frame is not None:
                parts.append("<h2>Prediction quality per predicted frame</h2>")
                parts.append(_figure(per_frame, "per-frame scores", f"the evaluation above, frame by frame (from {source})"))
        sample = latest_sample_gif(run_dir)
        parts.append("<h2>Samples</h2>")
        parts.append(
            _figure(sample, "sample predictions", f"{sample.relative_to(run_dir)}: input | truth | reconstruction | prediction")
            if sample else '<p class="note">no sample GIF in this run folder yet</p>'
        )  # fmt: skip
    version = config.get("videoae_version", "?") if config else "?"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>videoae report: {_e(name)}</title><style>{STYLE}</style></head><body>"
        f"<h1>videoae report: {_e(name)}</h1>"
        f'<p class="note">Run folder <code>{_e(run_dir.resolve())}</code>; trained with videoae {_e(version)}; '
        f"report made by videoae {_e(__version__)}.</p>"
        + _metrics_section(evaluation, source)
        + _training_section(records, steps)
        + "".join(parts)
        + _config_section(config)
        + "</body></html>\n"
    )


def checkpoint_steps(run_dir: Path) -> dict[str, int]:
    """Steps of the run's ``best`` and ``last`` checkpoints (those that exist).

    Raises:
        InvalidInputError: a checkpoint is damaged.
    """
    steps = {}
    for name, relative in (("best", BEST_CHECKPOINT), ("last", LAST_CHECKPOINT)):
        if (run_dir / relative).is_file():
            steps[name] = read_checkpoint(run_dir / relative, load_optimizer=False).step
    return steps


def write_report(run_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Write one self-contained HTML page about a run, atomically.

    The page holds the run's config, its evaluation beside the baselines (units stated), the
    training curves, the per-frame plot, the latest sample GIF and the checkpoints' steps; images
    are embedded as data URIs, so the single file opens anywhere, offline.

    Args:
        run_dir: the run folder (it needs ``metrics.jsonl``).
        path: the page to write; default ``RUN/report.html``.

    Returns:
        The path written.
    """
    run_dir = run_folder(run_dir)
    out = run_dir / REPORT_FILE if path is None else Path(path)
    if out.is_dir():
        raise InvalidInputError(f"{out} is a folder; give a file name for the report, e.g. {out / REPORT_FILE}")
    page = build_report(run_dir)
    return write_atomically(out, lambda stream: stream.write(page.encode("utf-8")))
