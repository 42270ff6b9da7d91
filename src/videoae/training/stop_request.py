"""Ctrl-C during training: the first asks the loop to stop after the current step and save."""

from __future__ import annotations

import logging
import os
import signal
import threading

logger = logging.getLogger(__name__)


class StopRequest:
    """The first Ctrl-C sets :attr:`requested`; a second one interrupts at once.

    Only the main thread can install signal handlers; elsewhere Ctrl-C keeps its default behaviour.
    Call :meth:`restore` when the loop ends.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        # DataLoader worker processes inherit this handler; only the process that installed it acts
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if os.getpid() != self._pid:
            return  # a worker: the training process stops the loader, and warns once
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("stopping after this step and saving (Ctrl-C again to stop at once)")

    def restore(self) -> None:
        """Put back the SIGINT handler that was there before."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
