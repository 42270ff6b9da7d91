"""``videoae data ...``: download, generate and preview Moving MNIST data."""

from __future__ import annotations

import argparse

from videoae.cli.paths import check_output_file


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``videoae data`` and its subcommands."""
    data = commands.add_parser("data", help="generate, preview and convert Moving MNIST data")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_commands.required = True
    _add_data_download_command(data_commands)
    _add_data_generate_commands(data_commands)


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
        help="number of sequences (default %(default)s)",
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
        help="write Moving MNIST sequences to a .npy file",
        description="Generate Moving MNIST sequences and write them as uint8 (T, N, H, W), the layout of the "
        "standard mnist_test_seq.npy (readable by np.load and torchvision's MovingMNIST).",
    )
    _add_generator_options(generate, default_num=None)
    generate.add_argument("-o", "--output", required=True, metavar="OUT.npy", help="file to write")
    generate.set_defaults(run=_run_data_generate)

    preview = data_commands.add_parser(
        "preview",
        help="draw Moving MNIST sequences as an animated GIF grid (or a PNG table of frames)",
        description="Generate sequences and draw them: OUT.gif plays them side by side in a grid; OUT.png "
        "shows one row per sequence and one column per frame.",
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


def _generate_from_args(args: argparse.Namespace):
    from videoae.data.digits import generator_digits
    from videoae.data.moving_mnist import generate
    from videoae.errors import InvalidInputError

    if args.num < 1:
        raise InvalidInputError(f"--num must be at least 1, got {args.num}")
    return generate(
        args.num,
        seed=args.seed,
        start=args.start,
        num_digits=args.num_digits,
        num_frames=args.frames,
        image_size=args.image_size,
        speed=tuple(args.speed),
        digits=generator_digits(args.digits),
    )


def _run_data_generate(args: argparse.Namespace) -> int:
    from videoae.data.video_writers import write_npy

    check_output_file(args.output, (".npy",), "-o")
    videos = _generate_from_args(args)  # (N, T, H, W)
    path = write_npy(args.output, videos, layout="TNHW")
    num, frames, height, width = videos.shape
    last = args.start + num - 1
    print(
        f"wrote {path}: {num} sequences x {frames} frames of {height}x{width}, uint8, "
        f"shape {(frames, num, height, width)} (T, N, H, W), seed {args.seed}, indices {args.start}..{last}"
    )
    return 0


def _run_data_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from videoae.data.video_writers import write_gif
    from videoae.reporting import frame_table, save_png, sequence_grid

    check_output_file(args.output, (".gif", ".png"), "-o")
    videos = _generate_from_args(args)  # (N, T, H, W)
    if Path(args.output).suffix.lower() == ".png":
        path = save_png(args.output, frame_table(videos))
        print(f"wrote {path}: {len(videos)} sequences as rows of {videos.shape[1]} frames")
    else:
        path = write_gif(args.output, sequence_grid(videos, columns=args.columns), frame_ms=args.frame_ms)
        print(f"wrote {path}: {len(videos)} sequences in a grid, {videos.shape[1]} frames of {args.frame_ms} ms")
    return 0
