"""A PowerShield (X-NUCLEO-LPM01A) speaking UM2269's serial protocol on a TCP socket.

Commands are answered ``PowerShield > ack <cmd>``; after ``start`` it streams
``output energy`` samples in ascii_dec notation at 1 kHz of real time (several per
line), the energy of each millisecond at the simulated DUT's power, and an
``event N ris`` line between the samples where the DUT pulsed its timestamp pin.
``stop`` ends the stream with ``Acquisition completed``.
"""

from __future__ import annotations

import math
import socket
import threading
import time

FREQ_HZ = 1000.0


def ascii_dec(x: float) -> str:
    """x as 4 significant digits and a 2-digit power of ten: 6.409e-4 → 6409-07."""
    if x <= 0:
        return "0000+00"
    exp = math.floor(math.log10(x)) - 3
    mant = round(x / 10.0**exp)
    if mant >= 10000:
        mant, exp = round(mant / 10), exp + 1
    return f"{mant:04d}{'+' if exp >= 0 else '-'}{abs(exp):02d}"


class FakeLpm01a:
    def __init__(self, idle_w: float = 0.002, active_w: float = 0.040, refuse: tuple[str, ...] = ()):
        self.idle_w, self.active_w = idle_w, active_w
        self.refuse = refuse  # commands answered "error <cmd>", as the board does for bad settings
        self._active = False
        self._lock = threading.Lock()
        self._pulses: list[float] = []
        self._changes: list[tuple[float, bool]] = [(time.monotonic(), False)]
        self.commands: list[str] = []
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        self.port = self._srv.getsockname()[1]
        self._streaming = threading.Event()
        self._closed = threading.Event()
        self._conn = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    # the simulated DUT's side
    def set_active(self, active: bool) -> None:
        with self._lock:
            self._active = active
            self._changes.append((time.monotonic(), active))

    def pulse(self) -> None:
        with self._lock:
            self._pulses.append(time.monotonic())

    def close(self) -> None:
        self._closed.set()
        for s in (self._conn, self._srv):
            try:
                s and s.close()
            except OSError:
                pass

    def _send(self, text: str) -> None:
        self._conn.sendall((text + "\r\n").encode())

    def _serve(self) -> None:
        try:
            self._run()
        except OSError:  # the host hung up
            pass

    def _run(self) -> None:
        try:
            self._conn, _ = self._srv.accept()
        except OSError:
            return
        self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn.settimeout(0.05)
        buf = b""
        while not self._closed.is_set():
            try:
                chunk = self._conn.recv(1024)
                if not chunk:
                    return
                buf += chunk
            except TimeoutError:
                pass
            except OSError:
                return
            while b"\n" in buf:
                raw, _, buf = buf.partition(b"\n")
                cmd = raw.decode().strip()
                self.commands.append(cmd)
                if cmd == "start":
                    self._send(f"PowerShield > ack {cmd}")
                    self._stream()
                elif cmd.split(" ")[0] in self.refuse:
                    self._send(f"PowerShield > error {cmd}")
                elif cmd:
                    self._send(f"PowerShield > ack {cmd}")

    def _stream(self) -> None:
        """Samples in real time until 'stop' arrives."""
        t0 = time.monotonic()
        emitted = 0
        pulses_done = 0
        buf = b""
        while True:
            stopping = b"stop" in buf
            now = time.monotonic()
            due = int((now - t0) * FREQ_HZ) + (1 if stopping else 0)
            values = []
            while emitted < due:
                with self._lock:
                    # pulses before the start of this sample go out before it
                    while pulses_done < len(self._pulses) and self._pulses[pulses_done] < t0 + emitted / FREQ_HZ:
                        pulses_done += 1
                        if values:
                            self._send(" ".join(values))
                            values = []
                        self._send(f"event {pulses_done} ris")
                    energy = self._energy(t0 + emitted / FREQ_HZ, t0 + (emitted + 1) / FREQ_HZ)
                values.append(ascii_dec(energy))
                emitted += 1
                if emitted % 1000 == 0:
                    self._send(f"TimeStamp: {emitted // 1000:03d}s 000ms, buff 00%")
            if values:
                self._send(" ".join(values))
            if stopping:
                self.commands.append("stop")
                self._send("PowerShield > Acquisition completed")
                self._send("PowerShield > ack stop")
                return
            try:
                buf += self._conn.recv(1024)
            except TimeoutError:
                pass
            except OSError:
                return
            time.sleep(0.002)

    def _energy(self, a: float, b: float) -> float:
        """Exact energy over [a, b) from the recorded on/off changes."""
        total = 0.0
        changes = self._changes
        for i, (t, active) in enumerate(changes):
            end = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            lo, hi = max(a, t), min(b, end)
            if hi > lo:
                total += (hi - lo) * (self.active_w if active else self.idle_w)
        return total
