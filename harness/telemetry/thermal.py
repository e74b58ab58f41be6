"""Thermal gate: cool down before a run, abort one that overheats, record conditions.

- `wait_for_cooldown(transport, profile, timeout_s)`: poll until the hottest watched
  zone is below ``profile.limits.cooldown_temp_c``; raise `CooldownTimeout` if it is
  still above when the time is up.
- `ThermalWatchdog(max_temp_c)`: a sampler listener; when a watched ``thermal/*`` row
  crosses the limit it sets `tripped` (a `threading.Event`) and keeps the reason. The
  session checks it, or waits on it, and stops the run (status ``aborted``).
- `snapshot(transport, profile)`: temperatures, CPU clocks and governors (and
  vcgencmd's throttle bits on a Pi) for the record's ``conditions`` before/after.
- `clocks_dropped(before, after)`: a CPU's max allowed clock lowered during the run
  (thermal capping lowers ``scaling_max_freq``).

Watched zones: the profile's ``sensors.thermal_zones`` (all zones when it is empty
or ``['*']``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from harness.errors import HarnessError, RunAborted
from harness.profiles import DeviceProfile
from harness.telemetry import vcgencmd
from harness.telemetry.channels import TelemetryRow
from harness.telemetry.discovery import discover
from harness.telemetry.sysfs import cpufreqs, thermal_zones
from harness.transports.base import CommandTransport


class CooldownTimeout(HarnessError):
    """The device did not cool below the profile's cooldown temperature in time."""


def _watched(profile: DeviceProfile) -> set[str] | None:
    names = [z for z in profile.sensors.thermal_zones if z != "*"]
    return set(names) if names else None


def temperatures(transport: CommandTransport, profile: DeviceProfile, root: str = "/") -> dict[str, float]:
    """``thermal/<type>`` → °C for the watched zones that read a value now."""
    view = discover(transport, root).view
    watched = _watched(profile)
    return {z.channel: z.temp_c for z in thermal_zones(view)
            if z.temp_c is not None and (watched is None or z.type in watched)}


def wait_for_cooldown(
    transport: CommandTransport,
    profile: DeviceProfile,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    root: str = "/",
    on_poll: Callable[[str, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Wait until the hottest watched zone is below ``limits.cooldown_temp_c``.

    Returns ``{'waited_s', 'hottest', 'temp_c', 'target_c'}`` (``skipped`` with the
    reason when there is no target temperature or no readable sensor).
    """
    target = profile.limits.cooldown_temp_c
    cancel = cancel or threading.Event()
    if target is None:
        return {"skipped": "profile sets no limits.cooldown_temp_c"}
    timeout_s = profile.limits.cooldown_timeout_s if timeout_s is None else timeout_s
    t0 = time.monotonic()
    while True:
        temps = temperatures(transport, profile, root)
        if not temps:
            return {"skipped": "no readable thermal zone on the target", "target_c": target}
        hottest = max(temps, key=temps.__getitem__)
        waited = time.monotonic() - t0
        if on_poll:
            on_poll(hottest, temps[hottest])
        if temps[hottest] < target:
            return {"waited_s": round(waited, 3), "hottest": hottest, "temp_c": temps[hottest], "target_c": target}
        if waited >= timeout_s:
            raise CooldownTimeout(
                f"{profile.id}: still at {temps[hottest]:.1f} °C ({hottest}) after {timeout_s:g} s; "
                f"cooldown target is {target:g} °C (limits.cooldown_temp_c)"
            )
        if cancel.wait(min(poll_s, max(0.0, timeout_s - waited))):  # sleeps, unless the user aborts
            raise RunAborted(f"{profile.id}: aborted while waiting to cool below {target:g} °C")


class ThermalWatchdog:
    """Sampler listener: trips when a watched zone crosses `max_temp_c`."""

    def __init__(self, max_temp_c: float, zones: set[str] | None = None):
        self.max_temp_c = max_temp_c
        self.zones = zones
        self.tripped = threading.Event()
        self.reason: str | None = None
        self.t_ns: int | None = None

    @classmethod
    def for_profile(cls, profile: DeviceProfile) -> ThermalWatchdog | None:
        if profile.limits.max_temp_c is None:
            return None
        return cls(profile.limits.max_temp_c, _watched(profile))

    def __call__(self, row: TelemetryRow) -> None:
        if self.tripped.is_set() or not row.channel.startswith("thermal/"):
            return
        zone = row.channel.split("/", 1)[1].split(":", 1)[0]
        if self.zones is not None and zone not in self.zones:
            return
        if row.value > self.max_temp_c:
            self.reason = f"{row.channel} reached {row.value:.1f} °C, above limits.max_temp_c = {self.max_temp_c:g} °C"
            self.t_ns = row.t_ns
            self.tripped.set()


def snapshot(transport: CommandTransport, profile: DeviceProfile, root: str = "/") -> dict:
    """Temperatures (°C), CPU clocks (Hz), governors — for the record's ``conditions``."""
    d = discover(transport, root)
    snap: dict = {
        "t_host": time.time(),
        "thermal_c": {z.channel.split("/", 1)[1]: z.temp_c for z in thermal_zones(d.view) if z.temp_c is not None},
        "freq_hz": {}, "max_freq_hz": {}, "governor": {},
    }
    for c in cpufreqs(d.view):
        key = f"cpu{c.cpu}"
        if c.cur_hz is not None:
            snap["freq_hz"][key] = c.cur_hz
        if c.max_hz is not None:
            snap["max_freq_hz"][key] = c.max_hz
        if c.governor:
            snap["governor"][key] = c.governor
    if profile.sensors.vcgencmd and "vcgencmd" in d.commands:
        out = []
        for cmd in (["measure_temp"], ["get_throttled"], ["measure_clock", "arm"]):
            res = transport.run(["vcgencmd", *cmd], timeout=10)
            out.append(res.stdout)
        parsed = vcgencmd.parse("\n".join(out))
        snap["vcgencmd"] = {k: v for r in parsed.readings for k, (v, _u) in r.values.items()}
    if "nvpmodel" in d.commands:
        res = transport.run(["nvpmodel", "-q"], timeout=10)
        if res.ok:
            snap["nvpmodel"] = res.stdout.strip()
    temps = snap["thermal_c"]
    snap["hottest_c"] = max(temps.values()) if temps else None
    return snap


def clocks_dropped(before: dict, after: dict, tolerance: float = 0.02) -> list[str]:
    """CPUs whose max allowed clock (scaling_max_freq) fell by more than `tolerance`."""
    out = []
    for cpu, hz in (before.get("max_freq_hz") or {}).items():
        later = (after.get("max_freq_hz") or {}).get(cpu)
        if later is not None and later < hz * (1 - tolerance):
            out.append(f"{cpu} max clock {hz / 1e6:.0f} → {later / 1e6:.0f} MHz")
    return out
