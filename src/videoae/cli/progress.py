"""Progress of long commands, through :func:`videoae.progress.progress_bar`: a bar on a terminal,
plain lines now and then in a log or a pipe.

Each display names the phase of the work (``reading``, ``scoring``, ``writing`` ...), so that a
pause says what is being waited for. Library functions report progress through a callback that
counts finished items (``on_progress``); :func:`progress` hands out such a callback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from videoae.progress import progress_bar


@contextmanager
def progress(total: int, phase: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A display of ``total`` ``unit``s for ``phase``, removed from a terminal when done.

    Yields:
        The callback to call with the number of items just finished.
    """
    bar = progress_bar(total, phase, unit)
    try:
        yield bar.update
    finally:
        bar.close()


def say(line: str) -> None:
    """Print a line of the command's output on stdout without breaking a bar being drawn."""
    tqdm.write(line, file=sys.stdout)
