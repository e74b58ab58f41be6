"""CPU time and RSS of a process from /proc (no psutil: the same parsing serves the
host and lines streamed from a target).

- ``/proc/<pid>/stat``: fields 14 and 15 (utime, stime) are in clock ticks of
  USER_HZ, which is 100 on every Linux ABI (x86, arm, arm64, riscv): ``cpu_time/agent``
  = (utime + stime) / 100 s. The command name (field 2) may hold spaces and
  parentheses, so fields are counted after the last ``)``.
- ``/proc/<pid>/status``: ``VmRSS:  12345 kB`` (kB = KiB) → ``rss/agent`` in bytes.
"""

from __future__ import annotations

import os

from harness.errors import HarnessError

USER_HZ = 100
_UNITS = {"kB": 1024, "mB": 1024**2, "B": 1}


def cpu_time_s(stat_line: str, ticks_per_s: int = USER_HZ, children: bool = False) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds; with `children`, plus
    cutime + cstime (the waited-for children, such as a shell loop's `sleep`)."""
    head, sep, rest = stat_line.rpartition(")")
    fields = rest.split()
    # after ')': field 3 (state) is fields[0], so field N is fields[N - 3]
    used = (11, 12, 13, 14) if children else (11, 12)
    if not sep or len(fields) <= used[-1]:
        raise HarnessError(f"/proc/<pid>/stat: expected '<pid> (<comm>) <state> …', got {stat_line[:80]!r}")
    try:
        return sum(int(fields[i]) for i in used) / ticks_per_s
    except ValueError:
        raise HarnessError(f"/proc/<pid>/stat: utime/stime are not integers in {stat_line[:80]!r}") from None


def rss_bytes(value: str, unit: str = "kB") -> float:
    """VmRSS value and unit as printed in ``/proc/<pid>/status``."""
    try:
        return float(int(value) * _UNITS[unit])
    except (ValueError, KeyError):
        raise HarnessError(f"/proc/<pid>/status: cannot read VmRSS {value!r} {unit!r}") from None


def vmrss_from_status(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return rss_bytes(parts[1], parts[2] if len(parts) > 2 else "kB") if len(parts) > 1 else None
    return None


def read_process(pid: int, proc: str = "/proc") -> dict[str, float]:
    """``{'cpu_time/agent': s, 'rss/agent': bytes}`` of a process on this host."""
    try:
        with open(f"{proc}/{pid}/stat") as f:
            stat = f.read()
        with open(f"{proc}/{pid}/status") as f:
            status = f.read()
    except OSError as e:
        raise HarnessError(f"process {pid}: cannot read {proc}/{pid}: {e.strerror}") from None
    out = {"cpu_time/agent": cpu_time_s(stat, os.sysconf("SC_CLK_TCK"))}
    rss = vmrss_from_status(status)
    if rss is not None:
        out["rss/agent"] = rss
    return out
