"""The files of ``videoae predict`` and ``videoae features``, written atomically.

Files written for one video named ``NAME``: ``NAME.gif`` (input | ground truth | reconstruction |
prediction, animated), ``NAME.png`` (the same as a still strip) and ``NAME_prediction.npy``: the
predicted frames as float32 ``(K, H, W)`` in [0, 1], exactly the model's output (no rounding to 8
bits); with ``video_fps``, also ``NAME.mp4``: the input frames followed by the predicted ones, a
video at the model's frame size that ``videoae predict`` reads back as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from videoae.atomic import write_atomically
from videoae.errors import InvalidInputError
from videoae.evaluation.predict import Prediction
from videoae.reporting.comparison import save_comparison_gif, save_comparison_png

PREDICTION_SUFFIX = "_prediction.npy"


def _save_npy(path: Path, array: np.ndarray) -> Path:
    if path.suffix.lower() != ".npy":
        raise InvalidInputError(f"{path}: give a file name ending in .npy")
    return write_atomically(path, lambda stream: np.save(stream, array, allow_pickle=False))


def save_features(path: str | Path, features: np.ndarray) -> Path:
    """Write features as a float32 ``.npy`` file, atomically (what was there survives a failure)."""
    return _save_npy(Path(path), np.ascontiguousarray(features, dtype=np.float32))


def prediction_files(out_dir: str | Path, name: str, *, video: bool = False) -> dict[str, Path]:
    """The files :func:`write_prediction` writes for a video called ``name``:
    ``{"gif": ..., "png": ..., "npy": ...}`` and ``"mp4"`` with ``video``, so that a caller can
    check them all before any work."""
    out_dir = Path(out_dir)
    files = {"gif": out_dir / f"{name}.gif", "png": out_dir / f"{name}.png", "npy": out_dir / f"{name}{PREDICTION_SUFFIX}"}
    if video:
        files["mp4"] = out_dir / f"{name}.mp4"
    return files


def write_prediction(
    out_dir: str | Path, name: str, outputs: Prediction, *, frame_ms: int | None = None, video_fps: float | None = None
) -> dict[str, Path]:
    """Write one video's comparison GIF and PNG and its predicted frames (see the module docstring).

    Args:
        out_dir: folder to write into (created if missing).
        name: the files' common name, without suffix.
        outputs: the outputs of one video (:meth:`Prediction.video`).
        frame_ms: GIF frame duration (default: the comparison GIF's).
        video_fps: also write ``NAME.mp4`` at this frame rate (needs PyAV).

    Returns:
        ``{"gif": path, "png": path, "npy": path}``, and ``"mp4"`` with ``video_fps``.
    """
    if outputs.prediction is None:
        raise InvalidInputError(
            "the model has no future predictor (it was built with predict=False): there are no predicted frames to write"
        )
    if len(outputs.prediction) != 1:
        raise InvalidInputError(f"write_prediction writes one video at a time, got {len(outputs.prediction)}; use Prediction.video(i)")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"{out_dir} is a file, not a folder; give a folder to write the predictions into")
    panels = outputs.panels()
    gif_options = {} if frame_ms is None else {"frame_ms": frame_ms}
    files = prediction_files(out_dir, name, video=video_fps is not None)
    written = {
        "gif": save_comparison_gif(files["gif"], **panels, **gif_options),
        "png": save_comparison_png(files["png"], **panels),
        "npy": _save_npy(files["npy"], np.ascontiguousarray(outputs.prediction[0], dtype=np.float32)),
    }
    if video_fps is not None:
        from videoae.data.video_writers import write_mp4

        continued = np.concatenate([outputs.inputs[0], outputs.prediction[0]])  # (T_in + K, H, W)
        written["mp4"] = write_mp4(out_dir / f"{name}.mp4", continued, fps=video_fps)
    return written
