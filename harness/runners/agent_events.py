"""The agent's JSON lines, checked one by one before they reach the record.

Each line the agent prints is one event (see `harness.agent.agent`). A line that is not
a JSON object with a known ``event`` is someone else's output and is kept verbatim
(``raw/agent_stdout.txt``). An event of a known kind whose fields are missing, of the
wrong type or out of range is *malformed*: it is kept verbatim in
``raw/agent_bad_events.txt``, the run gets a warning (the first few, then a count), and
the run goes on — one bad line never costs the samples around it.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from harness.agent.matrix import outside_matrix
from harness.errors import describe_validation_error

#: device-clock nanoseconds and byte counts: what an int64 table column holds
Int64 = Annotated[int, Field(strict=True, ge=-(2**63), lt=2**63)]
Count = Annotated[int, Field(strict=True, ge=0, lt=2**63)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Text = Annotated[str, Field(max_length=10_000)]

#: malformed events warned about one by one; after that, one warning with the count
WARN_FIRST = 5
BAD_EVENTS = "agent_bad_events"


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")  # a newer agent may say more


class Hello(_Event):
    event: Literal["hello"]
    t_ns: Int64
    pid: Count | None = None
    python: Text | None = None
    clock: Text | None = None
    affinity: list[Count] | None = None
    cpu_count: Count | None = None


class Runtime(_Event):
    event: Literal["runtime"]
    library: Text | None = None
    version: Text | None = None
    threads: Count | None = None


class Phase(_Event):
    event: Literal["phase"]
    name: Literal["load", "init", "first"]
    start_ns: Int64
    dur_ns: Count


class Memory(_Event):
    event: Literal["memory"]
    when: Name
    peak_rss_bytes: Count | None = None


class Samples(_Event):
    event: Literal["samples"]
    phase: Literal["warmup", "steady"]
    start_ns: list[Int64]
    latency_ns: list[Count]
    #: which of the agent's worker processes measured them (--processes)
    process: Annotated[int, Field(strict=True, ge=0, lt=2**31)] = 0

    @model_validator(mode="after")
    def _paired(self):
        if len(self.start_ns) != len(self.latency_ns):
            raise ValueError(f"{len(self.start_ns)} start_ns for {len(self.latency_ns)} latency_ns")
        return self


class Mark(_Event):
    event: Literal["mark"]
    name: Name
    t_ns: Int64


class Warning_(_Event):
    event: Literal["warning"]
    message: Text


class Op(BaseModel):
    type: Text
    name: Text
    time_s: float
    count: Count


class Ops(_Event):
    event: Literal["ops"]
    ops: list[Op]


class Stop(_Event):
    event: Literal["stop"]
    reason: Name
    n: Count | None = None


class Error(_Event):
    event: Literal["error"]
    stage: Name = "run"
    type: Text = "Error"
    message: Text = ""


class Done(_Event):
    event: Literal["done"]
    status: Literal["ok", "aborted", "failed"]


AgentEvent = Annotated[
    Union[Hello, Runtime, Phase, Memory, Samples, Mark, Warning_, Ops, Stop, Error, Done],
    Field(discriminator="event"),
]
_EVENT = TypeAdapter(AgentEvent)
KINDS = frozenset(("hello", "runtime", "phase", "memory", "samples", "mark", "warning", "ops", "stop", "error",
                   "done"))


def parse_line(line: str) -> tuple[str, Any]:
    """("event", the checked event) | ("bad", why) | ("other", None) for a line that is not an
    agent event at all."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or nested beyond what the parser takes
        return "other", None
    if not isinstance(data, dict) or data.get("event") not in KINDS:
        return "other", None
    try:
        return "event", _EVENT.validate_python(data)
    except ValidationError as e:
        return "bad", describe_validation_error(e)
    except RecursionError:
        return "bad", "nested too deeply"


class AgentEvents:
    """Turns agent lines into recorder events (needs ``ctx.recorder`` and ``ctx.progress``)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.rec = ctx.recorder
        self.iteration = 0
        self.steady = 0
        self.lineno = 0
        self.bad = 0
        self.error: Error | None = None
        self.status: str | None = None

    def feed(self, line: str) -> None:
        self.lineno += 1
        verdict, ev = parse_line(line)
        if verdict == "other":
            self.rec.add_raw("agent_stdout", line)  # not ours: keep it verbatim
            return
        if verdict == "bad":
            self._malformed(line, ev)
            return
        if ev.event != "samples":
            self.rec.add_raw("agent_events", line)
        getattr(self, f"_on_{ev.event}")(ev)

    def _malformed(self, line: str, why: str) -> None:
        self.bad += 1
        self.rec.add_raw(BAD_EVENTS, line)
        where = f"raw/{BAD_EVENTS}.txt"
        if self.bad <= WARN_FIRST:
            self.rec.warnings.append(f"malformed agent event on output line {self.lineno} ({why[:200]}); "
                                     f"skipped, kept in {where}")
        elif self.bad == WARN_FIRST + 1:
            self.rec.warnings.append(f"more malformed agent events skipped; all are kept in {where}")

    def finish(self) -> None:
        """Say how many malformed events there were in all, if more than were warned about."""
        if self.bad > WARN_FIRST:
            self.rec.warnings.append(f"{self.bad} malformed agent events in all, kept in raw/{BAD_EVENTS}.txt")

    def _on_hello(self, ev: Hello) -> None:
        self.rec.conditions["agent"] = ev.model_dump(include={"pid", "python", "clock", "affinity", "cpu_count"})
        self.rec.timeline["agent_start_ns"] = ev.t_ns

    def _on_runtime(self, ev: Runtime) -> None:
        rt = self.rec.runtime
        rt.library, rt.version = ev.library, ev.version
        rt.details["threads"] = ev.threads
        # a Python or runtime no test runs is said in the record (harness/agent/matrix.py)
        self.rec.warnings += outside_matrix(self.rec.conditions.get("agent", {}).get("python"), rt.library, rt.version)

    def _on_phase(self, ev: Phase) -> None:
        setattr(self.rec.phases, f"{ev.name}_s", ev.dur_ns / 1e9)
        self.rec.timeline[f"{ev.name}_start_ns"] = ev.start_ns
        self.ctx.progress(ev.name, {"seconds": ev.dur_ns / 1e9})

    def _on_memory(self, ev: Memory) -> None:
        if ev.peak_rss_bytes is not None:
            self.rec.memory[f"peak_rss_{ev.when}_bytes"] = float(ev.peak_rss_bytes)

    def _on_samples(self, ev: Samples) -> None:
        for start, lat in zip(ev.start_ns, ev.latency_ns):
            self.rec.add_sample(self.iteration, ev.phase, start, lat, process=ev.process)
            self.iteration += 1
        if ev.phase == "steady":
            self.steady += len(ev.latency_ns)
        self.ctx.progress(ev.phase, {"n": self.steady})

    def _on_mark(self, ev: Mark) -> None:
        self.rec.timeline[f"{ev.name}_ns"] = ev.t_ns

    def _on_warning(self, ev: Warning_) -> None:
        self.rec.warnings.append(ev.message)

    def _on_ops(self, ev: Ops) -> None:
        for i, op in enumerate(ev.ops):
            time_s = op.time_s if math.isfinite(op.time_s) else float("nan")
            self.rec.add_op(index=i, type=op.type, name=op.name, time_s=time_s, count=op.count)

    def _on_stop(self, ev: Stop) -> None:
        self.rec.stop_reason = ev.reason

    def _on_error(self, ev: Error) -> None:
        self.error = ev

    def _on_done(self, ev: Done) -> None:
        self.status = ev.status
