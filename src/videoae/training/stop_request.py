"""Signals that ask a training run to stop after the current step and save.

- SIGINT (Ctrl-C) from a person; a second Ctrl-C stops at once, without saving.
- SIGTERM (a scheduler's notice before it kills a job: SLURM, Kubernetes, ``kill``), SIGHUP (the
  terminal closed) and SIGUSR1 (SLURM's ``#SBATCH --signal=USR1@SECONDS`` convention): a
  preemption. Repeats change nothing; the scheduler's own kill ends a run that does not stop.

Under torchrun every worker gets a terminal's Ctrl-C twice, from the terminal and forwarded by the
agent, and the agent kills workers that have not ended after its grace period: there a repeated
signal never aborts, so the save always happens.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

logger = logging.getLogger(__name__)

PREEMPTION_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGUSR1") if hasattr(signal, name)
)  # Windows has only SIGTERM of these
STOP_SIGNALS = (signal.SIGINT, *PREEMPTION_SIGNALS)


class StopRequest:
    """Sets :attr:`signal_name` on the first stop signal; a second Ctrl-C interrupts at once.

    Args:
        agent_forwards: the process runs under an agent (torchrun) that forwards signals and
            kills after a grace period: no signal aborts a step, so every stop saves.

    Only the main thread can install signal handlers; elsewhere the signals keep their default
    behaviour. Call :meth:`restore` when the loop ends.
    """

    def __init__(self, *, agent_forwards: bool = False) -> None:
        self.signal_name: str | None = None
        self._agent_forwards = agent_forwards
        self._previous: dict[int, object] = {}
        # DataLoader worker processes inherit these handlers; only the process that installed them acts
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signum == getattr(signal, "SIGHUP", None) and signal.getsignal(signum) == signal.SIG_IGN:
                    continue  # nohup: the person asked the run to outlive its terminal
                self._previous[signum] = signal.signal(signum, self._handle)

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return self.signal_name is not None

    @property
    def preempted(self) -> bool:
        """Whether the stop came from a scheduler or a closed terminal, not from Ctrl-C."""
        return self.signal_name not in (None, "SIGINT")

    def _handle(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:
            return  # a worker: the training process stops the loader, and warns once
        if signum == getattr(signal, "SIGHUP", None):
            _detach_from_terminal()
        if self.requested:
            if signum == signal.SIGINT and self.signal_name == "SIGINT" and not self._agent_forwards:
                raise KeyboardInterrupt
            return
        self.signal_name = signal.Signals(signum).name
        how = "Ctrl-C again to stop at once" if signum == signal.SIGINT and not self._agent_forwards else "then exiting"
        logger.warning("%s: stopping after this step and saving (%s)", self.signal_name, how)

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


def _detach_from_terminal() -> None:
    """Point stdout and stderr at /dev/null when they were a terminal that has closed: writing
    there would fail and stop the run before it saves."""
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            pass
