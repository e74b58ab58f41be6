"""How one runtime runs one model on one kind of target: the `Runner` declaration.

A runner is a `Runner` subclass registered under the ``harness.runners`` entry-point group
(the entry point's name is the runner's `name`). It *declares* what it serves, and
everything else is derived from the declarations (`harness.runners.registry`): the
runtime names a profile may list, the default runtime for a model format on a device,
the format check at plan time, ``harness run --help``'s runtime list, ``harness
runtimes``, and ``-o KEY=VALUE`` validation.

Declarations (class attributes):

- ``name``: the runner's name (recorded in ``runtime.details["runner"]``).
- ``runtimes``: the ``--runtime`` values it serves (a profile's ``runtimes`` lists them);
  empty for a runner that measures no model (the ceilings probe).
- ``formats``: the model formats it accepts (`harness.formats`: ``tflite``, ``onnx``, …);
  ``runtime_formats`` narrows them per runtime when its runtimes take different formats
  (the agent: runtime ``tflite`` takes ``.tflite``, runtime ``onnx`` takes ``.onnx``).
- ``transport``: the transport capability it needs, a class: `CommandTransport` (run,
  stream, push/pull) or `LineTransport` (line request/response). A profile whose
  transport is not a subclass is refused at plan time.
- ``stop_modes``: the stopping rules it can honour (`StopRule.mode`); another one is
  refused at plan time. `default_stop()` is the rule when the user gives none.
- ``delegates``: the ``--delegate`` values it applies (empty: none; a delegate is then
  refused at plan time, never recorded without being applied).
- ``Options``: a `RunnerOptions` subclass (pydantic, unknown keys forbidden): the
  ``-o KEY=VALUE`` options and the dedicated flags mapped onto them (``--op-profile`` →
  ``op_profile``…). A bad key or value is one ``error:`` line at plan time.
- ``description``: one line for ``harness runtimes``.

Methods:

- ``check(profile, config)``: refuse, with a `HarnessError`, a configuration that
  cannot run, at plan time (optional).
- ``run(ctx)``: measure, appending raw events to ``ctx.recorder`` as they arrive and
  typed results (`harness.store.results`) with ``ctx.recorder.set_result``; raise on
  failure (a typed exception from `harness.errors`, so the record says whether a retry
  could help). The session records the failure with everything collected so far. When
  ``ctx.cancel`` is set (SIGTERM/SIGINT, thermal limit) stop the work on the target, keep
  what was measured, and return. ``ctx.options`` holds the validated options.

Tools on command targets run through `harness.runners.toolrun` (push with the hash
cache, start under taskset, stream, watchdog, collect).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import HarnessError, describe_validation_error
from harness.profiles import DeviceProfile
from harness.store.record import ModelRef, RunConfig, StopRule
from harness.store.recorder import Recorder
from harness.transports.base import CommandTransport, Transport

#: progress callback: (what is happening, fields such as n, median_s, elapsed_s)
Progress = Callable[[str, dict], None]


def _no_progress(_what: str, _fields: dict) -> None:
    pass


class RunnerOptions(BaseModel):
    """Base of a runner's options: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class RunContext:
    profile: DeviceProfile
    transport: Transport
    model: ModelRef | None  # None for a runner that measures no model (ceilings)
    model_path: Path | None
    config: RunConfig
    recorder: Recorder
    #: set on SIGTERM/SIGINT or when the thermal watchdog trips; runners poll is_set()/wait()
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress = _no_progress
    #: where the workload process should write its pid, for the telemetry sampler
    pid_file: str | None = None
    #: the runner's validated options (from config.options); set by the session
    options: Any = None


class Runner(ABC):
    name: ClassVar[str]
    runtimes: ClassVar[tuple[str, ...]]
    formats: ClassVar[tuple[str, ...]]
    runtime_formats: ClassVar[dict[str, tuple[str, ...]]] = {}
    transport: ClassVar[type[Transport]] = CommandTransport
    stop_modes: ClassVar[tuple[str, ...]] = ("adaptive", "fixed", "mlperf")
    delegates: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[RunnerOptions]] = RunnerOptions
    description: ClassVar[str] = ""

    @classmethod
    def accepts(cls, runtime: str, fmt: str) -> bool:
        """Whether `runtime` (one of this runner's) takes models of format `fmt`."""
        return fmt in cls.runtime_formats.get(runtime, cls.formats)

    @abstractmethod
    def run(self, ctx: RunContext) -> None:
        """Measure, appending to `ctx.recorder`; raise on failure."""

    def check(self, profile: DeviceProfile, config: RunConfig) -> None:
        """Refuse, with a `HarnessError`, a configuration that cannot run — at plan time,
        before any device time is spent. Default: nothing to check."""

    def default_stop(self) -> StopRule:
        """The stopping rule when the user gives none."""
        return StopRule(mode=self.stop_modes[0])

    @classmethod
    def parse_options(cls, raw: dict[str, Any]) -> RunnerOptions:
        """The validated options; a `HarnessError` naming the option and the cause."""
        try:
            return cls.Options.model_validate(raw)
        except ValidationError as e:
            first = e.errors()[0]
            if first["type"] == "extra_forbidden":
                known = ", ".join(cls.Options.model_fields) or "none"
                raise HarnessError(
                    f"-o {first['loc'][0]}: not an option of runner {cls.name} (its options: {known})"
                ) from None
            raise HarnessError(f"runner {cls.name}: -o {describe_validation_error(e)}") from None

    def options_for(self, config: RunConfig) -> RunnerOptions:
        return self.parse_options(config.options)
