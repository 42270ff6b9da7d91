"""The ``videoae`` command line: the only package that parses arguments and prints.

Each module registers one command group with ``add_commands(subparsers)``; every subcommand is a
function ``_run_<name>(args) -> int``. Problems a user can fix (:class:`videoae.errors.VideoAEError`,
``OSError``) become one line on stderr and exit code 2; ``VIDEOAE_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

from videoae import __version__
from videoae.cli import data, demo, evaluate, finetune, report, train
from videoae.errors import EXIT_INTERRUPTED, VideoAEError

EXIT_USER_ERROR = 2
COMMAND_GROUPS = (data, train, demo, evaluate, finetune, report)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videoae",
        description="Learn video representations with LSTM autoencoders (Srivastava et al., ICML 2015).",
    )
    parser.add_argument("--version", action="version", version=f"videoae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``videoae`` console script; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    _flush_lines(sys.stdout)
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
        if getattr(err, "silent", False):  # another process (torchrun's rank 0) says why
            return err.exit_code
        print(f"videoae: error: {_one_line(err)}", file=sys.stderr)
        return getattr(err, "exit_code", EXIT_USER_ERROR)


def _flush_lines(stream: object) -> None:
    """Write each line as soon as it is printed, also into a file or a pipe, where Python would
    otherwise hold the output of a 14-minute evaluation back until the end."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(ValueError, OSError):  # a detached or closed stream stays as it is
            reconfigure(line_buffering=True)


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None:
        message = f"{err.filename}: {err.strerror or err}"
    else:
        message = str(err) or type(err).__name__
    return " ".join(message.split())
