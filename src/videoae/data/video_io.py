"""Reading users' own videos: ``.npy``/``.npz`` arrays, animated GIFs, folders of frames and video
files (``.mp4 .mkv .webm .avi .mov``, decoded by :mod:`videoae.data.video_containers`).

Writing them back (GIF, ``.npy``) is :mod:`videoae.data.video_writers`.

Every reader returns grayscale float32 frames in [0, 1]; :func:`read_videos` gives ``(N, T, H, W)``
and :func:`read_video` one ``(T, H, W)`` video. Array files are interpreted as follows (``layout``
names the order of the first two axes of a batch; ``TNHW`` is how ``mnist_test_seq.npy`` and
``videoae data generate`` store Moving MNIST):

=====================  ==================  ==================
stored shape           layout="TNHW"       layout="NTHW"
=====================  ==================  ==================
(T, H, W)              one video           one video
(T, H, W, 3|4)         one RGB(A) video    one RGB(A) video
(A, B, H, W)           T=A, N=B            N=A, T=B
(A, B, C, H, W)        T=A, N=B            N=A, T=B
(A, B, H, W, C)        T=A, N=B            N=A, T=B
=====================  ==================  ==================

A 4-D array whose last axis is 3 or 4 is always read as RGB(A) frames; ``(T, 1, H, W)`` is one
video in the default layout. In 5-D arrays the channel axis ``C`` (1, 3 or 4) comes either third or
last. Colour is turned into luma with ITU-R 601-2 weights (Pillow's mode "L"); alpha is ignored.
A single still PNG/JPEG is rejected (a video needs frames: pass the folder that holds them);
animated PNGs and GIFs of any frame count are read. ``frame_size`` resizes with Pillow's bilinear
filter, which widens its support when shrinking, so it averages like an area filter (no aliasing).
Video files are the exception: their frames are resized to cover ``frame_size`` and centre-cropped,
never squashed (see :func:`videoae.data.video_containers.convert_frame`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from videoae.data.pixels import UINT8_MAX
from videoae.data.video_containers import CONTAINER_SUFFIXES, decode_frames, is_container, printable, probe
from videoae.errors import InvalidInputError
from videoae.validation import is_count, quote

logger = logging.getLogger(__name__)

LAYOUTS = ("TNHW", "NTHW")
DEFAULT_LAYOUT = "TNHW"  # frames first: mnist_test_seq.npy and `videoae data generate`
# Training data's default: frames first, refused where that looks wrong (training_batches.py).
AUTO_LAYOUT = "auto"
NUMPY_SUFFIXES = (".npy", ".npz")
ANIMATION_SUFFIXES = (".gif",)
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
# Array names tried in an .npz, in this order, before falling back to its only array.
NPZ_KEYS = ("videos", "frames", "arr_0")
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
COLOUR_CHANNELS = (3, 4)
CHANNELS_5D = (1, 3, 4)
UINT16_MAX = 65535
# Pillow modes holding 16-bit samples; converting them to "L" would clip instead of scale.
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")

_PIL = getattr(Image, "Resampling", Image)  # Pillow < 9.1 keeps the enums on Image itself
_RESAMPLE = _PIL.BILINEAR

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # how a .npz (a zip archive, maybe empty) starts
# IndexError and struct.error: Pillow's GIF reader reads past the end of a truncated file.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error, Image.DecompressionBombError)
# Sizes are checked from headers before decoding, so a small file that declares a huge video (a
# compressed .npz of zeros, a GIF of many large frames that change one pixel each) is refused
# instead of filling memory. Each value becomes a 4-byte float: the default is 4 GiB.
MAX_VIDEO_VALUES_ENV_VAR = "VIDEOAE_MAX_VIDEO_VALUES"
DEFAULT_MAX_VIDEO_VALUES = 2**30
_MAX_LIMIT_DIGITS = 30  # more than any memory holds
_PICKLE_HINT = "it is not a .npy/.npz file, or it holds pickled Python objects, which videoae never loads"


def max_video_values() -> int:
    """The most pixel values (frames x height x width x channels) a video file may hold:
    ``$VIDEOAE_MAX_VIDEO_VALUES`` if set, else :data:`DEFAULT_MAX_VIDEO_VALUES` (2**30)."""
    text = os.environ.get(MAX_VIDEO_VALUES_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_MAX_VIDEO_VALUES
    # ASCII digits only ("²".isdigit() is true), and few enough for int() and for a message
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_LIMIT_DIGITS) or int(text) == 0:
        raise InvalidInputError(
            f"the environment variable {MAX_VIDEO_VALUES_ENV_VAR}={quote(text)} is not a positive whole number of pixel values; "
            f"fix it or unset it (default {DEFAULT_MAX_VIDEO_VALUES:,})"
        )
    return int(text)


def check_video_size(shape: tuple[int, ...], source: str) -> None:
    """Refuse a video of ``shape`` (as a header declares it, or as asked for) before it is decoded
    or made, if it holds more than :func:`max_video_values`."""
    count, limit = math.prod(int(n) for n in shape), max_video_values()
    if count > limit:
        raise InvalidInputError(
            f"{source}: declares {count:,} pixel values (shape {tuple(shape)}), more than the limit of {limit:,} "
            f"({4 * limit / 2**30:g} GiB as floats); use a shorter or smaller video, or raise the limit with "
            f"{MAX_VIDEO_VALUES_ENV_VAR}=N if this machine has the memory"
        )


# A swapped reading is only doubted where it would give videos this long: every preset reads 10
# input frames, so a batch of fewer "videos" than that, read the other way, would be of no use.
MIN_DOUBT_FRAMES = 10


def looks_transposed(num_videos: int, num_frames: int, min_frames: int = MIN_DOUBT_FRAMES) -> bool:
    """Whether a batch read frames first looks like a sequences-first array read the wrong way.

    A data set holds more sequences than frames per sequence (Moving MNIST: 10,000 of 20); an
    ``(N, T, H, W)`` array, as :func:`videoae.data.moving_mnist.generate` returns, read as
    ``(T, N, H, W)`` gives the opposite: few "videos" of many "frames". Doubted only where the
    other reading gives videos of at least ``min_frames`` frames, the length the reader needs.
    """
    return 1 < num_videos < num_frames and num_videos >= min_frames


def layout_doubt(source: str, num_videos: int, num_frames: int) -> str:
    """What a batch read frames first holds, and what it would hold read sequences first, in words."""
    return (
        f"{source}: read frames first (T, N, H, W) as {num_videos} videos of {num_frames} frames; if it is sequences first "
        f"(N, T, H, W), as generate() returns, it holds {num_frames} videos of {num_videos} frames"
    )


def check_layout(layout: str) -> str:
    """``layout`` if it is one of :data:`LAYOUTS`, else InvalidInputError."""
    if layout not in LAYOUTS:
        raise InvalidInputError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return layout


def _check_frame_size(frame_size: tuple[int, int] | int | None) -> tuple[int, int] | None:
    if frame_size is None:
        return None
    size = (frame_size, frame_size) if is_count(frame_size) else frame_size
    if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(is_count(s) for s in size):
        raise InvalidInputError(f"frame_size must be a positive int or (height, width), got {frame_size!r}")
    return int(size[0]), int(size[1])


def _natural_key(path: Path) -> tuple:
    # re.split with a capture group alternates text and digits, so like positions compare like types.
    parts = re.split(r"(\d+)", path.name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), path.name


def _image_to_gray(image: Image.Image) -> np.ndarray:
    """One Pillow image (any mode) as float32 ``(H, W)`` luma in [0, 1]."""
    if image.mode in _WIDE_MODES:
        return np.clip(np.asarray(image, dtype=np.float32) / UINT16_MAX, 0.0, 1.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / UINT8_MAX


def _read_image_file(path: Path) -> np.ndarray:
    """An animated GIF/PNG as float32 ``(T, H, W)``; Pillow composites partial frame updates."""
    animation = path.suffix.lower() in ANIMATION_SUFFIXES
    try:
        with Image.open(path) as image:
            num_frames = getattr(image, "n_frames", 1)  # counted from frame headers, nothing decoded
            animation = animation or num_frames > 1
            if animation:
                check_video_size((num_frames, image.height, image.width), str(path))
            frames = [_image_to_gray(frame) for frame in ImageSequence.Iterator(image)] if animation else []
    except InvalidInputError:
        raise  # a size refusal or the environment's fault, not damage to the file
    except _IMAGE_ERRORS as err:
        message = f"{path}: cannot read it as an image ({err}); check that it is a valid, complete file"
        raise InvalidInputError(message) from err
    if not animation:
        raise InvalidInputError(f"{path}: a single still image is not a video; pass the folder that holds the frames, a GIF or a .npy")
    return np.stack(frames)


def _read_still(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return _image_to_gray(image)
    except _IMAGE_ERRORS as err:
        raise InvalidInputError(f"{path}: cannot read this frame ({err}); replace or remove the file") from err


def _read_frame_folder(folder: Path) -> np.ndarray:
    """A folder of PNG/JPEG frames, in natural name order, as float32 ``(T, H, W)``."""
    candidates = (p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    files = sorted((p for p in candidates if p.is_file()), key=_natural_key)
    if not files:
        raise InvalidInputError(
            f"{folder}: no PNG or JPEG frames in this folder; put the frames there (e.g. frame0001.png, ...) or pass a .npy/.npz/.gif file"
        )
    try:
        with Image.open(files[0]) as first:  # only the header is read
            check_video_size((len(files), first.height, first.width), str(folder))
    except InvalidInputError:
        raise
    except _IMAGE_ERRORS as err:
        raise InvalidInputError(f"{files[0]}: cannot read this frame ({err}); replace or remove the file") from err
    frames = []
    for file in files:
        frame = _read_still(file)
        if frames and frame.shape != frames[0].shape:
            (h0, w0), (h, w) = frames[0].shape, frame.shape
            raise InvalidInputError(
                f"{file}: frame is {w}x{h} (width x height) but {files[0].name} is {w0}x{h0}; give every frame the same size"
            )
        frames.append(frame)
    return np.stack(frames)


def _load_numpy(path: Path) -> np.ndarray:
    """The array stored in a ``.npy`` (memory-mapped) or ``.npz`` file; never unpickles."""
    keys: list[str] = []
    try:
        with open(path, "rb") as handle:
            if handle.read(len(_ZIP_MAGICS[0])) not in _ZIP_MAGICS:
                array = np.load(path, mmap_mode="r", allow_pickle=False)  # mapped, not read
                check_video_size(array.shape, str(path))
                return array
            # numpy leaks its own handle when a damaged .npz fails to open, so it gets ours.
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                keys = list(archive.files)
                key = next((k for k in NPZ_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
                if key is not None:
                    check_video_size(_npz_member_shape(archive, key), f"{path} (array {key!r})")
                    return archive[key]
    except InvalidInputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        text = str(err).lower()
        detail = _PICKLE_HINT if "pickle" in text or "object" in text else str(err)
        raise InvalidInputError(
            f"{path}: cannot read this NumPy file ({detail}); the file may be truncated or damaged, save it again with numpy.save"
        ) from err
    raise InvalidInputError(
        f"{path}: cannot tell which array holds the videos (arrays: {', '.join(keys) or 'none'}); "
        f"name it one of {', '.join(NPZ_KEYS)} or store only one array"
    )


def _npz_member_shape(archive: np.lib.npyio.NpzFile, key: str) -> tuple[int, ...]:
    """The shape an ``.npz`` member declares in its header, read without decompressing the data."""
    name = key if key in archive.zip.namelist() else f"{key}.npy"
    with archive.zip.open(name) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, _ = np.lib.format.read_array_header_2_0(member)
        else:  # newer formats: numpy's own reader (private, but the only one that knows them)
            shape, _, _ = np.lib.format._read_array_header(member, version)
    return shape


def _arrange(array: np.ndarray, layout: str, source: str) -> np.ndarray:
    """View of ``array`` as ``(N, T, H, W)`` or ``(N, T, H, W, C)`` following the module table."""
    if array.ndim == 3:
        return array[None]
    if array.ndim == 4:
        if array.shape[-1] in COLOUR_CHANNELS:
            return array[None]  # (1, T, H, W, C)
        return array.transpose(1, 0, 2, 3) if layout == "TNHW" else array
    if array.ndim == 5:
        if array.shape[2] in CHANNELS_5D:
            array = np.moveaxis(array, 2, -1)
        elif array.shape[-1] not in CHANNELS_5D:
            first, second = ("T", "N") if layout == "TNHW" else ("N", "T")
            raise InvalidInputError(
                f"{source}: 5-D shape {array.shape} has no channel axis of size 1, 3 or 4 third or last; "
                f"store ({first}, {second}, 1, H, W) or ({first}, {second}, H, W, C) (layout {layout})"
            )
        return array.swapaxes(0, 1) if layout == "TNHW" else array
    raise InvalidInputError(
        f"{source}: cannot read an array of shape {array.shape} as video; store (T, H, W) for one video or "
        "(T, N, H, W) for a batch (see videoae.data.video_io for every accepted shape)"
    )


def layout_hint(path: str | Path, num_videos: int, num_frames: int, layout: str | None) -> str:
    """For a message about the frame count of what was read from ``path``: how the layout split
    an array file's first two axes (None: the default's), and the other layout to try; "" for
    files without a layout."""
    if not isinstance(path, (str, Path)) or Path(path).suffix.lower() not in NUMPY_SUFFIXES:
        return ""
    layout = layout or DEFAULT_LAYOUT
    other = next(name for name in LAYOUTS if name != layout)
    order = "frames first (T, N, ...)" if other == "TNHW" else "videos first (N, T, ...)"
    return f" (read with --layout {layout} as {num_videos:,} video(s) of {num_frames:,} frames; if the file stores {order}, pass --layout {other})"


def _to_unit_float(array: np.ndarray, source: str) -> np.ndarray:
    """A C-contiguous float32 copy in [0, 1]: uint8 / 255, bool as 0/1, floats checked, not clipped."""
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidInputError(f"{source}: holds NaN or infinite values; normalise the frames to [0, 1]")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise InvalidInputError(
                f"{source}: float values span [{low:g}, {high:g}] but must lie within [0, 1]; "
                "normalise the frames (e.g. divide 0-255 values by 255) or store uint8"
            )
    elif array.dtype not in (np.uint8, np.bool_):
        raise InvalidInputError(f"{source}: unsupported dtype {array.dtype}; store uint8 (0-255), bool, or floats in [0, 1]")
    out = np.empty(array.shape, dtype=np.float32)
    # One video at a time: a (T, N, H, W) file read as (N, T, H, W) is strided, and numpy casts
    # strided data an order of magnitude slower than these near-contiguous slices.
    for index, video in enumerate(array):
        np.copyto(out[index], video, casting="same_kind")
    if array.dtype == np.uint8:
        np.divide(out, np.float32(UINT8_MAX), out=out)
    return out


def _array_to_videos(array: np.ndarray, layout: str, source: str) -> np.ndarray:
    arranged = _arrange(array, layout, source)
    num_videos, num_frames, height, width = arranged.shape[:4]
    if num_frames == 0:
        raise InvalidInputError(f"{source}: the time axis has length 0 (shape {array.shape}); store at least one frame")
    if min(num_videos, height, width) == 0:
        raise InvalidInputError(f"{source}: shape {array.shape} holds no pixels; store at least one non-empty video")
    videos = _to_unit_float(arranged, source)
    if videos.ndim == 5:  # colour: drop alpha, weight R, G, B like Pillow's "L"
        if videos.shape[-1] == 1:
            return np.ascontiguousarray(videos[..., 0])
        videos = np.clip(videos[..., :3] @ LUMA_WEIGHTS, 0.0, 1.0)
    return videos


def _resize(videos: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if videos.shape[-2:] == size:
        return videos
    out = np.empty((*videos.shape[:2], height, width), dtype=np.float32)  # (N, T, H', W')
    for index in np.ndindex(*videos.shape[:2]):
        out[index] = np.asarray(Image.fromarray(videos[index]).resize((width, height), _RESAMPLE))
    return np.clip(out, 0.0, 1.0, out=out)


def read_container(path: str | os.PathLike[str], *, channels: int = 1, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every frame of a video file as uint8 ``(T, channels, H, W)``, decoded in one pass."""
    info = probe(path)
    out_size = size or (info.height, info.width)
    check_video_size((info.num_frames, channels, *out_size), printable(info.path))
    return decode_frames(info, np.arange(info.num_frames), channels=channels, size=size)


