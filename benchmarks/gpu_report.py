"""The figures of ``gpu_check.py`` as a verdict and a markdown page (loaded by it as a module)."""

from __future__ import annotations

import shlex

TARGET_FRACTION = 0.40  # of the bf16 matmul rate: paper at batch 256 in bf16 (the bar)
FED_ENOUGH = 0.95  # fed / compute-only throughput from which data is not the bottleneck
SETTING_FIELDS = ("model", "batch", "precision", "gradients", "compile")


def setting_name(row: dict) -> str:
    return f"{row['model']} b{row['batch']} {row['precision']} {row['gradients']}{' compiled' if row['compile'] else ''}"


def annotate(rows: list[dict], rates: dict[str, float]) -> None:
    """Each measured row's share of its precision's matmul rate and, for paper (the notebook's
    size), its speed over the notebook design's at the same batch and precision (pass the
    notebook's rows along)."""
    notebook = {(r["batch"], r["precision"]): r["seq_per_s"] for r in rows if r["model"] == "notebook" and r.get("status") == "ok"}
    for row in rows:
        if row.get("status") != "ok":
            continue
        rate = rates.get(row["precision"])
        row["fraction_of_matmul"] = row["tflop_per_s"] / rate if rate else None
        reference = notebook.get((row["batch"], row["precision"]))
        row["over_notebook"] = row["seq_per_s"] / reference if reference and row["model"] == "paper" else None


def verdict(report: dict) -> dict:
    """The issue's two bars, and the fastest measured setting of each model at the larger batch."""
    rows = [r for r in report.get("throughput", []) + report.get("compile", []) if r.get("status") == "ok"]
    largest = max((r["batch"] for r in rows), default=None)
    found: dict = {"fastest": {}}
    paper = [r for r in rows if r["model"] == "paper" and r["batch"] == largest and r["precision"] == "bf16"]
    if paper and paper[0].get("fraction_of_matmul") is not None:
        best = max(paper, key=lambda r: r["seq_per_s"])
        fraction = best["fraction_of_matmul"]
        found["paper_bf16"] = {"setting": setting_name(best), "fraction_of_bf16_matmul": fraction, "target": TARGET_FRACTION}
        found["paper_bf16"]["meets_target"] = fraction >= TARGET_FRACTION
    for model in dict.fromkeys(r["model"] for r in rows):
        best = max((r for r in rows if r["model"] == model and r["batch"] == largest), key=lambda r: r["seq_per_s"])
        found["fastest"][model] = {key: best[key] for key in (*SETTING_FIELDS, "seq_per_s")}
    data = report.get("data", {})
    fed = [r for r in data.get("fed", []) if r.get("fed_over_compute")]
    with_best = [r for r in fed if r["workers"] == data.get("best_workers")] or fed
    if with_best:
        lowest = min(r["fed_over_compute"] for r in with_best)
        found["data"] = {
            "workers": with_best[0]["workers"],
            "lowest_fed_over_compute": lowest,
            "never_the_bottleneck": lowest >= FED_ENOUGH,
        }
    return found


def _number(value, digits: int = 1, scale: float = 1.0, suffix: str = "") -> str:
    return "-" if value is None else f"{value * scale:,.{digits}f}{suffix}"


