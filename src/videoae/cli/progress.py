"""Progress of long commands: a bar on stderr when it is a terminal, nothing in logs and pipes.

Each bar names the phase of the work (``reading``, ``scoring``, ``writing`` ...), so that a pause
says what is being waited for. Library functions report progress through a callback that counts
finished items (``on_progress``); :func:`progress` hands out such a callback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


def on_terminal() -> bool:
    """Whether stderr is a terminal a person watches (not a log file or a pipe)."""
    return sys.stderr.isatty()


@contextmanager
def progress(total: int, phase: str, unit: str) -> Iterator[Callable[[int], None]]:
    """A bar of ``total`` ``unit``s for ``phase``, shown on a terminal only and removed when done.

    Yields:
        The callback to call with the number of items just finished.
    """
    bar = tqdm(total=total, desc=phase, unit=unit, disable=not on_terminal(), leave=False, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()


def say(line: str) -> None:
    """Print a line of the command's output on stdout without breaking a bar being drawn."""
    tqdm.write(line, file=sys.stdout)
