"""Putting sampler stamps on the agent's clock (the target's CLOCK_MONOTONIC).

The agent stamps inferences with Python's ``time.monotonic_ns()``. The sampler's
Python mode uses the same call, so its stamps need nothing. A shell has no portable
fine monotonic clock, so the shell sampler stamps with what it has:

- ``$EPOCHREALTIME`` (bash 5, mksh — Android's /system/bin/sh —, busybox ash):
  CLOCK_REALTIME in µs;
- otherwise ``/proc/uptime`` (dash, minimal shells): CLOCK_BOOTTIME, truncated to
  10 ms. A stamp ``q`` means the true time lies in [q, q + 10 ms): it is read as
  q + 5 ms (unbiased; the ±5 ms error is reported as the resolution).

To map either onto CLOCK_MONOTONIC, the host runs a one-line Python probe on the
target when the sampler starts and again when it stops; each probe reads REALTIME
(before and after, averaged), MONOTONIC and BOOTTIME back to back. The offset
MONOTONIC − source is interpolated linearly between the two probes in source time
(a REALTIME step or NTP slew, or a suspend changing BOOTTIME, shows up as a change
of offset, reported in `ClockMap.details`). On a target without Python (an Android
phone running benchmark_model) no probe can run: the stamps stay on the source clock,
and `details()['time_base']` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

#: Runs under the target's Python, 3.6+ (which has no *_ns clock calls and no
#: CLOCK_BOOTTIME name, Linux's 7): there the clocks are read as float seconds, which
#: keeps REALTIME to a quarter of a microsecond, finer than the shell's µs stamps.
PROBE = (
    "import time;g=getattr(time,'clock_gettime_ns',None);"
    "ns=g or (lambda c:int(time.clock_gettime(c)*1e9));B=getattr(time,'CLOCK_BOOTTIME',7);R=time.CLOCK_REALTIME;"
    "r0=ns(R);m=ns(time.CLOCK_MONOTONIC);b=ns(B);r1=ns(R);print(m,b,(r0+r1)//2)"
)

#: stamp resolution by source clock (ns), and the half-step added to truncated stamps
RESOLUTION_NS = {"monotonic": 1, "realtime": 1_000, "boottime": 10_000_000}

_STAMP = re.compile(r"^(\d{1,20})(?:\.(\d{1,9}))?$")


def stamp_ns(text: str) -> int | None:
    """'1795898793.123885' or '603.18' (seconds) → ns; a bare integer is already ns (Python mode)."""
    m = _STAMP.match(text.strip())
    if not m:
        return None
    if m.group(2) is None:
        ns = int(m.group(1))
    else:
        frac = (m.group(2) + "000000000")[:9]
        ns = int(m.group(1)) * 1_000_000_000 + int(frac)
    # A stamp that does not fit the record's int64 column is a garbled line, not a time.
    return ns if 0 <= ns < 2**63 else None


@dataclass
class ClockPoint:
    monotonic_ns: int
    boottime_ns: int
    realtime_ns: int

    def source_ns(self, source: str) -> int:
        return {"monotonic": self.monotonic_ns, "boottime": self.boottime_ns, "realtime": self.realtime_ns}[source]


def parse_probe(stdout: str) -> ClockPoint | None:
    try:
        m, b, r = (int(x) for x in stdout.strip().splitlines()[-1].split())
    except (ValueError, IndexError):
        return None
    return ClockPoint(m, b, r)


@dataclass
class ClockMap:
    source: str  # monotonic | realtime | boottime
    points: list[ClockPoint] = field(default_factory=list)

    @property
    def resolution_ns(self) -> int:
        return RESOLUTION_NS[self.source]

    @property
    def mapped(self) -> bool:
        return self.source == "monotonic" or bool(self.points)

    def _offsets(self) -> tuple[np.ndarray, np.ndarray]:
        src = np.array([p.source_ns(self.source) for p in self.points], dtype=np.float64)
        off = np.array([p.monotonic_ns - p.source_ns(self.source) for p in self.points], dtype=np.float64)
        order = np.argsort(src)
        return src[order], off[order]

    def to_monotonic(self, src_ns: int | np.ndarray) -> np.ndarray:
        """Source-clock stamps (ns) → CLOCK_MONOTONIC ns (int64); unchanged when no probe ran."""
        s = np.asarray(src_ns, dtype=np.int64)
        if self.source == "monotonic" or not self.points:
            return s
        s = s + self.resolution_ns // 2 if self.source == "boottime" else s
        src, off = self._offsets()
        if len(src) == 1:
            return s + int(off[0])
        # offsets are small (seconds); interpolate them, not the huge absolute stamps
        return s + np.rint(np.interp(s.astype(np.float64), src, off)).astype(np.int64)

    def details(self) -> dict:
        d: dict = {"source": self.source, "resolution_ns": self.resolution_ns,
                   "time_base": "monotonic" if self.mapped else self.source}
        if self.points and self.source != "monotonic":
            _, off = self._offsets()
            d["offset_ns"] = [int(x) for x in off]
            d["offset_drift_ns"] = int(off[-1] - off[0]) if len(off) > 1 else 0
        elif self.source != "monotonic":
            d["note"] = "no Python on the target to probe CLOCK_MONOTONIC: stamps stay on the source clock"
        return d
