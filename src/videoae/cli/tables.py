"""Tables the command line prints."""

from __future__ import annotations

TABLE_ROWS = (("model: prediction", "prediction"), ("model: reconstruction", "reconstruction"))


def metrics_table(record: dict, frame_size: tuple[int, int], *, verdict: bool = True) -> str:
    """Prediction and reconstruction rows beside the baselines, what the numbers mean and, with
    ``verdict``, which baselines the prediction beats, in words."""
    from videoae.evaluation.evaluate import BACKGROUND_VALUE, baseline_verdict

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
    lines.append(
        f"copy_last repeats the last input frame, mean fills it with the input's mean, blank is all {BACKGROUND_VALUE:g} (background)."
    )
    if verdict:
        lines += baseline_verdict(record)
    return "\n".join(lines)
