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
