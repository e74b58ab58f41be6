"""ST X-NUCLEO-LPM01A (PowerShield) over its serial protocol (ST UM2269).

The host takes control (``htc``), configures the supply and the acquisition —
``volt 3000m``, ``freq 1k``, ``acqtime 0`` (unlimited), ``output energy``,
``format ascii_dec``, ``trigsrc sw``, ``eventsrc d7 fal`` — and ``start``s; each
command is answered ``ack <cmd>`` or ``error <cmd>`` (lines may carry the
``PowerShield > `` prompt). While acquiring, the board prints:

- data lines of one or more values in ASCII-decimal notation, ``6409-07`` meaning
  6409 × 10^-7 (current in A with ``output current``; with ``output energy`` the energy
  in J integrated over each sampling period, reset after every sample);
- ``event N ris|fal`` where the event input (D7, wired to the DUT's timestamp pin)
  changed, between the samples before and after it;
- ``TimeStamp: 012s 345ms, buff 00%`` progress lines;
- after ``stop``: ``Acquisition completed``.

Sample k covers [k/f, (k+1)/f) on the monitor clock; an event after k samples sits
at k/f.
"""

from __future__ import annotations

import queue
import re
import threading
import time

import numpy as np

from harness.errors import HarnessError, TransportError
from harness.telemetry.monitors.base import MonitorTrace, PowerMonitor

PROMPT = "PowerShield > "
_VALUE = re.compile(r"(\d{4})([+-]\d{2})")
_DATA_LINE = re.compile(r"^(\d{4}[+-]\d{2}\s*)+$")
_EVENT = re.compile(r"^event\s+(\d+)\s+(ris|fal)\b", re.IGNORECASE)
_TIMESTAMP = re.compile(r"^TimeStamp:\s*(\d+)s\s*(\d+)ms", re.IGNORECASE)
_FREQS = {"100k": 100e3, "50k": 50e3, "20k": 20e3, "10k": 10e3, "5k": 5e3, "2k": 2e3, "1k": 1e3,
          "500": 500.0, "200": 200.0, "100": 100.0, "50": 50.0, "20": 20.0, "10": 10.0, "5": 5.0, "2": 2.0, "1": 1.0}


def decode_value(token: str) -> float:
    """``6409-07`` → 6409 × 10^-7 (UM2269's ascii_dec notation)."""
    m = _VALUE.fullmatch(token.strip())
    if not m:
        raise HarnessError(f"LPM01A: {token!r} is not an ascii_dec value (4 digits, sign, 2-digit exponent)")
    return int(m.group(1)) * 10.0 ** int(m.group(2))


class Lpm01aStream:
    """Parses the acquisition output, line by line, into samples and events."""

    def __init__(self, freq_hz: float, output: str = "energy", voltage_v: float = 3.0):
        if output not in ("energy", "current"):
            raise HarnessError(f"LPM01A: output must be 'energy' or 'current', not {output!r}")
        self.freq_hz = freq_hz
        self.output = output
        self.voltage_v = voltage_v
        self.values: list[float] = []
        self.events: list[tuple[int, int, str]] = []  # (samples before it, event number, edge)
        self.progress: list[tuple[int, float]] = []  # (samples so far, board time in s)
        self.messages: list[str] = []

    def feed(self, raw: str) -> str | None:
        """Consume one line; returns it when it is a message (ack, error, status…), else None."""
        line = raw.replace(PROMPT, "").strip()
        if not line:
            return None
        if _DATA_LINE.match(line):
            self.values.extend(decode_value(t) for t in line.split())
            return None
        if (m := _EVENT.match(line)) is not None:
            self.events.append((len(self.values), int(m.group(1)), m.group(2).lower()))
            return None
        if (m := _TIMESTAMP.match(line)) is not None:
            self.progress.append((len(self.values), int(m.group(1)) + int(m.group(2)) / 1000))
            return None
        self.messages.append(line)
        return line

    def trace(self) -> MonitorTrace:
        v = np.asarray(self.values, dtype=np.float64)
        dt = 1.0 / self.freq_hz
        k = np.arange(v.size, dtype=np.float64)
        if self.output == "energy":  # energy per period → mean power over it, at its middle
            t, p = (k + 0.5) * dt, v / dt
        else:
            t, p = k * dt, v * self.voltage_v
        # "eventsrc d7 fal" makes the board report the edges it was told to watch: every
        # event counts, whichever way the firmware spells it (ris/fal)
        edges = np.array([n * dt for n, _, _ in self.events], dtype=np.float64)
        return MonitorTrace(t_s=t, power_w=p, edges_s=edges, details={
            "monitor": "lpm01a", "rate_hz": self.freq_hz, "output": self.output, "voltage_v": self.voltage_v,
            "samples": int(v.size), "events": len(self.events)})


