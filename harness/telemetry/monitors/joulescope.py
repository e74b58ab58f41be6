"""Joulescope JS110/JS220 through the ``joulescope`` package (extra ``joulescope``).

The driver streams into the device's stream buffer; a registered stream-process
object pulls each new block with ``stream_buffer.samples_get(start, stop, fields)``,
whose documented result is a dict::

    {"time": {"sample_id_range": {"value": [start, stop]},
              "sampling_frequency": {"value": fs, "units": "Hz"}, ...},
     "signals": {"current": {"value": ndarray, "units": "A"},
                 "voltage": {"value": ndarray, "units": "V"},
                 "current_lsb": {"value": ndarray}, ...}}

``current_lsb`` carries general-purpose input 0 and ``voltage_lsb`` input 1 (the
DUT's timestamp pin goes on one of them). Sample id / fs is the monitor clock.
"""

from __future__ import annotations

import threading

import numpy as np

from harness.errors import HarnessError
from harness.telemetry.monitors.base import MonitorTrace, PowerMonitor, falling_edges

_GPI_FIELD = {0: "current_lsb", 1: "voltage_lsb"}


def parse_samples(result: dict, gpi: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_s, power_w, gpi level) from one `samples_get` result."""
    try:
        start, _stop = result["time"]["sample_id_range"]["value"]
        fs = float(result["time"]["sampling_frequency"]["value"])
        sig = result["signals"]
        current = np.asarray(sig["current"]["value"], dtype=np.float64)
        voltage = np.asarray(sig["voltage"]["value"], dtype=np.float64)
        level = np.asarray(sig[_GPI_FIELD[gpi]]["value"], dtype=np.uint8)
    except (KeyError, TypeError, ValueError) as e:
        raise HarnessError(f"Joulescope: unexpected samples_get result ({e!r} missing or malformed)") from None
    if not (current.size == voltage.size == level.size):
        raise HarnessError("Joulescope: current, voltage and GPI arrays differ in length")
    t = (start + np.arange(current.size, dtype=np.float64)) / fs
    return t, current * voltage, level


class _Collector:
    """A joulescope stream-process object: copies every new block out of the ring buffer."""

    def __init__(self, gpi: int):
        self.gpi = gpi
        self.next_id: int | None = None
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.lock = threading.Lock()
        self.driver_active = True

    def stream_notify(self, stream_buffer) -> bool:
        start, end = stream_buffer.sample_id_range
        first = start if self.next_id is None else max(self.next_id, start)
        if end > first:
            fields = ["current", "voltage", _GPI_FIELD[self.gpi]]
            block = parse_samples(stream_buffer.samples_get(first, end, fields=fields), self.gpi)
            with self.lock:
                self.blocks.append(block)
            self.next_id = end
        return False  # keep streaming


class JoulescopeMonitor(PowerMonitor):
    name = "joulescope"

    def __init__(self, port: str | None = None, sampling_frequency: int = 100_000, gpi: int = 0):
        if gpi not in _GPI_FIELD:
            raise HarnessError(f"Joulescope: GPI{gpi} does not exist (GPI0 or GPI1)")
        self.serial_number = port  # optional: pick this device when several are plugged in
        self.sampling_frequency = sampling_frequency
        self.gpi = gpi
        self._dev = None
        self._collector = _Collector(gpi)

    def start(self) -> None:
        try:
            import joulescope
        except ImportError:
            raise HarnessError("Joulescope needs the joulescope package: pip install 'harness[joulescope]'") from None
        devices = joulescope.scan(config="auto")
        if self.serial_number:
            devices = [d for d in devices if self.serial_number in str(d)]
        if len(devices) != 1:
            raise HarnessError(f"Joulescope: found {len(devices)} matching devices, need exactly one")
        self._dev = devices[0]
        self._dev.parameter_set("sampling_frequency", self.sampling_frequency)
        self._dev.open()
        self._dev.stream_process_register(self._collector)
        self._dev.start()

    def stop(self) -> MonitorTrace:
        if self._dev is None:
            raise HarnessError("Joulescope: stop() before start()")
        self._dev.stop()
        with self._collector.lock:
            blocks = list(self._collector.blocks)
        if blocks:
            t, p, level = (np.concatenate(parts) for parts in zip(*blocks))
        else:
            t, p, level = np.empty(0), np.empty(0), np.empty(0, dtype=np.uint8)
        return MonitorTrace(t_s=t, power_w=p, edges_s=falling_edges(t, level), details={
            "monitor": "joulescope", "rate_hz": float(self.sampling_frequency), "gpi": self.gpi,
            "samples": int(t.size)})

    def close(self) -> None:
        if self._dev is not None:
            self._dev.close()
            self._dev = None
