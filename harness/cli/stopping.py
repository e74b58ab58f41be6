"""SIGTERM/SIGINT for the commands that measure (run, ab, farm run): the first signal asks the
current run to stop cleanly (its record says aborted) and no more to start; a second one means
now (KeyboardInterrupt)."""

from __future__ import annotations

import signal
import threading


def cancel_on_signals() -> threading.Event:
    """An event set by the first SIGTERM/SIGINT; install it before planning, so a signal while
    planning starts no run at all."""
    cancel = threading.Event()

    def on_signal(signum, frame):
        if cancel.is_set():  # a second Ctrl-C means now
            raise KeyboardInterrupt
        cancel.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return cancel
