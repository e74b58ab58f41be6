"""Live processes on this host, found by what they carry (the peers tests talk to all run
here: local commands, sshd's, the ADB emulator's)."""

from __future__ import annotations

import os


def live_pids(needle: bytes, where: str = "cmdline") -> list[int]:
    """Processes (not zombies) whose /proc/PID/`where` (``cmdline`` or ``environ``) holds `needle`
    (``environ``: as one whole NUL-separated entry)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/{where}", "rb") as f:
                data = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        hit = needle in data.split(b"\0") if where == "environ" else needle in data
        if hit and state != b"Z":
            found.append(int(entry))
    return found


def agent_pids(marker: bytes, workers_only: bool = False) -> list[int]:
    """The harness agent's processes for a run whose arguments hold `marker` (its model path,
    its work folder): the supervisor runs agent.py, its worker processes the same source from
    stdin (``python - ...``); `workers_only`: just those, the ones that measure."""
    found = []
    for pid in live_pids(marker):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        worker = argv[1:2] == [b"-"]
        if worker or (not workers_only and any(a.endswith(b"agent.py") for a in argv)):
            found.append(pid)
    return found
