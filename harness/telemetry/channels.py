"""Shared shapes for telemetry: a row, one parsed reading, a parse result.

Parsers never raise on bad device output: a line they cannot read becomes a
`Problem` (line number, the raw line kept, the reason) in the `ParseResult`; the first
`KEEP_PROBLEMS` are kept, all are counted (`problem_count`). Readings are stored column
by column (`Readings`), so a long capture costs a few arrays, not a dict per line.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

_first = itemgetter(0)

#: problems kept verbatim per parse; the rest are only counted
KEEP_PROBLEMS = 20


class TelemetryRow(NamedTuple):
    t_ns: int
    channel: str
    value: float
    unit: str


@dataclass
class Reading:
    """Values read at one instant (one tegrastats line, one sysfs pass…)."""

    line_no: int | None = None
    #: time stamp printed by the tool itself, kept verbatim (not a device-clock time)
    stamp: str | None = None
    values: dict[str, tuple[float, str]] = field(default_factory=dict)

    def put(self, channel: str, value: float, unit: str) -> None:
        if math.isfinite(value):
            self.values[channel] = (float(value), unit)


@dataclass
class Problem:
    line_no: int | None
    line: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line_no}: " if self.line_no is not None else ""
        return f"{where}{self.reason}: {self.line[:120]!r}"


class Readings:
    """A sequence of `Reading`, stored compactly: one flat array of values, and per reading its
    schema (the tuple of channels it has; consecutive lines of a tool mostly share one) and
    offset. Appending a reading is a few C-level operations; columns are gathered with numpy."""

    def __init__(self, readings: list[Reading] | None = None) -> None:
        self._line_no = array("q")
        self._stamps: list[str | None] = []
        self._schema_of: dict[tuple[str, ...], int] = {}
        self._schemas: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # (channels, units)
        self._row_schema = array("l")
        self._row_offset = array("q")
        self._flat = array("d")
        for r in readings or []:
            self.append(r)

    def append(self, r: Reading) -> None:
        values = r.values
        channels = tuple(values)
        units = None if channels in self._schema_of else tuple(u for _, u in values.values())
        self.append_values(r.line_no, r.stamp, channels, units, map(_first, values.values()))

    def append_values(self, line_no: int | None, stamp: str | None, channels: tuple[str, ...],
                      units: tuple[str, ...] | None, values: Iterable[float]) -> None:
        """One reading given as its channels, their units (None: a schema already seen) and the
        values in that order."""
        sid = self._schema_of.get(channels)
        if sid is None:
            sid = self._schema_of[channels] = len(self._schemas)
            self._schemas.append((channels, units))
        self._line_no.append(-1 if line_no is None else line_no)
        self._stamps.append(stamp)
        self._row_schema.append(sid)
        self._row_offset.append(len(self._flat))
        self._flat.extend(values)

    def __len__(self) -> int:
        return len(self._line_no)

    def __getitem__(self, i: int) -> Reading:
        n = len(self._line_no)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        channels, units = self._schemas[self._row_schema[i]]
        off = self._row_offset[i]
        r = Reading(line_no=None if self._line_no[i] < 0 else self._line_no[i], stamp=self._stamps[i])
        r.values = {ch: (self._flat[off + k], u) for k, (ch, u) in enumerate(zip(channels, units))}
        return r

    def __iter__(self) -> Iterator[Reading]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, Readings)) else NotImplemented

    def column(self, channel: str) -> tuple[str, np.ndarray, np.ndarray] | None:
        """(unit, reading indices, values) of one channel, in reading order."""
        schema = np.frombuffer(self._row_schema, dtype=np.dtype(f"i{self._row_schema.itemsize}")) if len(self) else None
        if schema is None:
            return None
        offsets = np.frombuffer(self._row_offset, dtype=np.int64)
        flat = np.frombuffer(self._flat, dtype=np.float64) if len(self._flat) else np.empty(0)
        idx_parts, val_parts, unit = [], [], None
        for sid, (channels, units) in enumerate(self._schemas):
            if channel not in channels:
                continue
            k = channels.index(channel)
            unit = units[k]
            rows = np.flatnonzero(schema == sid)
            idx_parts.append(rows)
            val_parts.append(flat[offsets[rows] + k])
        if unit is None:
            return None
        idx = np.concatenate(idx_parts)
        order = np.argsort(idx, kind="stable")
        return unit, idx[order], np.concatenate(val_parts)[order]

    def channel_names(self) -> list[str]:
        return list(dict.fromkeys(ch for channels, _ in self._schemas for ch in channels))


@dataclass
class ParseResult:
    format: str
    source: str = "<text>"
    readings: Readings = field(default_factory=Readings)
    #: the first KEEP_PROBLEMS problems (`problem_count` counts them all)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    #: channels that exist in the output but had no usable value (sensor off, absent file…)
    missing: list[str] = field(default_factory=list)
    #: non-numeric facts (battery status, calibration decisions, governor…)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.readings, Readings):
            self.readings = Readings(list(self.readings))
        self.problem_count = max(self.problem_count, len(self.problems))

    def problem(self, p: Problem) -> None:
        """Count a problem; keep it when fewer than KEEP_PROBLEMS are kept."""
        self.problem_count += 1
        if len(self.problems) < KEEP_PROBLEMS:
            self.problems.append(p)

    def note_missing(self, channel: str) -> None:
        if channel not in self.missing:
            self.missing.append(channel)

    def channels(self) -> dict[str, dict[str, Any]]:
        """Per channel: unit, number of values, last/min/max."""
        out: dict[str, dict[str, Any]] = {}
        for ch in self.readings.channel_names():
            unit, _, vals = self.readings.column(ch)
            out[ch] = {"unit": unit, "n": len(vals), "min": float(vals.min()), "max": float(vals.max()),
                       "last": float(vals[-1])}
        return out

    def values(self, channel: str) -> list[float]:
        col = self.readings.column(channel)
        return col[2].tolist() if col else []

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "source": self.source,
            "channels": self.channels(),
            "missing": list(self.missing),
            "meta": self.meta,
            "readings": [
                {"line": r.line_no, "stamp": r.stamp, "values": {k: v for k, (v, _u) in r.values.items()}}
                for r in self.readings
            ],
            "problems": [{"line": p.line_no, "raw": p.line, "reason": p.reason} for p in self.problems],
            "problem_count": self.problem_count,
        }
