"""Errors that videoae raises for problems a user can fix.

The CLI turns these (and ``OSError``) into one line on stderr and a non-zero exit code; any other
exception is a bug and keeps its traceback.
"""

EXIT_INTERRUPTED = 130  # Ctrl-C: the shell's code for an interrupted command (a run saved first)
EXIT_RESUMABLE = 75  # sysexits' EX_TEMPFAIL: a run saved (or kept) its state; run the same command again


class VideoAEError(Exception):
    """Base class: a problem with the user's input, files or environment, explained in one line."""

    exit_code = 2  # what the command line exits with
    silent = False  # True where another process has already said why (torchrun's other ranks)


class InvalidInputError(VideoAEError, ValueError):
    """An argument, array or file has the wrong shape, type, range or content."""


class DataNotFoundError(VideoAEError, RuntimeError):
    """Expected data is not on disk (and was not asked to be downloaded)."""


class ChecksumError(VideoAEError):
    """A file's md5 does not match the published one."""


class DownloadError(VideoAEError):
    """No mirror could deliver a file (offline, server error or bad checksum)."""


class MissingDependencyError(VideoAEError, ImportError):
    """An optional package a feature needs is not installed; the message names the install command."""
