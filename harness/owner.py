"""Who holds something — a run being written, a device — and whether that holder is gone.

An owner is a process on a host: host name, pid, the kernel's boot id, the process's
start time (so a recycled pid is not mistaken for it) and when it last said it was alive.
On the same host the answer is certain: the holder is gone when the machine has
rebooted since (another boot id) or its process no longer exists. From another host it
can only be judged by its heartbeat: gone when it has not renewed it for `stale_after_s`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from pydantic import BaseModel


def boot_id() -> str:
    """This boot of this machine (Linux and Android); '' where the kernel does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """The start time of process `pid` (clock ticks since boot), '' if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


class Owner(BaseModel):
    hostname: str
    pid: int
    boot_id: str = ""
    started: str = ""
    #: what it is doing, for messages ("harness run", "farm actor for rpi5-01")
    what: str = ""
    #: when it last said it was alive (seconds since the epoch)
    heartbeat: float = 0.0

    @classmethod
    def me(cls, what: str = "") -> Owner:
        pid = os.getpid()
        return cls(hostname=socket.gethostname(), pid=pid, boot_id=boot_id(), started=process_start(pid),
                   what=what, heartbeat=time.time())

    def is_me(self) -> bool:
        me = Owner.me()
        return (self.hostname, self.pid, self.boot_id, self.started) == (me.hostname, me.pid, me.boot_id, me.started)

    def gone(self, stale_after_s: float, now: float | None = None) -> bool:
        """Whether this owner has certainly (same host) or presumably (its heartbeat is older
        than `stale_after_s`) stopped."""
        if self.hostname == socket.gethostname():
            if self.boot_id and self.boot_id != boot_id():
                return True  # the machine rebooted since
            started = process_start(self.pid)
            if not started:
                return True
            return bool(self.started) and started != self.started  # a recycled pid
        return (now if now is not None else time.time()) - self.heartbeat > stale_after_s

    def describe(self) -> str:
        what = f"{self.what}, " if self.what else ""
        return f"{what}pid {self.pid} on {self.hostname}"
