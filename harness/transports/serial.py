"""Serial transport: a line-oriented port opened through a pyserial URL.

The port is any URL pyserial understands: ``/dev/ttyACM0``, ``COM3``,
``socket://127.0.0.1:5555``, ``rfc2217://host:port``; the baud rate comes from the
profile. Reads are line based with a timeout on every read: ``\\r\\n`` and ``\\n``
both end a line, a partial line stays buffered until its end arrives, and bytes
that are not UTF-8 are replaced rather than raising.

A profile whose transport has ``emulator:`` set describes an emulated board: the
port is then the UART of a QEMU instance that `boot_model` starts (building the
firmware for the model when needed) and `close` stops. `open_serial_target` wraps
both cases in one context manager.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import DeviceOffline, TransportConfigError, TransportError
from harness.profiles import SerialTransportSpec
from harness.transports.base import LineTransport, TargetInfo

if TYPE_CHECKING:
    from harness.profiles import DeviceProfile
    from harness.transports.qemu import QemuBoard

# A read is cut into slices this long so a dead port or emulator is noticed quickly.
_READ_SLICE_S = 0.2
# A "line" this long without a newline is handed over as it is (line noise, a wrong baud rate).
_MAX_LINE_BYTES = 1 << 16


def _port_errors() -> tuple[type[BaseException], ...]:
    from serial import SerialException, SerialTimeoutException

    return (SerialException, SerialTimeoutException, OSError)


# pyserial's own errors, and OSError (sockets, ttys that vanish)
_PORT_ERRORS = _port_errors()


class SerialTransport(LineTransport):
    kind = "serial"
    spec = SerialTransportSpec

    def __init__(self, profile: DeviceProfile, url: str | None = None, baud: int | None = None):
        super().__init__(profile)
        spec = profile.transport
        self.url: str | None = url or spec.port
        #: an explicit URL (a QEMU started by hand, say) wins over the profile's emulator
        self._explicit_url = url
        self.baud: int = baud or spec.baud
        self._ser: Any = None
        self._buf = bytearray()
        self._board: QemuBoard | None = None
        #: what the runner copies into the record (port, emulator command, firmware…)
        self.details: dict[str, Any] = {}
        self.notes: list[str] = []

    @property
    def emulated(self) -> bool:
        return self._explicit_url is None and self.profile.transport.emulator is not None

    def lock_key(self) -> str:
        # a real port is the device, whichever profile names it; an emulator's board is the profile's
        if self.emulated or not self.url:
            return super().lock_key()
        return "serial-" + (os.path.realpath(self.url) if self.url.startswith("/") else self.url)

    # -- lifecycle -----------------------------------------------------------------

    def open(self) -> SerialTransport:
        if not self.emulated:
            self._connect(self.url or "")
        return self

    def boot_model(self, model_path: Path | None) -> None:
        """On an emulated board, (re)start QEMU with firmware built for `model_path`
        (the synthetic model when None) and connect to its UART. No-op on real ports,
        whose firmware is whatever the user flashed."""
        if not self.emulated:
            return
        from harness.transports.qemu import QemuBoard

        self._disconnect()
        if self._board is not None:
            self._board.stop()
        self._board = QemuBoard.for_profile(self.profile, model_path)
        self._board.start()
        self.details.update(self._board.details())
        self._connect(self._board.url)

    def close(self) -> None:
        self._disconnect()
        if self._board is not None:
            board, self._board = self._board, None
            board.stop()

    def info(self) -> TargetInfo:
        """`devices check` for a serial target: the protocol's hello (`name%`, `profile%`).
        An emulated board is started with the synthetic-model firmware for it."""
        from harness.mcu.protocol import DeviceProtocolError, DutClient

        if self.emulated and self._board is None:
            self.boot_model(None)
        dut = DutClient(self, [], self.profile.transport.line_timeout_s)
        dut.drain_boot(0.5)
        dut.handshake_done = True
        try:
            name = dut.name()
            firmware, model = dut.profile()
        except DeviceProtocolError as e:
            return TargetInfo(reachable=False, reason=f"port open, but the device does not speak the protocol: {e}")
        info = TargetInfo(reachable=True, os=f"MCU firmware: {firmware}", runtimes={"tinyml": firmware},
                          notes=[f"device name {name!r}, model {model!r}", f"{self.describe()}"])
        if self._board is not None:
            info.notes.append(f"emulator: {self._board.details()['emulator']}")
        return info

    def describe(self) -> str:
        where = self._board.url if self._board else self.url
        return f"serial:{self.profile.id} ({where})"

    # -- line I/O --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        ser = self._require_open()
        try:
            ser.write(data)
            ser.flush()
        except _PORT_ERRORS as e:
            raise self._lost(e) from None

    def read_line(self, timeout: float) -> str | None:
        ser = self._require_open()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            end = self._buf.find(b"\n")
            if end >= 0 or len(self._buf) >= _MAX_LINE_BYTES:
                cut = end if end >= 0 else _MAX_LINE_BYTES
                raw = bytes(self._buf[:cut])
                del self._buf[: cut + 1 if end >= 0 else cut]
                return raw.decode("utf-8", errors="replace").rstrip("\r")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self._board is not None and not self._board.running:
                raise TransportError(f"emulator stopped: {self._board.exit_reason()}")
            try:
                ser.timeout = min(remaining, _READ_SLICE_S)
                chunk = ser.read(max(1, ser.in_waiting))
            except _PORT_ERRORS as e:
                raise self._lost(e) from None
            self._buf += chunk

    # -- internals -------------------------------------------------------------------

    def _connect(self, url: str) -> None:
        import serial

        if not url:
            raise TransportConfigError(f"device {self.profile.id!r}: no serial port given (transport.port)")
        try:
            # note: pyserial's socket:// handler drops whatever arrived before open()
            # returns; the protocol never relies on seeing a boot banner
            self._ser = serial.serial_for_url(url, baudrate=self.baud, timeout=_READ_SLICE_S, write_timeout=10)
        except (serial.SerialException, ValueError, OSError) as e:
            raise DeviceOffline(f"cannot open serial port {url}: {e}") from None
        self._buf.clear()
        self.details.setdefault("port", url)
        self.details["baud"] = self.baud

    def _disconnect(self) -> None:
        if self._ser is not None:
            ser, self._ser = self._ser, None
            try:
                ser.close()
            except _PORT_ERRORS:  # closing a dead port must not mask the first error
                pass

    def _require_open(self) -> Any:
        if self._ser is None:
            if self.emulated:
                raise TransportError("emulated board not started: call boot_model() first")
            raise TransportError(f"serial port {self.url} is not open")
        return self._ser

    def _lost(self, e: Exception) -> TransportError:
        where = self._board.url if self._board else self.url
        detail = f"; emulator: {self._board.exit_reason()}" if self._board and not self._board.running else ""
        return TransportError(f"serial port {where}: connection lost ({e}){detail}")


@contextmanager
def open_serial_target(profile: DeviceProfile, model_path: Path | None = None) -> Iterator[SerialTransport]:
    """An open `LineTransport` for the profile: the real port, or an emulated board
    started with firmware for `model_path` (stopped again on exit)."""
    transport = SerialTransport(profile)
    try:
        transport.open()
        transport.boot_model(model_path)
        yield transport
    finally:
        transport.close()
