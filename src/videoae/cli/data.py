"""``videoae data ...``: download, generate and preview Moving MNIST data."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from videoae.cli import data_cache
from videoae.cli.paths import check_output_file, check_outputs_spare_inputs, check_writable_parent
from videoae.cli.progress import progress

GENERATE_FORMATS = ("npy", "gif", "mp4")
GENERATE_BLOCK = 1000  # sequences generated at once (at most), and a step of the progress bar
GENERATE_BLOCK_BYTES = 2**27  # ... and at most this much memory: fewer sequences at a time when frames are large


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae data`` and its subcommands."""
    data = commands.add_parser(
        "data",
        help="download, generate and preview Moving MNIST data; cache video files",
        description="Download the published files, generate Moving MNIST sequences (a .npy that `videoae train --set "
        "data=PATH` trains on, or GIFs and MP4s that `videoae predict` reads), preview them, and decode video files once "
        "into a cache that training reads.",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_commands.required = True
    _add_data_download_command(data_commands)
    _add_data_generate_commands(data_commands)
    data_cache.add_command(data_commands)


def _add_data_download_command(data_commands: argparse._SubParsersAction) -> None:
    download = data_commands.add_parser(
        "download",
        help="download MNIST digits or the standard Moving MNIST test file (md5-checked)",
        description="Download a data set into the data folder (skipped if already there and intact).",
    )
    download.add_argument(
        "dataset",
        choices=("mnist", "moving-mnist"),
        help="mnist: the 4 MNIST IDX files (70,000 digits); moving-mnist: mnist_test_seq.npy (819 MB)",
    )
    download.add_argument("--root", metavar="DIR", default=None, help="data folder (default: $VIDEOAE_DATA_DIR or ~/.cache/videoae)")
    download.set_defaults(run=_run_data_download)


def _run_data_download(args: argparse.Namespace) -> int:
    if args.dataset == "mnist":
        from videoae.data.digits import MNIST_FILES, download_mnist

        folder = download_mnist(args.root, progress=True)
        paths = [folder / name for name in MNIST_FILES]
    else:
        from videoae.data.standard_test_set import download_standard_test_set

        paths = [download_standard_test_set(args.root, progress=True)]
    for path in paths:
        print(path)
    return 0


def _add_generator_options(parser: argparse.ArgumentParser, *, default_num: int | None) -> None:
    from videoae.data import moving_mnist as mm

    parser.add_argument(
        "--num",
        type=int,
        required=default_num is None,
        default=default_num,
        metavar="N",
        help="number of sequences (required)" if default_num is None else "number of sequences (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="stream of sequences, 0 <= S < 2**64 (default 0)")
    parser.add_argument(
        "--start",
        type=int,
        default=0,
        metavar="I",
        help="index of the first sequence; sequence i depends only on (seed, i)",
    )
    parser.add_argument(
        "--num-digits",
        type=int,
        default=mm.DEFAULT_NUM_DIGITS,
        metavar="K",
        help="digits per sequence (default %(default)s)",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=mm.DEFAULT_NUM_FRAMES,
        metavar="T",
        help="frames per sequence (default %(default)s)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=mm.DEFAULT_IMAGE_SIZE,
        metavar="S",
        help="frame side in pixels (default %(default)s)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        nargs=2,
        default=mm.DEFAULT_SPEED,
        metavar=("LO", "HI"),
        help="range of the step per frame as a fraction of the free canvas (default 0.1 0.1, the paper's)",
    )
    parser.add_argument(
        "--digits",
        default="train",
        metavar="SOURCE",
        help="bundled split train|test|all, mnist (the 60,000 MNIST training digits, after "
        "`videoae data download mnist`), or an IDX/.npy/.npz file of digits (default train)",
    )


def _add_data_generate_commands(data_commands: argparse._SubParsersAction) -> None:
    generate = data_commands.add_parser(
        "generate",
        help="write Moving MNIST sequences to a .npy file, or as one GIF per sequence",
        description="Generate Moving MNIST sequences and write them as uint8 (T, N, H, W) in one .npy file, the "
        "layout of the standard mnist_test_seq.npy (readable by np.load and torchvision's MovingMNIST), or with "
        "--format gif as one animated GIF per sequence in a folder, the input `videoae predict` takes.",
    )
    _add_generator_options(generate, default_num=None)
    generate.add_argument(
        "--format", choices=GENERATE_FORMATS, default="npy", help="npy: one file (default); gif, mp4: one GIF or H.264 MP4 per sequence"
    )
    generate.add_argument(
        "--frame-ms", type=int, default=100, metavar="MS", help="display time of a GIF or MP4 frame (default %(default)s)"
    )
    generate.add_argument("-o", "--output", required=True, metavar="OUT", help="the .npy file to write, or with --format gif the folder")
    generate.add_argument(
        "--labels-out",
        metavar="LABELS.npy",
        help="also write which digit classes each sequence shows: float32 multi-hot (N, 10), row i for sequence i, "
        "from the digits' labels (the labels `videoae finetune --labels` takes; use --digits test for digits no shipped model saw)",
    )
    generate.set_defaults(run=_run_data_generate)

    preview = data_commands.add_parser(
        "preview",
        help="draw Moving MNIST sequences as an animated GIF grid (or a PNG table of frames)",
        description="Generate sequences and draw them: OUT.gif plays them side by side in a grid; OUT.png "
        "shows one row per sequence and one column per frame. These are pictures to look at: for videos that "
        "`videoae predict` reads, use `videoae data generate --format gif`.",
    )
    _add_generator_options(preview, default_num=8)
    preview.add_argument(
        "--columns",
        type=int,
        default=None,
        metavar="C",
        help="sequences per row of the GIF grid (default: about sqrt(N))",
    )
    preview.add_argument("--frame-ms", type=int, default=100, metavar="MS", help="display time of a GIF frame (default %(default)s)")
    preview.add_argument("-o", "--output", default="preview.gif", metavar="OUT", help="a .gif or .png file (default %(default)s)")
    preview.set_defaults(run=_run_data_preview)


def _check_generator_sizes(args: argparse.Namespace) -> None:
    """Every number that sizes the output, checked before anything is generated."""
    from videoae.data.video_io import check_video_size
    from videoae.errors import InvalidInputError
    from videoae.validation import check_int

    check_int("--num", args.num, 1)
    check_int("--frames", args.frames, 1)
    check_int("--image-size", args.image_size, 1)
    check_int("--start", args.start, 0)
    if args.start + args.num > 2**64:
        raise InvalidInputError(f"--start {args.start} + --num {args.num} pass 2**64, the last index of a stream; use a smaller --start")
    # one sequence must fit in memory whatever --num: a huge --image-size or --frames is refused here
    check_video_size((args.frames, args.image_size, args.image_size), f"--frames {args.frames:,} --image-size {args.image_size:,}")


def _block_sequences(args: argparse.Namespace) -> int:
    return max(1, min(GENERATE_BLOCK, GENERATE_BLOCK_BYTES // (args.frames * args.image_size**2)))


def _generated_blocks(args: argparse.Namespace) -> Iterator[tuple[int, np.ndarray]]:
    """(first index, uint8 (n, T, H, W)) blocks of the sequences asked for, in order, each at most
    :data:`GENERATE_BLOCK_BYTES` (or one sequence); sequence i depends only on (seed, i)."""
    from videoae.data.digits import generator_digits
    from videoae.data.moving_mnist import generate

    _check_generator_sizes(args)
    digits = generator_digits(args.digits)
    block_sequences = _block_sequences(args)
    for offset in range(0, args.num, block_sequences):
        count = min(block_sequences, args.num - offset)
        block = generate(
            count,
            seed=args.seed,
            start=args.start + offset,
            num_digits=args.num_digits,
            num_frames=args.frames,
            image_size=args.image_size,
            speed=tuple(args.speed),
            digits=digits,
        )
        yield args.start + offset, block


def _generate_from_args(args: argparse.Namespace) -> np.ndarray:
    """Every sequence asked for, uint8 (N, T, H, W), with a bar on a terminal (for pictures of a
    few sequences: ``data generate`` streams its sequences to disk instead)."""
    from videoae.data.video_io import check_video_size

    _check_generator_sizes(args)
    check_video_size((args.num, args.frames, args.image_size, args.image_size), f"{args.num:,} sequences drawn at once")
    videos = None
    with progress(args.num, "generating", "seq") as on_progress:
        for first, block in _generated_blocks(args):
            if videos is None:
                videos = np.empty((args.num, *block.shape[1:]), dtype=np.uint8)
            videos[first - args.start : first - args.start + len(block)] = block
            on_progress(len(block))
    return videos


def _labels_path(args: argparse.Namespace) -> Path | None:
    """``--labels-out``, checked before anything is generated (the digits' labels read too)."""
    if args.labels_out is None:
        return None
    from videoae.data.labelled_sequences import digit_labels
    from videoae.errors import InvalidInputError

    path = check_output_file(args.labels_out, (".npy",), "--labels-out")
    check_outputs_spare_inputs([path], [args.digits], "--labels-out")
    if os.path.realpath(path) == os.path.realpath(args.output):
        raise InvalidInputError(f"--labels-out {path} is the file -o writes; give the labels another name")
    digit_labels(args.digits)
    return path


def _write_labels(args: argparse.Namespace, path: Path | None) -> None:
    if path is None:
        return
    from videoae.atomic import write_atomically
    from videoae.data.labelled_sequences import digit_labels, sequence_labels

    labels = sequence_labels(
        np.arange(args.start, args.start + args.num, dtype=np.uint64),
        digit_labels(args.digits),
        seed=args.seed,
        num_digits=args.num_digits,
        speed=tuple(args.speed),
    )
    write_atomically(path, lambda handle: np.save(handle, labels))
    rows = "row i: sequence i" if args.start == 0 else f"row i: sequence {args.start} + i"
    print(f"wrote {path}: float32 {labels.shape} multi-hot, the digit classes each sequence shows ({rows})")


def _run_data_generate(args: argparse.Namespace) -> int:
    labels_path = _labels_path(args)
    if args.format in ("gif", "mp4"):
        code = _generate_gifs(args)
        _write_labels(args, labels_path)
        return code
    from videoae.data.video_writers import npy_header_bytes, write_npy_blocks
    from videoae.errors import InvalidInputError

    if Path(args.output).suffix.lower() in ("", ".gif", ".mp4"):
        raise InvalidInputError(
            f"-o {args.output}: the npy format writes one .npy file; for one GIF (or MP4) per sequence in a folder add --format gif (or mp4)"
        )
    output = check_output_file(args.output, (".npy",), "-o")
    check_outputs_spare_inputs([output], [args.digits], "-o")
    _check_generator_sizes(args)
    shape = (args.num, args.frames, args.image_size, args.image_size)
    _check_free_space(output, npy_header_bytes(shape) + int(np.prod(shape, dtype=object)))
    # written as generated, a block at a time: memory is bounded by a block, whatever --num
    with progress(args.num, "generating and writing", "seq") as on_progress:
        blocks = (block for _, block in _generated_blocks(args))
        path = write_npy_blocks(output, shape, blocks, layout="TNHW", on_block=on_progress)
    num, frames, height, width = shape
    last = args.start + num - 1
    print(
        f"wrote {path}: {_count(num, 'sequence')} x {frames} frames of {height}x{width}, uint8, "
        f"shape {(frames, num, height, width)} (T, N, H, W), seed {args.seed}, indices {args.start}..{last}"
    )
    _write_labels(args, labels_path)
    return 0


def _check_free_space(output: Path, needed: int) -> None:
    """Refuse, before generating, a file larger than the free space where it goes."""
    from videoae.errors import InvalidInputError

    folder = next(p for p in (output.absolute().parent, *output.absolute().parents) if p.exists())
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise InvalidInputError(
            f"-o {output}: {needed / 2**30:,.2f} GiB to write but {folder} has {free / 2**30:,.2f} GiB free; use a smaller --num or another disk"
        )


def gif_name(index: int, suffix: str = ".gif") -> str:
    """The file ``data generate --format gif`` (or ``mp4``, with ``suffix``) writes sequence ``index`` to."""
    return f"sequence_{index:06d}{suffix}"


def _generate_gifs(args: argparse.Namespace) -> int:
    """One GIF or MP4 per sequence (``--format gif|mp4``) in a folder."""
    from videoae.data.video_writers import write_gif, write_mp4
    from videoae.errors import InvalidInputError

    kind, suffix = args.format.upper(), f".{args.format}"
    folder = Path(args.output)
    if folder.suffix.lower() in (".gif", ".npy", ".mp4") or (folder.exists() and not folder.is_dir()):
        raise InvalidInputError(
            f"-o {folder}: with --format {args.format}, give a folder to write one {kind} per sequence into (e.g. -o clips/)"
        )
    check_writable_parent(folder / gif_name(0, suffix), "-o")
    _check_generator_sizes(args)
    if args.format == "mp4":
        from videoae.data.video_containers import import_av

        import_av()  # before any work: a missing PyAV is one line
        fps = 1000 / args.frame_ms

        def write(path: Path, video: np.ndarray) -> Path:
            return write_mp4(path, video, fps=fps)
    else:

        def write(path: Path, video: np.ndarray) -> Path:
            return write_gif(path, video, frame_ms=args.frame_ms)

    written = 0
    with progress(args.num, f"generating and writing {kind}s", "seq") as on_progress:
        for first, block in _generated_blocks(args):
            for index, video in enumerate(block, start=first):
                write(folder / gif_name(index, suffix), video)
            written += len(block)
            on_progress(len(block))
    _, frames, height, width = block.shape
    last = args.start + args.num - 1
    names = gif_name(args.start, suffix) if written == 1 else f"{gif_name(args.start, suffix)} .. {gif_name(last, suffix)}"
    print(
        f"wrote {_count(written, kind)} into {folder}: {names}, {frames} frames of {height}x{width} each, "
        f"seed {args.seed}; {'it is a video' if written == 1 else 'each is a video'} `videoae predict` takes as it is"
    )
    return 0


def _run_data_preview(args: argparse.Namespace) -> int:
    from videoae.data.video_writers import write_gif
    from videoae.reporting import frame_table, save_png, sequence_grid

    check_output_file(args.output, (".gif", ".png"), "-o")
    videos = _generate_from_args(args)  # (N, T, H, W)
    if Path(args.output).suffix.lower() == ".png":
        path = save_png(args.output, frame_table(videos))
        print(f"wrote {path}: {_count(len(videos), 'sequence')} as rows of {videos.shape[1]} frames")
    else:
        path = write_gif(args.output, sequence_grid(videos, columns=args.columns), frame_ms=args.frame_ms)
        grid = "in a grid" if len(videos) > 1 else "as an animation"
        print(f"wrote {path}: {_count(len(videos), 'sequence')} {grid}, {videos.shape[1]} frames of {args.frame_ms} ms")
    return 0


def _count(number: int, noun: str) -> str:
    """``1 GIF``, ``2 GIFs``: a count with its noun in the right number."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
