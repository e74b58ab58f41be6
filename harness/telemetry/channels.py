"""Shared shapes for telemetry: a row, one parsed reading, a parse result.

Parsers never raise on bad device output: a line they cannot read becomes a
`Problem` (line number, the raw line kept, the reason) in the `ParseResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple


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


@dataclass
class ParseResult:
    format: str
    source: str = "<text>"
    readings: list[Reading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: channels that exist in the output but had no usable value (sensor off, absent file…)
    missing: list[str] = field(default_factory=list)
    #: non-numeric facts (battery status, calibration decisions, governor…)
    meta: dict[str, Any] = field(default_factory=dict)

    def note_missing(self, channel: str) -> None:
        if channel not in self.missing:
            self.missing.append(channel)

    def channels(self) -> dict[str, dict[str, Any]]:
        """Per channel: unit, number of values, last/min/max."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.readings:
            for ch, (v, unit) in r.values.items():
                c = out.setdefault(ch, {"unit": unit, "n": 0, "min": v, "max": v, "last": v})
                c["n"] += 1
                c["last"] = v
                c["min"] = min(c["min"], v)
                c["max"] = max(c["max"], v)
        return out

    def values(self, channel: str) -> list[float]:
        return [r.values[channel][0] for r in self.readings if channel in r.values]

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
        }