class Lpm01aMonitor(PowerMonitor):
    name = "lpm01a"

    def __init__(self, port: str | None, voltage_v: float = 3.0, freq: str = "1k", output: str = "energy",
                 baud: int = 3686400, command_timeout_s: float = 5.0):
        if not port:
            raise HarnessError("LPM01A: no serial port given (sensors.power_monitor_port)")
        if freq not in _FREQS:
            raise HarnessError(f"LPM01A: freq {freq!r} is not one of {', '.join(_FREQS)}")
        self.port, self.baud, self.freq = port, baud, freq
        self.timeout_s = command_timeout_s
        self.stream = Lpm01aStream(_FREQS[freq], output, voltage_v)
        self.voltage_v = voltage_v
        self._ser = None
        self._messages: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._error: Exception | None = None
        self.transcript: list[str] = []

    # -- serial ------------------------------------------------------------------------

    def _read_loop(self) -> None:
        buf = b""
        try:
            while not self._stop.is_set():
                chunk = self._ser.read(max(1, self._ser.in_waiting))
                if not chunk:
                    continue
                buf += chunk
                while b"\n" in buf:
                    raw, _, buf = buf.partition(b"\n")
                    line = raw.decode("ascii", "replace").rstrip("\r")
                    msg = self.stream.feed(line)
                    if msg is not None:
                        self.transcript.append(msg)
                        self._messages.put(msg)
        except Exception as e:  # noqa: BLE001 - a dead port ends the acquisition; stop() reports it
            self._error = e
            self._messages.put("")

    def command(self, cmd: str) -> str:
        self._ser.write(f"{cmd}\n".encode("ascii"))
        deadline = time.monotonic() + self.timeout_s
        head = cmd.split()[0]
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self._messages.get(timeout=left)
            except queue.Empty:
                break
            if self._error is not None:
                raise TransportError(f"LPM01A on {self.port}: connection lost ({self._error})")
            if msg.startswith(f"ack {head}"):
                return msg
            if msg.startswith(("error", "err ")):
                raise HarnessError(f"LPM01A refused '{cmd}': {msg}")
        raise TransportError(f"LPM01A on {self.port}: no 'ack {head}' within {self.timeout_s:g} s")

    # -- PowerMonitor --------------------------------------------------------------------

    def start(self) -> None:
        import serial

        try:
            self._ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.1)
        except (serial.SerialException, ValueError, OSError) as e:
            raise TransportError(f"LPM01A: cannot open {self.port}: {e}") from None
        self._reader = threading.Thread(target=self._read_loop, name="lpm01a-reader", daemon=True)
        self._reader.start()
        for cmd in ("htc", f"volt {round(self.voltage_v * 1000)}m", f"freq {self.freq}", "acqtime 0",
                    f"output {self.stream.output}", "format ascii_dec", "trigsrc sw", "eventsrc d7 fal",
                    "pwr on", "start"):
            self.command(cmd)

    def stop(self) -> MonitorTrace:
        if self._ser is None:
            raise HarnessError("LPM01A: stop() before start()")
        self._ser.write(b"stop\n")  # answered by "Acquisition completed" (and an ack on some firmware)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:
                msg = self._messages.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if "Acquisition completed" in msg or self._error is not None:
                break
        if self._error is not None:
            raise TransportError(f"LPM01A on {self.port}: connection lost ({self._error})")
        return self.stream.trace()

    def close(self) -> None:
        if self._ser is not None:
            try:
                self._ser.write(b"hrc\n")
            except Exception:  # noqa: BLE001, S110 - releasing a dead board must not hide the first error
                pass
            self._stop.set()
            if self._reader is not None:
                self._reader.join(2)
            self._ser.close()
            self._ser = None
