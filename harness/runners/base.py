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
