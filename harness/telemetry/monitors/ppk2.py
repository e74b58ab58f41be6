"""Nordic Power Profiler Kit II through the ``ppk2-api`` package (extra ``ppk2``).

The PPK2 streams 100 000 samples/s, each a little-endian 32-bit word (Nordic's
format, as decoded by pc-nrfconnect-ppk and ppk2-api):

- bits 0-13: ADC value, bits 14-16: measurement range (0-4),
- bits 18-23: a rolling counter, bits 24-31: the eight logic inputs D0-D7.

Current (A) = UG · (x · (GS · x + GI) + S · Vdd + I) with x = (4 · adc − O) · 1.8 / 163840 / R,
where R, GS, GI, O, S, I, UG are the per-range calibration values the device reports
(`PPK2_API.get_modifiers`). ppk2-api's own converter adds a spike filter and drops
the logic bits; this decoder keeps every sample and the logic inputs, vectorised.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from harness.errors import HarnessError
from harness.telemetry.monitors.base import MonitorTrace, PowerMonitor, falling_edges

SAMPLE_RATE_HZ = 100_000.0
ADC_MULT = 1.8 / 163840
#: ppk2-api's defaults before the device's calibration is read
DEFAULT_MODIFIERS = {
    "R": {"0": 1031.64, "1": 101.65, "2": 10.15, "3": 0.94, "4": 0.043},
    "GS": dict.fromkeys("01234", 1.0), "GI": dict.fromkeys("01234", 1.0),
    "O": dict.fromkeys("01234", 0.0), "S": dict.fromkeys("01234", 0.0),
    "I": dict.fromkeys("01234", 0.0), "UG": dict.fromkeys("01234", 1.0),
}


def decode_samples(buf: bytes, modifiers: dict, vdd_v: float) -> tuple[np.ndarray, np.ndarray]:
    """(current A, logic byte) for the whole 4-byte words in `buf`."""
    words = np.frombuffer(buf[: len(buf) // 4 * 4], dtype="<u4")
    adc = (words & 0x3FFF).astype(np.float64) * 4
    rng = np.minimum((words >> 14) & 0x7, 4).astype(np.int64)
    logic = ((words >> 24) & 0xFF).astype(np.uint8)

    def table(key: str) -> np.ndarray:
        return np.array([float(modifiers[key][str(r)]) for r in range(5)])[rng]

    x = (adc - table("O")) * (ADC_MULT / table("R"))
    current = table("UG") * (x * (table("GS") * x + table("GI")) + (table("S") * vdd_v + table("I")))
    return current, logic


class Ppk2Monitor(PowerMonitor):
    name = "ppk2"

    def __init__(self, port: str | None, voltage_v: float = 3.0, logic_bit: int = 0):
        """`voltage_v`: the supply the PPK2 sources to the DUT, in volts (it takes 0.8-5 V in mV steps)."""
        if not port:
            raise HarnessError("PPK2: no serial port given (sensors.power_monitor_port)")
        if not 0 <= logic_bit <= 7:
            raise HarnessError(f"PPK2: logic input D{logic_bit} does not exist (D0-D7)")
        try:
            voltage_v = float(voltage_v)
        except (TypeError, ValueError):
            raise HarnessError(f"PPK2: voltage_v must be a number of volts, not {voltage_v!r}") from None
        if not 0.8 <= voltage_v <= 5.0:
            raise HarnessError(f"PPK2: voltage_v {voltage_v:g} V is outside its 0.8-5 V source range")
        self.port, self.voltage_v, self.logic_bit = port, voltage_v, logic_bit
        self._ppk = None
        self._chunks: list[bytes] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            from ppk2_api.ppk2_api import PPK2_API
        except ImportError:
            raise HarnessError("PPK2 needs the ppk2-api package: pip install 'harness[ppk2]'") from None
        self._ppk = PPK2_API(self.port)
        self._ppk.get_modifiers()
        self._ppk.use_source_meter()
        self._ppk.set_source_voltage(round(self.voltage_v * 1000))  # ppk2-api takes mV
        self._ppk.toggle_DUT_power("ON")
        self._ppk.start_measuring()
        self._thread = threading.Thread(target=self._pump, name="ppk2-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            data = self._ppk.get_data()
            if data:
                self._chunks.append(data)
            else:
                time.sleep(0.001)

    def stop(self) -> MonitorTrace:
        if self._ppk is None:
            raise HarnessError("PPK2: stop() before start()")
        self._ppk.stop_measuring()
        self._stop.set()
        self._thread.join(2)
        modifiers = self._ppk.modifiers if isinstance(getattr(self._ppk, "modifiers", None), dict) else DEFAULT_MODIFIERS
        return trace_from_bytes(b"".join(self._chunks), modifiers, self.voltage_v, self.logic_bit)

    def close(self) -> None:
        """Power the DUT off and release the serial port (ppk2-api only closes it on garbage collection)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._ppk is not None:
            ppk, self._ppk = self._ppk, None
            try:
                ppk.toggle_DUT_power("OFF")
            finally:
                if getattr(ppk, "ser", None) is not None:
                    ppk.ser.close()


def trace_from_bytes(buf: bytes, modifiers: dict, vdd_v: float, logic_bit: int = 0) -> MonitorTrace:
    current, logic = decode_samples(buf, modifiers, vdd_v)
    t = np.arange(current.size, dtype=np.float64) / SAMPLE_RATE_HZ
    edges = falling_edges(t, (logic >> logic_bit) & 1)
    return MonitorTrace(t_s=t, power_w=current * vdd_v, edges_s=edges, details={
        "monitor": "ppk2", "rate_hz": SAMPLE_RATE_HZ, "voltage_v": vdd_v, "logic_input": f"D{logic_bit}",
        "samples": int(current.size)})