def read_videos(path: str | Path, *, layout: str | None = None, frame_size: tuple[int, int] | int | None = None) -> np.ndarray:
    """Read one or more grayscale videos from a ``.npy``/``.npz`` file, a GIF or a folder of frames.

    Args:
        path: a ``.npy``/``.npz`` array file, an animated GIF or PNG, a video file (``.mp4 .mkv .webm
            .avi .mov``) or a folder of PNG/JPEG frames (read in natural order: ``frame2`` before
            ``frame10``).
        layout: order of the first two axes of a stored batch: ``"TNHW"`` (frames first, the
            standard Moving MNIST file) or ``"NTHW"`` (sequences first). See the module table.
            None reads frames first and logs a warning when the result :func:`looks_transposed`.
        frame_size: resize every frame to ``(height, width)`` (an int means square); None keeps it.

    Returns:
        float32 ``(N, T, H, W)`` in [0, 1]; a single video gives N = 1.

    Raises:
        InvalidInputError: the path is missing, empty, damaged or holds something that is not video.
    """
    given = layout
    layout = check_layout(DEFAULT_LAYOUT if layout is None else layout)
    size = _check_frame_size(frame_size)
    path = Path(path)
    if path.is_dir():
        videos = _read_frame_folder(path)[None]
    elif not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder; check the path")
    elif not path.is_file():  # a FIFO or a device would block or never end
        raise InvalidInputError(f"{path}: not a regular file; give a video, .npy, .npz or .gif file or a folder of frames")
    elif path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: the file is empty; write it again")
    elif path.suffix.lower() in NUMPY_SUFFIXES:
        videos = _array_to_videos(_load_numpy(path), layout, str(path))
    elif path.suffix.lower() in ANIMATION_SUFFIXES + FRAME_SUFFIXES:
        videos = _read_image_file(path)[None]
    elif is_container(path):
        pixels = read_container(path, channels=1, size=size)[None, :, 0]  # (1, T, H, W), already fitted
        videos = np.divide(pixels, np.float32(UINT8_MAX), dtype=np.float32)
        size = None
    else:
        raise InvalidInputError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; give a video file ({' '.join(CONTAINER_SUFFIXES)}), "
            "a .npy, .npz, .gif or a folder of PNG/JPEG frames"
        )
    if given is None and looks_transposed(*videos.shape[:2]):
        logger.warning(
            "%s; if so, give the layout NTHW (eval, predict, features: --layout NTHW)", layout_doubt(str(path), *videos.shape[:2])
        )
    if size is not None:
        videos = _resize(videos, size)
    logger.debug("read %d video(s) of shape %s from %s", videos.shape[0], videos.shape[1:], path)
    return videos


def read_video(path: str | Path, *, layout: str | None = None, frame_size: tuple[int, int] | int | None = None) -> np.ndarray:
    """Read exactly one grayscale video; see :func:`read_videos` for the accepted inputs.

    Args:
        path: a ``.npy``/``.npz`` file, an animated GIF or PNG, or a folder of PNG/JPEG frames.
        layout: as in :func:`read_videos`; only matters for 4-D and 5-D arrays.
        frame_size: resize every frame to ``(height, width)`` (an int means square); None keeps it.

    Returns:
        float32 ``(T, H, W)`` in [0, 1].

    Raises:
        InvalidInputError: as :func:`read_videos`, or the file holds more than one video.
    """
    videos = read_videos(path, layout=layout, frame_size=frame_size)
    if videos.shape[0] != 1:
        raise InvalidInputError(
            f"{path}: holds {videos.shape[0]} videos of {videos.shape[1]} frames (read as layout {layout or DEFAULT_LAYOUT}); "
            "use read_videos() to read them all, or pass the layout the file is stored in"
        )
    return videos[0]
