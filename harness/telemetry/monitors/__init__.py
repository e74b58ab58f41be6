"""External power monitors for MCU energy mode: one interface, three drivers.

`open_monitor(kind, port)` returns an unstarted `PowerMonitor`:

- ``joulescope`` (JS110/JS220, ``pip install harness[joulescope]``): current and
  voltage at up to 1-2 MHz; the DUT's timestamp pin on GPI0.
- ``ppk2`` (Nordic Power Profiler Kit II, ``pip install harness[ppk2]``): current
  at 100 kS/s in source-meter mode, sourcing ``voltage_v`` volts (3.0 by default); the
  timestamp pin on a logic input (``logic_bit``, D0 by default).
- ``lpm01a`` (ST X-NUCLEO-LPM01A PowerShield, needs only pyserial): its serial
  protocol at 3686400 baud; energy or current samples and ``event`` lines for the
  timestamp pin (D7).
"""

from __future__ import annotations

import importlib
import inspect

from harness.errors import HarnessError
from harness.telemetry.monitors.base import MonitorTrace, PowerMonitor, falling_edges

MONITORS: dict[str, str] = {
    "joulescope": "harness.telemetry.monitors.joulescope:JoulescopeMonitor",
    "ppk2": "harness.telemetry.monitors.ppk2:Ppk2Monitor",
    "lpm01a": "harness.telemetry.monitors.lpm01a:Lpm01aMonitor",
}


def open_monitor(kind: str, port: str | None = None, **options) -> PowerMonitor:
    if kind not in MONITORS:
        raise HarnessError(f"unknown power monitor {kind!r} (known: {', '.join(MONITORS)})")
    module, _, name = MONITORS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    known = [p for p in inspect.signature(cls).parameters if p != "port"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise HarnessError(f"power monitor {kind}: unknown option(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return cls(port=port, **options)


__all__ = ["MONITORS", "MonitorTrace", "PowerMonitor", "falling_edges", "open_monitor"]
