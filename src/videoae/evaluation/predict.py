"""Inference on videos: predictions, reconstructions and encoder features (arrays in, arrays out).

The first ``num_input_frames`` frames of a video are the model's input; the frames after them (if
any) are the ground truth its predictions are shown beside. Models run in eval mode without
autograd, so a conditional decoder is fed its own previous output, as at any inference, and
predictions may run past the horizon the model was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from videoae.data.evaluation_sets import DEFAULT_BLOCK_SEQUENCES, EvaluationData, source_name
from videoae.data.pixels import videos_to_tensor
from videoae.errors import InvalidInputError
from videoae.models import CompositeModel, model_device
from videoae.progress import progress_callback
from videoae.validation import check_int

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
GRAYSCALE_CHANNELS = 1
RGB_CHANNELS = 3
# Frames whose width/height differs from the model's by more than this factor are refused.
MAX_ASPECT_DISTORTION = 1.2
# Lines between the tiles of a picture are at most this thick (videoae draws 2 pixels).
MAX_SEPARATOR_PIXELS = 4


@dataclass
class Prediction:
    """A model's outputs for N videos, float32 arrays in [0, 1]: (N, T, H, W) for a grayscale model,
    (N, T, H, W, 3) for an RGB one (the layout of pictures).

    Attributes:
        inputs: the input frames.
        truth: the frames that follow the input in the videos (at most as many as predicted), or
            None when the videos end with the input.
        reconstruction: the reconstructed inputs in natural order, or None without a reconstructor.
        prediction: the predicted future frames, or None without a future predictor.
    """

    inputs: np.ndarray
    truth: np.ndarray | None
    reconstruction: np.ndarray | None
    prediction: np.ndarray | None

    def panels(self) -> dict[str, np.ndarray | None]:
        """The four arrays by the names :mod:`videoae.reporting`'s comparison pictures take."""
        return {"inputs": self.inputs, "truth": self.truth, "reconstruction": self.reconstruction, "prediction": self.prediction}

    def video(self, index: int) -> Prediction:
        """The outputs for one video, each (1, T, H, W)."""
        pick = slice(index, index + 1)
        return Prediction(
            inputs=self.inputs[pick],
            truth=None if self.truth is None else self.truth[pick],
            reconstruction=None if self.reconstruction is None else self.reconstruction[pick],
            prediction=None if self.prediction is None else self.prediction[pick],
        )


def model_frame_size(model: CompositeModel) -> tuple[int, int]:
    """The (height, width) of the grayscale or RGB frames ``model`` reads; an error for other models."""
    shape = tuple(model.config.frame_shape)
    if len(shape) != 3 or shape[0] not in (GRAYSCALE_CHANNELS, RGB_CHANNELS):
        raise InvalidInputError(
            f"this model reads frames of shape {shape}, not grayscale or RGB images (1 or 3, H, W); run it from Python on arrays of that shape"
        )
    return int(shape[1]), int(shape[2])


def model_channels(model: CompositeModel) -> int:
    """1 for a model of grayscale frames, 3 for RGB."""
    model_frame_size(model)
    return int(model.config.frame_shape[0])


def _picture_layout(frames: torch.Tensor) -> np.ndarray:
    """float (B, T, C, H, W) -> numpy (B, T, H, W) for grayscale, (B, T, H, W, 3) for RGB (pictures' layout)."""
    frames = frames.float().cpu()
    return (frames[:, :, 0] if frames.shape[2] == GRAYSCALE_CHANNELS else frames.permute(0, 1, 3, 4, 2)).contiguous().numpy()


