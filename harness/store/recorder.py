"""Collects what a run measures, in memory, until the store writes it.

Runners append raw events as they arrive (samples, phases, telemetry, op times,
raw device output). Whatever happens — success, an exception, SIGTERM — the session
turns the recorder into a record on disk, so nothing measured is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from harness.store.record import TABLE_SCHEMAS, Phases, RuntimeInfo
from harness.store.results import RunnerResult


R = TypeVar("R", bound=RunnerResult)

# An op row may leave out what the runtime does not report: NaN, not zero, for numbers.
_OP_DEFAULTS: dict[str, Any] = {
    "index": -1, "type": "", "name": "", "count": 0,
    "macs": float("nan"), "flops": float("nan"), "bytes_read": float("nan"),
    "bytes_written": float("nan"), "time_s": float("nan"),
}


@dataclass
class Recorder:
    runtime: RuntimeInfo
    phases: Phases = field(default_factory=Phases)
    #: where the run is; an error is attributed to this stage
    stage: str = "setup"
    stop_reason: str | None = None
    memory: dict[str, float] = field(default_factory=dict)
    #: typed runner results (harness.store.results), one per kind
    results: list[RunnerResult] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)
    timeline: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: raw device output by name (stdout, stderr, transcript…), kept in the record's raw/ folder
    raw: dict[str, list[str]] = field(default_factory=dict)
    _columns: dict[str, dict[str, list]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, schema in TABLE_SCHEMAS.items():
            self._columns[name] = {col: [] for col in schema.names}

    def set_result(self, result: RunnerResult) -> RunnerResult:
        """Add a typed result, replacing an earlier one of the same kind."""
        self.results = [r for r in self.results if r.kind != result.kind] + [result]
        return result

    def result(self, kind: type[R]) -> R | None:
        return next((r for r in self.results if isinstance(r, kind)), None)

    # -- raw tables ------------------------------------------------------------------

    def add_sample(
        self, iteration: int, phase: str, start_ns: int, latency_ns: int, inferences: int = 1, process: int = 0
    ) -> None:
        cols = self._columns["samples"]
        cols["process"].append(process)
        cols["iteration"].append(iteration)
        cols["phase"].append(phase)
        cols["start_ns"].append(start_ns)
        cols["latency_ns"].append(latency_ns)
        cols["inferences"].append(inferences)

    def add_telemetry(self, t_ns: int, channel: str, value: float, unit: str) -> None:
        cols = self._columns["telemetry"]
        cols["t_ns"].append(t_ns)
        cols["channel"].append(channel)
        cols["value"].append(float(value))
        cols["unit"].append(unit)

    def add_op(self, **row: Any) -> None:
        cols = self._columns["ops"]
        unknown = set(row) - set(cols)
        if unknown:
            raise ValueError(f"unknown op columns: {sorted(unknown)}")
        for col, values in cols.items():
            values.append(row.get(col, _OP_DEFAULTS[col]))

    def add_raw(self, name: str, lines: str | Iterable[str]) -> None:
        buf = self.raw.setdefault(name, [])
        if isinstance(lines, str):
            buf.append(lines)
        else:
            buf.extend(lines)

    def rows(self, table: str) -> int:
        return len(self._columns[table][TABLE_SCHEMAS[table].names[0]])

    def table(self, name: str) -> pa.Table:
        return pa.table(self._columns[name], schema=TABLE_SCHEMAS[name])
