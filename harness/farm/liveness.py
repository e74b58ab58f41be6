"""The quick check before every farm job: can the device be reached, has it room, is it cool?

Command targets (local, ssh, adb): connect, ``df`` of the work folder, the watched
thermal zones (`harness.telemetry.thermal.temperatures`). Serial targets: connect and the
protocol's hello. A failed check is never a run record: the job goes to another device
and this one to quarantine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.farm.inventory import HealthPolicy
from harness.profiles import DeviceProfile
from harness.transports import open_transport
from harness.transports.base import CommandTransport

_DF = 'mkdir -p "$1" && df -Pk "$1" | tail -n 1'


@dataclass
class Liveness:
    ok: bool
    detail: str
    seconds: float = 0.0
    free_bytes: int | None = None
    temp_c: float | None = None
    notes: list[str] = field(default_factory=list)


def _command_target(transport: CommandTransport, profile: DeviceProfile, policy: HealthPolicy) -> Liveness:
    from harness.telemetry.thermal import temperatures

    res = transport.run(["sh", "-c", _DF, "sh", transport.workdir], timeout=policy.check_timeout_s)
    res.check(f"df of {transport.workdir}")
    try:
        free = int(res.stdout.split()[3]) * 1024
    except (IndexError, ValueError):
        return Liveness(False, f"cannot read free space from df: {res.stdout.strip()[-200:]!r}")
    live = Liveness(True, "ok", free_bytes=free)
    try:
        temps = temperatures(transport, profile)
    except HarnessError as e:  # a target without thermal zones is not unhealthy
        temps = {}
        live.notes.append(f"no temperature: {e}")
    if temps:
        live.temp_c = max(temps.values())
    problems = []
    if free < policy.min_free_bytes:
        problems.append(f"{free} bytes free in {transport.workdir}, under the {policy.min_free_bytes} needed")
    limit = profile.limits.max_temp_c
    if live.temp_c is not None and limit is not None and live.temp_c >= limit:
        problems.append(f"{live.temp_c:.1f} °C, at or over its limit of {limit:.1f} °C")
    if problems:
        live.ok, live.detail = False, "; ".join(problems)
    return live


def check_liveness(profile: DeviceProfile, policy: HealthPolicy) -> Liveness:
    """Connect to the device and check it; never raises for a device problem."""
    t0 = time.monotonic()
    transport = open_transport(profile)
    try:
        try:
            transport.open()
        except HarnessError as e:
            live = Liveness(False, f"cannot connect: {e}")
        else:
            if isinstance(transport, CommandTransport):
                live = _command_target(transport, profile, policy)
            else:
                info = transport.info()
                live = Liveness(info.reachable, "ok" if info.reachable else str(info.reason))
    except HarnessError as e:
        live = Liveness(False, str(e))
    finally:
        transport.close()
    live.seconds = time.monotonic() - t0
    return live
