"""Collects what a run measures as it arrives, until the store writes the record.

Runners append raw events as they arrive (samples, phases, telemetry, op times,
raw device output). While the run goes on, its journal (`harness.store.journal`) copies
what is new to disk every second, so a killed harness loses at most that second; whatever
happens — success, an exception, SIGTERM — the session then turns the recorder into a
record on disk, so nothing measured is lost.

Tables and raw output only ever grow (rows and lines are appended, never changed), which
lets the journal read them from its own thread without a lock: a row is complete once
every column has it (`complete_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from harness.store.record import TABLE_SCHEMAS, TELEMETRY_SCHEMA, Phases, RuntimeInfo, escape_name
from harness.store.results import RunnerResult


R = TypeVar("R", bound=RunnerResult)

#: tables the journal keeps while a run measures: the record's, plus telemetry rows as the
#: sampler delivers them (the record's telemetry table is filled when the sampler stops,
#: once its clock can be mapped and its energy counters unwrapped)
JOURNAL_TABLES = {**TABLE_SCHEMAS, "telemetry_live": TELEMETRY_SCHEMA}

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
    #: the device's hardware serial, once the transport has read it
    serial: str | None = None
    _columns: dict[str, dict[str, list]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, schema in JOURNAL_TABLES.items():
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
        cols["channel"].append(escape_name(channel))
        cols["value"].append(float(value))
        cols["unit"].append(unit)

    def add_live_telemetry(self, t_ns: int, channel: str, value: float, unit: str) -> None:
        """A telemetry row as the sampler delivers it, for the journal only (see JOURNAL_TABLES)."""
        cols = self._columns["telemetry_live"]
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
            value = row.get(col, _OP_DEFAULTS[col])
            values.append(escape_name(value) if isinstance(value, str) else value)  # Parquet strings are UTF-8

    def add_raw(self, name: str, lines: str | Iterable[str]) -> None:
        buf = self.raw.setdefault(name, [])
        if isinstance(lines, str):
            buf.append(lines)
        else:
            buf.extend(lines)

    def rows(self, table: str) -> int:
        return len(self._columns[table][JOURNAL_TABLES[table].names[0]])

    def complete_rows(self, table: str) -> int:
        """Rows every column already has (another thread may be appending one right now)."""
        return min(len(col) for col in self._columns[table].values())

    def batch(self, table: str, start: int, stop: int) -> pa.RecordBatch:
        """Rows [start, stop) of a table (complete rows only: see `complete_rows`)."""
        cols = self._columns[table]
        return pa.record_batch([cols[name][start:stop] for name in JOURNAL_TABLES[table].names],
                               schema=JOURNAL_TABLES[table])

    def extend(self, table: str, data: pa.Table | pa.RecordBatch) -> None:
        """Append rows read back from disk (a journal being recovered)."""
        for name, values in self._columns[table].items():
            values.extend(data.column(name).to_pylist())

    def table(self, name: str) -> pa.Table:
        return pa.table(self._columns[name], schema=JOURNAL_TABLES[name])

    # -- the rest of the state, for the journal ----------------------------------------

    _STATE = ("runtime", "phases", "stage", "stop_reason", "memory", "results", "conditions", "timeline",
              "notes", "warnings", "serial")

    def state(self) -> dict[str, Any]:
        """Everything but the tables and raw output, as JSON-ready data."""
        out: dict[str, Any] = {}
        for name in self._STATE:
            value = getattr(self, name)
            if isinstance(value, list):
                value = list(value)  # a copy: runners append from their own threads
            if name == "results":
                value = [r.model_dump(mode="json") for r in value]
            elif hasattr(value, "model_dump"):
                value = value.model_dump(mode="json")
            elif isinstance(value, dict):
                value = dict(value)
            out[name] = value
        return out

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `state()` (read from a journal)."""
        self.runtime = RuntimeInfo.model_validate(state.get("runtime") or {"name": self.runtime.name})
        self.phases = Phases.model_validate(state.get("phases") or {})
        self.results = [RunnerResult.parse(r) for r in state.get("results") or []]
        for name in ("stage", "stop_reason", "serial"):
            if state.get(name) is not None:
                setattr(self, name, state[name])
        for name in ("memory", "conditions", "timeline"):
            getattr(self, name).update(state.get(name) or {})
        for name in ("notes", "warnings"):
            getattr(self, name).extend(state.get(name) or [])
