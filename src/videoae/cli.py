"""The ``videoae`` command line: the only module that parses arguments and prints.

Every subcommand is a function ``_run_<name>(args) -> int``. Problems a user can fix
(:class:`videoae.errors.VideoAEError`, ``OSError``) become one line on stderr and exit code 2;
``VIDEOAE_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from videoae import __version__
from videoae.errors import VideoAEError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videoae",
        description="Learn video representations with LSTM autoencoders (Srivastava et al., ICML 2015).",
    )
    parser.add_argument("--version", action="version", version=f"videoae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_data_commands(commands)
    return parser


def _add_data_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="generate, preview and convert Moving MNIST data")
    data_commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_commands.required = True
    # Filled in by the data pipeline: `data generate`, `data preview`.
    _add_data_download_command(data_commands)


def _add_data_download_command(data_commands: argparse._SubParsersAction) -> None:
    download = data_commands.add_parser(
        "download",
        help="download MNIST digits or the standard Moving MNIST test file (md5-checked)",
        description="Download a data set into the data folder (skipped if already there and intact).",
    )
    download.add_argument(
        "dataset",
        choices=("mnist", "moving-mnist"),
        help="mnist: the 4 MNIST IDX files (70,000 digits); moving-mnist: mnist_test_seq.npy (160 MB)",
    )
    download.add_argument(
        "--root", metavar="DIR", default=None, help="data folder (default: $VIDEOAE_DATA_DIR or ~/.cache/videoae)"
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``videoae`` console script; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("videoae: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (VideoAEError, OSError) as err:
        if os.environ.get("VIDEOAE_DEBUG"):
            raise
        print(f"videoae: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USER_ERROR


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None:
        message = f"{err.filename}: {err.strerror or err}"
    else:
        message = str(err) or type(err).__name__
    return " ".join(message.split())
