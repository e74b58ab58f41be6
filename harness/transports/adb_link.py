"""The byte link under adb-shell's `AdbDevice`: whole ADB packets, prompt loss detection.

adb-shell reads a packet as a header then a payload, under one lock shared by every
stream of the device. Two properties make that safe for long, concurrent streams:

- A background thread reads the connection and releases bytes only in whole packets,
  so a read can time out only *between* packets (a short poll timeout never loses half
  a packet), and the device lock is never held while a stream is silent.
- End of file or a socket error marks the link lost: every read and write then raises
  `LinkLost` at once, instead of spinning until a read timeout (as adb-shell's own
  TCP transport does when the peer closes).

adb-shell's `TcpTransport` is not used: it puts the socket in non-blocking mode and
ignores short sends.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

from adb_shell.exceptions import TcpTimeoutException
from adb_shell.transport.base_transport import BaseTransport

_HEADER = 24
_READ_CHUNK = 256 * 1024


class LinkLost(ConnectionError):
    """The connection to the device is gone (closed, reset, unplugged)."""


class Idle(TcpTimeoutException):
    """No packet arrived within the poll timeout (nothing was consumed)."""


class PacketLink(BaseTransport):
    """A `BaseTransport` over an endpoint: `recv(n, timeout) -> bytes | None` (None: nothing yet),
    `send(data, timeout)`, `close()`; `recv` returns b"" or raises at end of file."""

    def __init__(self, describe: str, connect: Callable[[float | None], tuple[Callable, Callable, Callable]]):
        self.describe = describe
        self._connect = connect
        self._recv = self._send = self._close = None
        self._cv = threading.Condition()
        self._ready = bytearray()
        self._lost: str | None = None
        self._reader: threading.Thread | None = None
        self._closing = False

    # -- BaseTransport ------------------------------------------------------------------

    def connect(self, transport_timeout_s):
        self.close()
        self._recv, self._send, self._close = self._connect(transport_timeout_s)
        with self._cv:
            self._ready.clear()
            self._lost = None
            self._closing = False
        self._reader = threading.Thread(target=self._read_loop, name=f"adb-link {self.describe}", daemon=True)
        self._reader.start()

    def close(self):
        with self._cv:
            self._closing = True
            if self._lost is None:
                self._lost = "connection closed by harness"
            self._cv.notify_all()
        if self._close is not None:
            try:
                self._close()
            except OSError:
                pass
            self._close = None
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self._reader = None

    def bulk_read(self, numbytes, transport_timeout_s):
        with self._cv:
            if not self._ready and self._lost is None:
                self._cv.wait_for(lambda: self._ready or self._lost is not None, timeout=transport_timeout_s)
            if self._ready:
                out = bytes(self._ready[:numbytes])
                del self._ready[:numbytes]
                return out
            if self._lost is not None:
                raise LinkLost(f"{self.describe}: {self._lost}")
        raise Idle(f"{self.describe}: no data within {transport_timeout_s} s")

    def bulk_write(self, data, transport_timeout_s):
        if self._lost is not None:
            raise LinkLost(f"{self.describe}: {self._lost}")
        try:
            self._send(data, transport_timeout_s)
        except Exception as e:  # noqa: BLE001 - socket, timeout or libusb error alike: the link is unusable
            self._mark_lost(f"write failed: {e}")
            raise LinkLost(f"{self.describe}: write failed: {e}") from None
        return len(data)

    def wait_packet(self, timeout: float, or_until: Callable[[], bool] = lambda: False) -> bool:
        """Wait up to `timeout` for a whole packet to read, for the link to be lost (the next
        read raises) or for `or_until()` (checked again at each `wake`); True if any came.
        Never consumes anything."""
        with self._cv:
            return bool(self._cv.wait_for(lambda: self._ready or self._lost is not None or or_until(),
                                          timeout=timeout))

    def wake(self) -> None:
        """Let `wait_packet` callers check their `or_until` again."""
        with self._cv:
            self._cv.notify_all()

    # -- state --------------------------------------------------------------------------

    @property
    def lost(self) -> str | None:
        """Why the link is gone, or None while it is up."""
        return self._lost

    def _mark_lost(self, why: str) -> None:
        with self._cv:
            if self._lost is None:
                self._lost = why
            self._cv.notify_all()

    def _read_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            if self._closing:
                raise LinkLost("closing")
            chunk = self._recv(min(n - len(buf), _READ_CHUNK), 0.25)
            if chunk is None:
                continue
            if not chunk:
                raise LinkLost("connection closed by the device")
            buf += chunk
        return bytes(buf)

    def _read_loop(self) -> None:
        try:
            while True:
                head = self._read_exact(_HEADER)
                (length,) = struct.unpack_from("<I", head, 12)
                packet = head + (self._read_exact(length) if length else b"")
                with self._cv:
                    self._ready += packet
                    self._cv.notify_all()
        except LinkLost as e:
            self._mark_lost(str(e))
        except Exception as e:  # noqa: BLE001 - any read error means the link is unusable
            self._mark_lost(f"read failed: {type(e).__name__}: {e}")


def tcp_endpoint(host: str, port: int, keepalive_s: float = 5.0):
    """Opener for `PacketLink`: a blocking TCP socket with keepalive and a send timeout."""

    def connect(timeout: float | None):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, val in (("TCP_KEEPIDLE", keepalive_s), ("TCP_KEEPINTVL", keepalive_s), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), max(1, int(val)))
        import select

        def recv(n: int, poll_s: float) -> bytes | None:
            ready, _, _ = select.select([sock], [], [], poll_s)
            return sock.recv(n) if ready else None

        def send(data: bytes, timeout_s: float | None) -> None:
            # A stalled peer must not block a writer forever: bound each send.
            deadline_s = timeout_s if timeout_s else 30.0
            view = memoryview(data)
            while view:
                _, ready, _ = select.select([], [sock], [], deadline_s)
                if not ready:
                    raise TimeoutError(f"device did not accept data for {deadline_s} s")
                sent = sock.send(view)
                view = view[sent:]

        def close() -> None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

        return recv, send, close

    return connect


def usb_endpoint(serial: str | None):
    """Opener for `PacketLink` over adb-shell's libusb transport (needs the 'usb' extra)."""
    from adb_shell.exceptions import UsbReadFailedError
    from adb_shell.transport.usb_transport import UsbTransport  # ImportError without libusb1

    import usb1

    def connect(timeout: float | None):
        usb = UsbTransport.find_adb(serial, None, timeout)
        usb.connect(timeout)

        def recv(n: int, poll_s: float) -> bytes | None:
            try:
                return bytes(usb.bulk_read(n, poll_s))
            except UsbReadFailedError as e:
                if isinstance(getattr(e, "usb_error", None), usb1.USBErrorTimeout):
                    return None
                raise

        def send(data: bytes, timeout_s: float | None) -> None:
            usb.bulk_write(data, timeout_s)

        return recv, send, usb.close

    return connect
