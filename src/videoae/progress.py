"""Progress of long loops, fitted to where it goes: the one helper every long loop uses.

- On a terminal: a tqdm bar, redrawn in place (removed when done unless asked to stay).
- In a notebook: tqdm.auto's widget where ipywidgets is installed, its text bar otherwise (the
  same code path; tqdm.auto picks it).
- In a log file or a pipe: one plain line every :data:`PLAIN_INTERVAL_SECONDS` (what is done, the
  time elapsed and the time left), and never a carriage return, so a log stays readable.

Training, scoring, generating, encoding and downloading all make their display with
:func:`progress_bar`, so this module alone decides how progress looks. The commands always show
progress; the library's functions, called from Python, show it only in a notebook, where a cell
would otherwise be silent for minutes, and stay quiet in scripts and their logs
(:func:`shows_progress` decides, :func:`progress_callback` makes the display).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from tqdm.auto import tqdm

# A log gets a line this often: often enough to see a 10-minute command move, rarely enough that
# an hour of training is a screenful.
PLAIN_INTERVAL_SECONDS = 30.0


class Progress(Protocol):
    """What a progress display offers (tqdm's names, so a tqdm bar is one)."""

    n: float
    total: float | None

    def update(self, n: float = 1) -> None: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...

    def set_text(self, text: str) -> None: ...

    def close(self) -> None: ...


# The shell class of a Jupyter kernel. Colab's and others' shells subclass it under other names,
# so the whole class hierarchy is searched, not the class's own name.
KERNEL_SHELL = "ZMQInteractiveShell"


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (Jupyter, JupyterLab, VS Code, Colab): its output
    is a notebook's cell, which shows widgets and HTML, not a terminal."""
    ipython = sys.modules.get("IPython")  # never imported here: a script that did not import it is not a kernel
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return shell is not None and any(cls.__name__ == KERNEL_SHELL for cls in type(shell).__mro__)


def shows_progress(show: bool | None) -> bool:
    """Whether a library function called from Python shows progress: ``show`` where it is given,
    else only in a notebook (scripts and their logs stay quiet)."""
    return in_notebook() if show is None else bool(show)


def wants_bar(stream: TextIO) -> bool:
    """Whether ``stream`` shows a live bar: a terminal a person watches, or a notebook.

    A log file or a pipe does not: there a redrawn bar is a line of carriage returns.
    """
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        pass
    return in_notebook()


class _Bar(tqdm):
    """A tqdm bar that can show a free text after the bar (tqdm's postfix would start with a comma)."""

    text = ""

    @property
    def format_dict(self) -> dict:
        return {**super().format_dict, "text": self.text}

    def set_text(self, text: str) -> None:
        """The text after the bar (only with ``show_counts=False``); drawn at the next update."""
        self.text = text


def _clock(seconds: float) -> str:
    return tqdm.format_interval(max(0.0, seconds))


class PlainProgress:
    """Progress as plain lines for a log or a pipe: one every ``interval`` seconds, none before.

    A line reads ``scoring: 3,000/10,000 seq (30%), 04:12 elapsed, 09:48 left``; a bar that shows
    a text instead of counts (``show_counts=False``) reads ``train: 37%, TEXT``. When at least one
    line was written, closing writes the final state, so a log shows how long the work took; a
    command done within the interval writes nothing.
    """

    def __init__(
        self,
        total: float | None,
        *,
        desc: str,
        unit: str = "it",
        initial: float = 0,
        unit_scale: bool = False,
        show_counts: bool = True,
        file: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.unit_scale, self.show_counts, self.file = unit_scale, show_counts, file
        self.interval = PLAIN_INTERVAL_SECONDS if interval is None else interval
        self.started = self._last = time.monotonic()
        self.first = initial
        self.postfix, self.text = "", ""
        self.lines_written = 0
        self.disable = False

    def update(self, n: float = 1) -> None:
        self.n += n
        self._maybe_write()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_text(self, text: str) -> None:
        self.text = text

    def close(self) -> None:
        if self.disable:
            return
        if self.lines_written:
            self._write(done=True)
        self.disable = True

    def _maybe_write(self) -> None:
        now = time.monotonic()
        if not self.disable and now - self._last >= self.interval:
            self._last = now
            self._write(done=False)

    def _amount(self, value: float) -> str:
        return tqdm.format_sizeof(value, divisor=1024) if self.unit_scale else f"{value:,.0f}"

    def line(self, *, done: bool = False) -> str:
        """The line that describes the progress now."""
        fraction = self.n / self.total if self.total else None
        percent = f"{100 * fraction:.0f}%" if fraction is not None else ""
        if not self.show_counts:
            return f"{self.desc}: {percent}, {self.text}" if percent else f"{self.desc}: {self.text}"
        elapsed = time.monotonic() - self.started
        counts = f"{self._amount(self.n)}"
        if self.total:
            counts += f"/{self._amount(self.total)}"
        counts += f" {self.unit}" + (f" ({percent})" if percent else "")
        parts = [counts, f"{_clock(elapsed)} elapsed"]
        done_here = self.n - self.first
        if done:
            parts.append("done")
        elif self.total and done_here > 0:
            parts.append(f"{_clock(elapsed * (self.total - self.n) / done_here)} left")
        if self.postfix:
            parts.append(self.postfix)
        return f"{self.desc}: " + ", ".join(parts)

    def _write(self, *, done: bool) -> None:
        stream = self.file or sys.stderr  # looked up now: a test or a notebook may have replaced it
        stream.write(self.line(done=done) + "\n")
        stream.flush()  # a log shows the line now, not when a buffer fills
        self.lines_written += 1


def progress_bar(
    total: float | None,
    desc: str,
    unit: str = "it",
    *,
    enabled: bool = True,
    initial: float = 0,
    leave: bool = False,
    unit_scale: bool = False,
    show_counts: bool = True,
    file: TextIO | None = None,
) -> Progress:
    """A progress display for a loop of ``total`` ``unit``s, fitted to ``file`` (default stderr).

    Args:
        total: the amount of work (None: unknown).
        desc: what is being done (``scoring the embedded test set``): a pause then says what it waits for.
        unit: the unit counted (``seq``, ``step``, ``B``).
        enabled: False gives a display that shows nothing.
        initial: the amount already done (a resumed run's step).
        leave: keep a terminal bar on screen when done.
        unit_scale: counts with SI/binary prefixes (bytes).
        show_counts: False shows the percentage and :meth:`set_text`'s text instead of counts and
            times (a bar whose progress is not a count, e.g. a time budget).
        file: where to draw; stderr by default.

    Returns:
        A tqdm bar (tqdm.auto: a widget in a notebook) where ``file`` is a terminal or a notebook,
        else a :class:`PlainProgress`; either has ``update``, ``set_postfix_str``, ``set_text``
        and ``close``.
    """
    stream = file or sys.stderr
    if enabled and not wants_bar(stream):
        return PlainProgress(total, desc=desc, unit=unit, initial=initial, unit_scale=unit_scale, show_counts=show_counts, file=file)
    options = {"bar_format": "{desc} {percentage:3.0f}%|{bar}| {text}"} if not show_counts else {}
    return _Bar(
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        disable=not enabled,
        leave=leave,
        unit_scale=unit_scale,
        unit_divisor=1024 if unit_scale else 1000,
        dynamic_ncols=True,
        file=file,
        **options,
    )


@contextmanager
def progress_callback(
    total: float | None, desc: str, unit: str, *, show: bool | None = None, on_progress: Callable[[int], None] | None = None
) -> Iterator[Callable[[int], None] | None]:
    """The callback a library loop reports finished items to: ``on_progress`` where the caller gave
    one (a command's own display), else a display of its own where :func:`shows_progress` says so.

    Args:
        total, desc, unit: as for :func:`progress_bar`.
        show: True or False to show a display or not; None: only in a notebook.
        on_progress: the caller's callback; with it, no display is made here.

    Yields:
        The callback to call with the number of items just finished, or None (nothing to report to).
    """
    if on_progress is not None or not shows_progress(show):
        yield on_progress
        return
    bar = progress_bar(total, desc, unit)
    try:
        yield bar.update
    finally:
        bar.close()
