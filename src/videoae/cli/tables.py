"""Tables the command line prints."""

from __future__ import annotations

TABLE_ROWS = (("model: prediction", "prediction"), ("model: reconstruction", "reconstruction"))
METRIC_NAMES = {"bce": "BCE", "mse": "MSE", "mae": "MAE", "ssim": "SSIM", "psnr": "PSNR"}


def metrics_table(record: dict, frame_size: tuple[int, int], *, verdict: bool = True) -> str:
    """Prediction and reconstruction rows beside the baselines, what the numbers mean and, with
    ``verdict``, which baselines the prediction beats, in words."""
    from videoae.evaluation.evaluate import BACKGROUND_VALUE

    rows = [(label, record.get(key)) for label, key in TABLE_ROWS]
    rows += [(f"baseline: {name}", values) for name, values in record.get("baselines", {}).items()]
    lines = [f"{'':<24}{'BCE':>10}{'MSE':>10}{'MAE':>10}{'SSIM':>8}{'PSNR':>8}"]
    for label, values in rows:
        if values:
            lines.append(
                f"{label:<24}{values['bce']:>10.1f}{values['mse']:>10.2f}{values['mae']:>10.2f}{values['ssim']:>8.4f}{values['psnr']:>8.2f}"
            )
    pixels = frame_size[0] * frame_size[1]
    lines.append(f"BCE: nats per frame (cross-entropy summed over a frame's {pixels} pixels); MSE, MAE: summed over a frame's")
    lines.append(f"{pixels} pixels (values in [0, 1]); SSIM, PSNR (dB): per frame. All are per-frame averages over frames")
    lines.append("and sequences: multiply by the number of frames for per-sequence numbers. Baselines predict the future:")
    lines.append(f"copy_last repeats the last input frame, mean fills it with the input's mean, blank is all {BACKGROUND_VALUE:g} (background).")
    if verdict:
        lines += verdict_lines(record)
    return "\n".join(lines)


def verdict_lines(record: dict) -> list[str]:
    """Which baselines the prediction beats, metric by metric, in words (none without a prediction)."""
    from videoae.evaluation.evaluate import HIGHER_IS_BETTER, baselines_not_beaten

    not_beaten = baselines_not_beaten(record)
    if not not_beaten:
        return []
    count = len(record.get("baselines", {}))
    won = [METRIC_NAMES.get(metric, metric) for metric, names in not_beaten.items() if not names]
    lost = {metric: names for metric, names in not_beaten.items() if names}
    if not lost:
        return [f"verdict: the prediction beats all {count} baselines on every metric."]
    lines = []
    if won:
        lines.append(f"verdict: the prediction beats all {count} baselines on {_join(won)}.")
    else:
        lines.append("verdict: on no metric does the prediction beat every baseline.")
    model = record["prediction"]
    for metric, names in lost.items():
        direction = "higher" if metric in HIGHER_IS_BETTER else "lower"
        others = ", ".join(f"{name} {record['baselines'][name][metric]:.4g}" for name in names)
        lines.append(
            f"  not on {METRIC_NAMES.get(metric, metric)} ({direction} is better): the model's {model[metric]:.4g} "
            f"does not beat {others}."
        )
    return lines


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