def _bands(lines: np.ndarray) -> list[tuple[int, int]]:
    """The runs [start, stop) of consecutive True entries."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], lines.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _separator_bands(videos: np.ndarray, axis: int) -> list[tuple[int, int]]:
    """Thin bands of rows (``axis`` 2) or columns (3) each drawn in one value, the same in every
    frame, that is not the background: the lines between (and around) the tiles of a picture."""
    first = videos[0, 0]  # (H, W)
    reference = first[:, :1] if axis == 2 else first[:1, :]  # each line's value in the first frame
    constant = np.all(videos == reference, axis=tuple(a for a in range(4) if a != axis))
    values, counts = np.unique(first, return_counts=True)
    background = values[np.argmax(counts)]  # black, for Moving MNIST: never a separator
    lines = constant & (reference.reshape(-1) != background)
    return [(start, stop) for start, stop in _bands(lines) if stop - start <= MAX_SEPARATOR_PIXELS]


def check_frames_fit(videos: np.ndarray, model_size: tuple[int, int], source: str) -> None:
    """Refuse frames that are not one video the model can sensibly read, whatever their size.

    Refused, with the command that makes proper input: pictures of tiled videos (``videoae data
    preview`` draws sequences side by side between grey lines, a single one with a grey border),
    and frames whose aspect ratio is far from the model's (resizing would squash them).

    Args:
        videos: (N, T, H, W) frames in [0, 1], as read.
        model_size: (height, width) of the model's frames.
        source: what to call the input in the message.

    Raises:
        InvalidInputError: naming what the frames look like and how to make a proper video.
    """
    height, width = videos.shape[2:]
    rows, columns = _separator_bands(videos, 2), _separator_bands(videos, 3)
    if rows or columns:
        tiles_down = _count_tiles(rows, height)
        tiles_across = _count_tiles(columns, width)
        tiles = tiles_down * tiles_across
        what = f"a picture of {tiles_down} x {tiles_across} videos side by side" if tiles > 1 else "a picture of one video inside a border"
        raise InvalidInputError(
            f"{source}: its {width}x{height} frames are {what} (lines of one grey across every frame, as videoae data preview draws), "
            f"not one video; write each sequence as a video of its own with: videoae data generate --format gif --num {tiles} -o clips/"
        )
    model_height, model_width = model_size
    distortion = (width / height) / (model_width / model_height)
    if max(distortion, 1 / distortion) > MAX_ASPECT_DISTORTION:
        crop = (
            f"crop=min(iw\\,ih*{model_width}/{model_height}):min(ih\\,iw*{model_height}/{model_width}),scale={model_width}:{model_height}"
        )
        raise InvalidInputError(
            f"{source}: frames are {width}x{height} but the model takes {model_width}x{model_height}; resizing would squash them "
            f"by {max(distortion, 1 / distortion):.2f}x; crop them to the model's shape first, e.g. "
            f'ffmpeg -i VIDEO -vf "{crop}" frames/%04d.png, then predict the folder frames/'
        )


def _count_tiles(bands: list[tuple[int, int]], size: int) -> int:
    """How many tiles the separator ``bands`` leave along a side of ``size`` pixels."""
    edges = [0, *[b for band in bands for b in band], size]
    return sum(1 for start, stop in zip(edges[::2], edges[1::2]) if stop > start)


def _check_positive(name: str, value: int | None) -> int | None:
    return None if value is None else check_int(name, value, 1)


def _check_videos(model: CompositeModel, videos: np.ndarray, num_input_frames: int) -> None:
    channels = model_channels(model)
    layout = "(N, T, H, W)" if channels == GRAYSCALE_CHANNELS else f"(N, T, {channels}, H, W)"
    wanted_ndim = 4 if channels == GRAYSCALE_CHANNELS else 5
    if isinstance(videos, np.ndarray) and videos.ndim == 5 and videos.shape[2] == channels:
        videos = videos[:, :, 0] if channels == GRAYSCALE_CHANNELS else videos
    if not isinstance(videos, np.ndarray) or videos.ndim != wanted_ndim or 0 in videos.shape:
        raise InvalidInputError(f"videos must be a non-empty {layout} array, got {getattr(videos, 'shape', type(videos).__name__)}")
    height, width = model_frame_size(model)
    if videos.shape[-2:] != (height, width):
        found_h, found_w = videos.shape[-2:]
        raise InvalidInputError(
            f"the model takes {width}x{height} frames but the videos have {found_w}x{found_h} frames; resize them first"
        )
    if videos.shape[1] < num_input_frames:
        raise InvalidInputError(
            f"the videos have {videos.shape[1]} frames but the model is to read {num_input_frames} input frames; read fewer"
        )


def predict_videos(
    model: CompositeModel,
    videos: np.ndarray,
    *,
    num_input_frames: int | None = None,
    num_future: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Prediction:
    """Reconstruct the first frames of each video and predict the frames after them (each where
    the model has that decoder).

    Args:
        model: a trained model.
        videos: (N, T, H, W) for a grayscale model, (N, T, 3, H, W) for an RGB one, uint8 in 0-255 or
            float in [0, 1], with T >= ``num_input_frames``.
        num_input_frames: frames read by the encoder (default: as the model was trained).
        num_future: frames to predict (default: as the model was trained); any number works.
        batch_size: videos per forward pass; does not change the result.

    Returns:
        The inputs, the true frames after them (when the videos have any), the reconstruction and
        the prediction.
    """
    config = model.config
    num_input_frames = _check_positive("num_input_frames", num_input_frames) or config.num_input_frames
    num_future = _check_positive("num_future", num_future) or config.num_future_frames
    batch_size = _check_positive("batch_size", batch_size)
    _check_videos(model, videos, num_input_frames)
    device = model_device(model)
    predictions, reconstructions = [], []
    for start in range(0, len(videos), batch_size):
        inputs = videos_to_tensor(videos[start : start + batch_size, :num_input_frames], device)  # (B, T_in, 1, H, W)
        if model.predictor is not None:
            predictions.append(_picture_layout(model.predict(inputs, num_future)))
        if model.reconstructor is not None:
            reconstructions.append(_picture_layout(model.reconstruct(inputs)))
    frames = _picture_layout(videos_to_tensor(videos, torch.device("cpu")))  # float32 (N, T, H, W) or (N, T, H, W, 3)
    truth = frames[:, num_input_frames : num_input_frames + num_future]
    return Prediction(
        inputs=frames[:, :num_input_frames],
        truth=truth if truth.shape[1] > 0 else None,
        reconstruction=np.concatenate(reconstructions) if reconstructions else None,
        prediction=np.concatenate(predictions) if predictions else None,
    )


def encoder_features(
    model: CompositeModel,
    data: EvaluationData | np.ndarray,
    *,
    num_input_frames: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    block_sequences: int = DEFAULT_BLOCK_SEQUENCES,
    on_progress: Callable[[int], None] | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """The learned representation of each video: the encoder's final (h, c) of every layer.

    Args:
        model: a trained model.
        data: (N, T, H, W) videos (uint8 or float in [0, 1]) or an
            :class:`~videoae.data.evaluation_sets.EvaluationData`, read a block at a time.
        num_input_frames: the first frames of each video read by the encoder (default: as trained).
        batch_size: videos per forward pass; does not change the result.
        block_sequences: sequences of an ``EvaluationData`` loaded at once.
        on_progress: called with the number of videos just encoded, after every batch.
        progress: without ``on_progress``, show a progress bar: None (default) only in a notebook,
            True or False always or never.

    Returns:
        float32 (N, 2 * num_layers * hidden_size), ordered as :meth:`CompositeModel.features`.
    """
    num_input_frames = _check_positive("num_input_frames", num_input_frames) or model.config.num_input_frames
    batch_size = _check_positive("batch_size", batch_size)
    if isinstance(data, EvaluationData):
        blocks, total, name = data.blocks(block_sequences), data.num_sequences, source_name(data.source)
    else:
        blocks, total, name = [data], len(data) if hasattr(data, "__len__") else None, "videos"
    device = model_device(model)
    features = []
    with progress_callback(total, f"encoding {name}", "seq", show=progress, on_progress=on_progress) as report:
        for block in blocks:
            _check_videos(model, block, num_input_frames)
            for start in range(0, len(block), batch_size):
                inputs = videos_to_tensor(block[start : start + batch_size, :num_input_frames], device)
                features.append(model.features(inputs).float().cpu().numpy())
                if report is not None:
                    report(len(inputs))
            logger.debug("encoded %d sequences", sum(len(f) for f in features))
    return np.concatenate(features)