def _throughput_table(rows: list[dict]) -> list[str]:
    lines = [
        "| model | batch | precision | gradients | seq/s | ms/step | GFLOP/step | TFLOP/s | of matmul | x notebook | peak GiB | note |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ok = r.get("status") == "ok"
        note = f"{r['status']}: {r.get('error', '')}" if not ok else ""
        if ok and r.get("compile"):
            note = f"first steps {r['warmup_s']:.0f} s; graph breaks {r.get('graph_breaks')}"
        cells = [
            r["model"],
            str(r["batch"]),
            r["precision"],
            r["gradients"],
            _number(r.get("seq_per_s"), 0),
            _number(r.get("step_s"), 1, 1e3),
            _number(r.get("gflop_per_step"), 0),
            _number(r.get("tflop_per_s"), 2),
            _number(r.get("fraction_of_matmul"), 0, 100, "%"),
            _number(r.get("over_notebook"), 1, 1, "x"),
            _number(r.get("peak_gib"), 1),
            note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _data_tables(data: dict) -> list[str]:
    lines = ["", "## Data", "", f"The trainer's loader (the generator in DataLoader workers), batch {data['batch']}:", ""]
    lines += ["| workers | sequences/s |", "|---:|---:|"] + [f"| {g['workers']} | {g['seq_per_s']:,.0f} |" for g in data["generation"]]
    lines += [
        "",
        "| training | workers | fed seq/s | compute-only seq/s | fed / compute | wait ms/step |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in data["fed"]:
        cells = [f["setting"], str(f["workers"]), _number(f["fed_seq_per_s"], 0), _number(f["compute_seq_per_s"], 0)]
        cells += [_number(f["fed_over_compute"], 2), _number(f["wait_ms_per_step"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [f"- {note}" for note in data["skipped"]]


def _table1(table: dict) -> list[str]:
    lines = [
        "",
        "## Table 1, short",
        "",
        f"`python benchmarks/table1.py {shlex.join(table['argv'])}` (num_workers={table['num_workers']}).",
        "",
    ]
    lines += ["BCE in nats per frame on the embedded test set.", ""]
    lines += [
        "| variant | steps | seq/s | prediction BCE | reconstruction BCE | paper | probe mAP |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table["runs"]:
        cells = [r["variant"], str(r["steps"]), _number(r["sequences_per_second"], 0), _number(r["prediction_bce"])]
        cells += [_number(r["reconstruction_bce"]), _number(r["paper_bce"]), _number(r["probe_map"], 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [f"| baseline: {name} | | | {value:.1f} | | | |" for name, value in table["baselines_bce"].items()]


def _verdict_lines(found: dict) -> list[str]:
    lines = ["", "## Verdict", ""]
    if "paper_bf16" in found:
        p = found["paper_bf16"]
        met = "met" if p["meets_target"] else "NOT met"
        lines.append(
            f"- {p['setting']}: {100 * p['fraction_of_bf16_matmul']:.0f}% of the bf16 matmul rate (target {100 * p['target']:.0f}%): {met}"
        )
    if "data" in found:
        d = found["data"]
        verdict = "never the bottleneck" if d["never_the_bottleneck"] else "the data pipeline IS a bottleneck"
        lines.append(
            f"- data, {d['workers']} workers: fed steps at {100 * d['lowest_fed_over_compute']:.0f}% or more of compute-only speed: {verdict}"
        )
    for model, best in found.get("fastest", {}).items():
        how = f"{best['precision']}, {best['gradients']} gradients, {'compiled' if best['compile'] else 'eager'}"
        lines.append(f"- fastest {model} at batch {best['batch']}: {how} ({best['seq_per_s']:,.0f} seq/s)")
    return lines


def markdown(report: dict, *, tests_log: str) -> str:
    env = report.get("environment", {})
    machine = f"device {report['device']} ({env.get('gpu', 'CPU')}); torch {env.get('torch', '?')}, CUDA {env.get('cuda', '-')}"
    machine += f", cuDNN {env.get('cudnn', '-')}; {env.get('cpu_cores', '?')} CPU cores; videoae {env.get('videoae', '?')}"
    lines = ["# videoae GPU check", "", f"`{report['command']}`", "", f"{report['started']}; {machine}"]
    if report["quick"]:
        lines[-1] += "; --quick: tiny models, the figures mean nothing"
    lines += ["", "## Sections", "", "| section | budget s | used s | status | note |", "|---|---:|---:|---|---|"]
    for name, s in report["sections"].items():
        lines.append(f"| {name} | {s['budget_s']:.0f} | {s.get('used_s', 0):.0f} | {s['status']} | {s.get('note', '')} |")
    if "matmul" in env:
        rates = ", ".join(f"{p} {v:,.1f}" for p, v in env["matmul"]["tflop_per_s"].items())
        lines += ["", f"Dense matmul ({env['matmul']['size']}^3) in TFLOP/s: {rates}."]
    tests = report.get("tests")
    if tests and "summary" in tests:
        counts = f"{tests['passed']} passed, {tests['failed']} failed, {tests['error']} errors, {tests['skipped']} skipped"
        lines += ["", "## CUDA tests", "", f"{tests['summary'] or 'stopped at the deadline'}: {counts} (output: {tests_log})"]
        lines += [f"- failed: `{name}`" for name in tests["failed_tests"]] + [f"- skipped: {reason}" for reason in tests["skip_reasons"]]
    for key, title in (("throughput", "Training throughput"), ("compile", "Training throughput under torch.compile")):
        if report.get(key):
            lines += ["", f"## {title}", "", "Each row against the same run's matmul rate in its precision (fp32: torch's defaults).", ""]
            lines += _throughput_table(report[key])
    if report.get("data", {}).get("generation") is not None:
        lines += _data_tables(report["data"])
    if report.get("table1", {}).get("runs"):
        lines += _table1(report["table1"])
    lines += _verdict_lines(report.get("verdict", {}))
    if "train_defaults" in env:
        lines += ["", "`videoae train` by default on this device: " + ", ".join(f"{k} {v}" for k, v in env["train_defaults"].items()) + "."]
    return "\n".join(lines) + "\n"
