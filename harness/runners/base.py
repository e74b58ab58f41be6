"""How one runtime runs one model on one kind of target.

A runner gets a `RunContext` (profile, open transport, model, configuration, a
recorder, a cancel flag) and appends raw events to the recorder as they arrive. It
raises on failure; the session records the failure with everything collected so far.
When `ctx.cancel` is set (SIGTERM/SIGINT to the harness), the runner stops the work
on the target, keeps what was measured, and returns.

To add a runner: subclass `Runner`, set `name`, `runtimes` and `transports`, and
list it in `harness.runners.RUNNERS`.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.profiles import DeviceProfile
from harness.store.record import ModelRef, RunConfig
from harness.store.recorder import Recorder
from harness.transports.base import Transport

#: progress callback: (what is happening, fields such as n, median_s, elapsed_s)
Progress = Callable[[str, dict], None]


def _no_progress(_what: str, _fields: dict) -> None:
    pass


@dataclass
class RunContext:
    profile: DeviceProfile
    transport: Transport
    model: ModelRef
    model_path: Path
    config: RunConfig
    recorder: Recorder
    #: set on SIGTERM/SIGINT or when the thermal watchdog trips; runners poll is_set()/wait()
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress = _no_progress
    #: where the workload process should write its pid, for the telemetry sampler
    pid_file: str | None = None


class Runner(ABC):
    #: short name, stored in the record's runtime details
    name: ClassVar[str]
    #: values of `RunConfig.runtime` this runner serves
    runtimes: ClassVar[tuple[str, ...]]
    #: transport kinds it works over
    transports: ClassVar[tuple[str, ...]]

    @abstractmethod
    def run(self, ctx: RunContext) -> None:
        """Measure, appending to `ctx.recorder`; raise on failure."""

    def check(self, profile: DeviceProfile, config: RunConfig) -> None:
        """Refuse, with a `HarnessError`, a configuration that cannot run — at plan time,
        before any device time is spent. Default: nothing to check."""


class Watchdog:
    """Terminates a streamed process when the run is cancelled or overruns its deadline.

        with Watchdog(proc, ctx.cancel, deadline_s) as dog:
            for line in proc.lines(): ...
        if dog.timed_out.is_set(): raise CommandTimeout(...)

    The process gets `cancel_grace_s` to flush what it measured after a cancel.
    """

    def __init__(self, proc, cancel, deadline_s: float, cancel_grace_s: float = 10.0, name: str = "watchdog"):
        self.proc = proc
        self.cancel = cancel
        self.deadline_s = deadline_s
        self.cancel_grace_s = cancel_grace_s
        self.timed_out = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def _watch(self) -> None:
        limit = time.monotonic() + self.deadline_s
        while not self._done.is_set():
            if self.cancel.wait(0.1):
                self.proc.terminate(grace_s=self.cancel_grace_s)
                return
            if time.monotonic() > limit:
                self.timed_out.set()
                self.proc.terminate(grace_s=5.0)
                return

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=15)
