"""People and CI share the farm: reservations with a TTL, and the farm's status.

A reservation (labgrid-style, but kept in the registry so it survives a crash of the
person's shell only until its TTL) stops the nightly from starting jobs on a device; it
never preempts the job running there: `hold` waits for that job to end before saying the
device is the person's. It is released when the holder exits, or when the TTL runs out.
"""

from __future__ import annotations

import getpass
import re
import socket
import threading
import time
from collections.abc import Callable

from harness.errors import HarnessError
from harness.farm.inventory import Farm
from harness.farm.registry import Registry

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


def parse_duration(text: str) -> float:
    """'2h', '90m', '1h30m', '45s' → seconds."""
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        raise HarnessError(f"--for {text!r}: not a duration (examples: 2h, 90m, 1h30m, 45s)")
    h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    seconds = h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise HarnessError(f"--for {text!r}: a reservation must last more than 0 s")
    return seconds


def default_owner() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def hold(registry: Registry, farm: Farm, device: str, ttl_s: float, owner: str, note: str | None = None,
         stop: threading.Event | None = None, on_state: Callable[[str, dict], None] | None = None,
         poll_s: float = 1.0) -> str:
    """Reserve `device`, wait for its running job to end, hold it until the TTL or `stop`; then release.

    Returns why it ended: 'expired' or 'released'."""
    farm.device(device)  # an unknown device is a user mistake
    stop = stop or threading.Event()
    notify = on_state or (lambda *_: None)
    res = registry.reserve(device, owner, ttl_s, note)
    try:
        notify("reserved", {"device": device, "owner": owner, "expires": res.expires})
        while not stop.is_set():
            _, live = registry.live()
            if device not in live:
                break
            notify("waiting", {"device": device, "job": live[device][0]})
            stop.wait(poll_s)
        if not stop.is_set():
            notify("acquired", {"device": device, "expires": res.expires})
        while not stop.is_set() and time.time() < res.expires:
            stop.wait(min(poll_s, max(0.0, res.expires - time.time())))
        return "released" if stop.is_set() else "expired"
    finally:
        registry.release(device, owner)


def status(farm: Farm, registry: Registry) -> dict:
    """Devices (health, degraded, current job, reservation), the running plan and its queue."""
    driver, live = registry.live()
    reservations = registry.reservations()
    devices = []
    for d in farm.devices.values():
        h = registry.health(d.id)
        r = reservations.get(d.id)
        devices.append({
            "id": d.id,
            "class": d.device_class,
            "host": d.host,
            "state": h.state,
            "reason": h.reason,
            "degraded": h.degraded,
            "degraded_reason": h.degraded_reason,
            "job": live[d.id][0] if d.id in live else None,
            "job_started": live[d.id][1] if d.id in live else None,
            "reserved_by": r.owner if r else None,
            "reserved_until": r.expires if r else None,
        })
    return {
        "farm": farm.name,
        "run": driver,
        "devices": devices,
        "reservations": [r.__dict__ for r in reservations.values()],
    }
