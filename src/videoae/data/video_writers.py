"""Writing videos: animated GIFs, MP4 (H.264, through PyAV) and uint8 ``.npy`` files, atomically
(readers: :mod:`videoae.data.video_io`)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from videoae.atomic import write_atomically
from videoae.data.pixels import to_uint8
from videoae.data.video_io import check_layout
from videoae.errors import InvalidInputError
from videoae.validation import check_int, is_count, is_int

GIF_TIME_UNIT_MS = 10  # GIF stores frame durations in hundredths of a second
GIF_MAX_DURATION_MS = 65535 * GIF_TIME_UNIT_MS
GIF_MAX_SIDE = 65535
GIF_MAX_LOOP = 65535
# Colour GIFs share one palette built from at most this many evenly spaced frames.
PALETTE_SAMPLE_FRAMES = 32
_GIF_SCREEN_HEADER_BYTES = 13  # "GIF89a" + logical screen descriptor
_GIF_TRAILER = b";"
_DITHER_NONE = getattr(Image, "Dither", Image).NONE
# H.264's constant-quality setting: 17 is visually lossless, and reads back within a few levels.
MP4_CRF = 17
MP4_MAX_FPS = 1000


def _check_suffix(path: Path, suffix: str) -> None:
    if path.suffix.lower() != suffix:
        raise InvalidInputError(f"{path}: expected a file name ending in {suffix} so videoae can read it back")


def _gif_images(pixels: np.ndarray) -> list[Image.Image]:
    """uint8 ``(T, H, W)`` or ``(T, H, W, 3)`` frames as "L" or palette images sharing one palette."""
    if pixels.ndim == 3:
        return [Image.fromarray(frame) for frame in pixels]
    # One palette for all frames keeps colours steady and lets every frame use the global table.
    sample = pixels[np.linspace(0, len(pixels) - 1, min(len(pixels), PALETTE_SAMPLE_FRAMES)).astype(int)]
    palette = Image.fromarray(sample.reshape(-1, *sample.shape[2:])).quantize(colors=256)
    return [Image.fromarray(frame).quantize(palette=palette, dither=_DITHER_NONE) for frame in pixels]


def _encode_gif(images: list[Image.Image], frame_ms: int, loop: int) -> bytes:
    """Encode every frame as its own GIF with Pillow, then splice them into one animation.

    Pillow's own multi-frame writer drops a frame identical to the one before it (merging the
    durations), which would change the frame count a reader sees, so frames are encoded one by one.
    """
    header = b""
    bodies = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="GIF", optimize=False, interlace=False, duration=frame_ms)
        data = buffer.getvalue()
        packed = data[10]
        table = 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0
        head_size = _GIF_SCREEN_HEADER_BYTES + table
        if not header:
            header = data[:head_size]
        if data[:head_size] != header or not data.endswith(_GIF_TRAILER):
            raise RuntimeError("Pillow wrote GIF frames with differing headers; please report this videoae bug")
        bodies.append(data[head_size : -len(_GIF_TRAILER)])
    netscape_loop = b"!\xff\x0bNETSCAPE2.0\x03\x01" + loop.to_bytes(2, "little") + b"\x00"
    return b"GIF89a" + header[6:] + netscape_loop + b"".join(bodies) + _GIF_TRAILER


def gif_bytes(frames: np.ndarray, *, frame_ms: int = 100, loop: int = 0) -> bytes:
    """Frames encoded as an animated GIF, in memory (what :func:`write_gif` writes, e.g. for a data URI).

    Args:
        frames: ``(T, H, W)`` grayscale or ``(T, H, W, 3)`` RGB, floats in [0, 1] (clipped) or uint8.
            Colour frames are reduced to one shared 256-colour palette.
        frame_ms: display time of each frame; GIF stores it rounded to 10 ms.
        loop: how many times to repeat the animation; 0 repeats forever.

    Returns:
        The GIF file's bytes: one image per frame, none merged.
    """
    if not is_count(frame_ms) or not GIF_TIME_UNIT_MS <= frame_ms <= GIF_MAX_DURATION_MS:
        limits = f"{GIF_TIME_UNIT_MS} to {GIF_MAX_DURATION_MS}"
        raise InvalidInputError(f"frame_ms must be an int from {limits}, got {frame_ms!r}")
    if not is_int(loop) or not 0 <= loop <= GIF_MAX_LOOP:
        raise InvalidInputError(f"loop must be an int from 0 (forever) to {GIF_MAX_LOOP}, got {loop!r}")
    array = np.asarray(frames)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)):
        raise InvalidInputError(f"GIF frames must be (T, H, W) grayscale or (T, H, W, 3) RGB, not {array.shape}")
    if array.shape[0] == 0 or not all(0 < side <= GIF_MAX_SIDE for side in array.shape[1:3]):
        raise InvalidInputError(f"GIF frames {array.shape}: give at least one frame of 1 to {GIF_MAX_SIDE} px a side")
    duration = round(frame_ms / GIF_TIME_UNIT_MS) * GIF_TIME_UNIT_MS
    return _encode_gif(_gif_images(to_uint8(array)), duration, int(loop))


def write_gif(path: str | Path, frames: np.ndarray, *, frame_ms: int = 100, loop: int = 0) -> Path:
    """Write frames as an animated GIF, atomically, creating the parent folder.

    Args:
        path: destination ending in ``.gif``.
        frames, frame_ms, loop: as for :func:`gif_bytes`.

    Returns:
        The path written.
    """
    path = Path(path)
    _check_suffix(path, ".gif")
    data = gif_bytes(frames, frame_ms=frame_ms, loop=loop)
    write_atomically(path, lambda handle: handle.write(data))
    return path


def write_npy(path: str | Path, videos: np.ndarray, *, layout: str = "TNHW") -> Path:
    """Write videos as a uint8 ``.npy`` file, atomically, creating the parent folder.

    Args:
        path: destination ending in ``.npy``.
        videos: ``(N, T, H, W)`` or one ``(T, H, W)`` video; floats in [0, 1] (clipped) or uint8.
        layout: axis order on disk: ``"TNHW"`` (the standard ``mnist_test_seq.npy`` layout) or
            ``"NTHW"``. :func:`read_videos` with the same layout reads it back.

    Returns:
        The path written.
    """
    path = Path(path)
    layout = check_layout(layout)
    _check_suffix(path, ".npy")
    array = np.asarray(videos)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or 0 in array.shape:
        raise InvalidInputError(f"videos must be (N, T, H, W) or (T, H, W) with no empty axis, not {array.shape}")
    pixels = to_uint8(array)
    if layout == "TNHW":
        pixels = np.ascontiguousarray(pixels.transpose(1, 0, 2, 3))  # (T, N, H, W)
    write_atomically(path, lambda handle: np.save(handle, pixels, allow_pickle=False))
    return path


def npy_header_bytes(shape: tuple[int, ...]) -> int:
    """The size of the header numpy writes before a uint8 array of ``shape`` in a ``.npy`` file."""
    buffer = io.BytesIO()
    _write_npy_header(buffer, tuple(shape))
    return len(buffer.getvalue())


def _write_npy_header(handle, shape: tuple[int, ...]) -> None:
    """The header ``np.save`` writes for uint8 ``shape``: version 1.0 while the shape fits in it."""
    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(handle, header)
    except ValueError:  # a header past 64 KiB: only version 2.0 holds it
        np.lib.format.write_array_header_2_0(handle, header)


def write_npy_blocks(
    path: str | Path,
    shape: tuple[int, int, int, int],
    blocks: Iterable[np.ndarray],
    *,
    layout: str = "TNHW",
    on_block: Callable[[int], None] | None = None,
) -> Path:
    """Write uint8 videos that arrive a block of sequences at a time as one ``.npy`` file, atomically:
    memory is bounded by a block, whatever the number of videos.

    Args:
        path: destination ending in ``.npy``.
        shape: ``(N, T, H, W)`` of all the videos together.
        blocks: uint8 ``(n, T, H, W)`` blocks of consecutive videos, in order, ``N`` videos in all.
        layout: axis order on disk, as in :func:`write_npy` (which reads back the same array).
        on_block: called with each block's number of videos once it is written (progress).

    Returns:
        The path written.
    """
    path = Path(path)
    layout = check_layout(layout)
    _check_suffix(path, ".npy")
    num, frames, height, width = (check_int("shape", size, 1) for size in shape)
    disk_shape = (frames, num, height, width) if layout == "TNHW" else (num, frames, height, width)
    frame_bytes = height * width

    def write(handle) -> None:
        _write_npy_header(handle, disk_shape)
        start, done = handle.tell(), 0
        handle.truncate(start + num * frames * frame_bytes)
        for block in blocks:
            if block.dtype != np.uint8 or block.shape[1:] != (frames, height, width) or done + len(block) > num:
                raise InvalidInputError(
                    f"block of shape {block.shape} ({block.dtype}) after {done} videos does not fit {tuple(shape)} uint8"
                )
            if layout == "TNHW":  # frame t of every video is one run on disk: write each block's share of each run
                for t in range(frames):
                    handle.seek(start + (t * num + done) * frame_bytes)
                    handle.write(np.ascontiguousarray(block[:, t]).data)
            else:
                handle.seek(start + done * frames * frame_bytes)
                handle.write(np.ascontiguousarray(block).data)
            done += len(block)
            if on_block is not None:
                on_block(len(block))
        if done != num:
            raise InvalidInputError(f"got {done} videos for a file of {num}")

    return write_atomically(path, write)


def write_mp4(path: str | Path, frames: np.ndarray, *, fps: float = 10.0) -> Path:
    """Write frames as an H.264 MP4 that players and :func:`~videoae.data.video_io.read_videos` read,
    atomically, creating the parent folder. Needs PyAV (``pip install "videoae[video]"``).

    Args:
        path: destination ending in ``.mp4``.
        frames: ``(T, H, W)`` grayscale or ``(T, H, W, 3)`` RGB, floats in [0, 1] (clipped) or uint8.
        fps: frames per second.

    Returns:
        The path written.
    """
    from fractions import Fraction

    from videoae.data.video_containers import import_av

    path = Path(path)
    _check_suffix(path, ".mp4")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= MP4_MAX_FPS:
        raise InvalidInputError(f"fps must be a number in (0, {MP4_MAX_FPS}], got {fps!r}")
    array = np.asarray(frames)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 3)) or 0 in array.shape:
        raise InvalidInputError(f"MP4 frames must be non-empty (T, H, W) grayscale or (T, H, W, 3) RGB, not {array.shape}")
    pixels = to_uint8(array)
    av = import_av()
    height, width = pixels.shape[1:3]
    source_format = "gray" if pixels.ndim == 3 else "rgb24"

    def write(handle) -> None:
        with av.open(handle, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = width, height
            # 4:2:0 needs even sides; odd ones keep every chroma sample instead
            stream.pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
            stream.options = {"crf": str(MP4_CRF)}
            # a keyframe every second, as phones and streaming sites write: a clip anywhere in the
            # file is reached by decoding at most a second of frames (libx264's default is 10 s)
            stream.codec_context.gop_size = max(1, round(fps))
            for frame in pixels:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=source_format)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    write_atomically(path, write)
    return path
