"""The training progress display: it follows whichever limit ends the run.

A run bounded by steps shows steps done of ``max_steps``, with the rate and time left. A run with
a time budget (``max_minutes``) shows the fraction of the budget used (or of the steps, whichever
is further along), the elapsed time and a time left that never exceeds what is left of the budget,
with the step count, loss and sequences per second beside it. On a terminal::

    train  37%|███▋      | 02:58<05:02 of 08:00, step 4985, loss 512.3, 45.1 seq/s

and in a log or a pipe, every half minute (:mod:`videoae.progress` decides which)::

    train: 37%, 02:58 elapsed of 08:00, 05:02 left, step 4985, loss 512.3, 45.1 seq/s
"""

from __future__ import annotations

import time

from tqdm import tqdm

from videoae.progress import PlainProgress, progress_bar

BAR_UNITS = 1000  # resolution of a time-budget bar
REDRAW_SECONDS = 0.5  # how often the budget bar's text is rebuilt


class TrainingProgress:
    """A progress bar for the training loop (does nothing when disabled).

    Args:
        step: the step the run starts (or resumes) at.
        max_steps: the step at which the run ends.
        max_minutes: the run's time budget from ``started`` (0: none, the steps bound the run).
        started: ``time.monotonic()`` when the budget began.
        enabled: show progress (on stderr: a bar on a terminal, plain lines in a log).
    """

    def __init__(self, *, step: int, max_steps: int, max_minutes: float, started: float, enabled: bool) -> None:
        self.first_step, self.max_steps, self.started = step, max_steps, started
        self.budget = max_minutes * 60.0
        self.loss: float | None = None
        self.seq_per_s: float | None = None
        self._drawn = 0.0
        self._step: int | None = None
        if self.budget > 0:
            self.bar = progress_bar(BAR_UNITS, "train", enabled=enabled, show_counts=False, leave=True)
        else:
            self.bar = progress_bar(max_steps, "train", "step", enabled=enabled, initial=step, leave=True)
        self.plain = isinstance(self.bar, PlainProgress)

    def update(self, step: int) -> None:
        """Record that ``step`` steps are done."""
        if self.bar.disable:
            return
        if self.budget <= 0:
            self.bar.update(step - self.bar.n)
            return
        self._step = step
        now = time.monotonic()
        if now - self._drawn < REDRAW_SECONDS and step < self.max_steps:
            return
        self._drawn = now
        elapsed = now - self.started
        fraction, remaining, steps_bound = self.estimate(step, elapsed)
        if self.plain:
            text = f"{_clock(elapsed)} elapsed of {_clock(self.budget)}, {_clock(remaining)} left, step {step}"
        else:
            text = f"{_clock(elapsed)}<{_clock(remaining)} of {_clock(self.budget)}, step {step}"
        if steps_bound:
            text += f"/{self.max_steps}"
        if self.loss is not None:
            text += f", loss {self.loss:.1f}, {self.seq_per_s:.1f} seq/s"
        self.bar.set_text(text)
        self.bar.update(round(fraction * BAR_UNITS) - self.bar.n)

    def estimate(self, step: int, elapsed: float) -> tuple[float, float, bool]:
        """(fraction done, seconds left, whether the steps end the run first) of a time-budget run.

        The seconds left are those of the budget, or fewer when the steps, at the rate of this
        run so far, will end it sooner: never more than the budget has left.
        """
        budget_left = max(0.0, self.budget - elapsed)
        done = step - self.first_step
        steps_left = (self.max_steps - step) * elapsed / done if done > 0 and elapsed > 0 else float("inf")
        fraction = max(min(1.0, elapsed / self.budget), step / self.max_steps)
        return min(1.0, fraction), min(budget_left, steps_left), steps_left < budget_left

    def set_stats(self, *, loss: float, seq_per_s: float) -> None:
        """The latest logged loss and throughput, shown beside the bar."""
        self.loss, self.seq_per_s = loss, seq_per_s
        if self.budget <= 0:
            self.bar.set_postfix_str(f"loss {loss:.1f}, {seq_per_s:.1f} seq/s")

    def close(self) -> None:
        """Draw the last state (the throttled bar may be up to half a second behind), then end the bar."""
        if self.budget > 0 and not self.bar.disable and self._step is not None:
            self._drawn = 0.0
            self.update(self._step)
        self.bar.close()


def _clock(seconds: float) -> str:
    """Seconds as ``MM:SS`` or ``H:MM:SS``, as tqdm shows its own times."""
    return tqdm.format_interval(seconds)
