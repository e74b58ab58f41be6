"""A TCP listener that behaves like adbd on a phone with "adb over network" enabled.

It speaks the real wire protocol (CNXN, AUTH with RSA keys, OPEN/OKAY/WRTE/CLSE with
per-stream flow control), so Debian's `adb` client and the adb-shell library can both
drive it. Commands run in a sandbox folder on this host (see services.py).

    emu = AdbEmulator(tmp_path / "phone").start()
    emu.address            # "127.0.0.1:PORT"
    emu.drop_connections() # the cable/Wi-Fi goes away mid-run
    emu.stall_sync = True  # the sync service stops answering (a wedged transfer)
    emu.leftover_pids()    # processes started through it that are still alive
    emu.stop()             # closes connections and kills leftovers
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.adb_emulator import wire
from tests.adb_emulator.services import ShellService, SyncService

DEFAULT_PROPERTIES = {
    "ro.product.manufacturer": "Harness",
    "ro.product.model": "Emulated Phone",
    "ro.product.name": "harness_emu",
    "ro.product.device": "emu64",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.product.cpu.abi": "x86_64",
}

# A getprop for the sandbox: reads the properties file next to it.
_GETPROP = """#!/bin/sh
props="$(dirname "$0")/../build.prop"
if [ $# -eq 0 ]; then sed 's/^\\([^=]*\\)=\\(.*\\)$/[\\1]: [\\2]/' "$props"; exit 0; fi
v=$(grep -m1 "^$1=" "$props" | cut -d= -f2-)
printf '%s\\n' "${v:-$2}"
"""


class AdbEmulator:
    def __init__(
        self,
        sandbox: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        authorized_keys: list[str] | None = None,
        accept_new_keys: bool = True,
        auth_required: bool = True,
        properties: dict[str, str] | None = None,
        answer_before_ack: bool = False,
    ):
        self.sandbox = Path(sandbox).resolve()
        self.host, self._port = host, port
        #: adb public keys (file contents) the "phone" already trusts
        self.authorized: list = [wire.decode_adb_public_key(k) for k in (authorized_keys or [])]
        #: what tapping "Allow" on the RSA dialog does: trust a key the host offers
        self.accept_new_keys = accept_new_keys
        self.auth_required = auth_required
        self.properties = {**DEFAULT_PROPERTIES, **(properties or {})}
        #: adbd acknowledges a host WRTE (OKAY) before its service can answer it: one event
        #: loop handles the packet and, later, the service's reply. The protocol allows the
        #: other order (each direction is flow-controlled on its own; a threaded device can
        #: answer first), and a host must cope with it: True makes this phone answer first.
        self.answer_before_ack = answer_before_ack
        #: a wedged transfer: sync requests are read but never answered
        self.stall_sync = False
        #: a marker in the environment of every process started on the "phone"
        self.marker = f"adb-emu-{secrets.token_hex(6)}"
        self.events: list[str] = []
        self._sock: socket.socket | None = None
        self._conns: list[Connection] = []
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> AdbEmulator:
        for d in ("data/local/tmp", "sdcard", "system/bin"):
            (self.sandbox / d).mkdir(parents=True, exist_ok=True)
        (self.sandbox / "system/build.prop").write_text("".join(f"{k}={v}\n" for k, v in self.properties.items()))
        getprop = self.sandbox / "system/bin/getprop"
        getprop.write_text(_GETPROP)
        getprop.chmod(0o755)
        self._sock = socket.create_server((self.host, self._port))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept_loop, name="adb-emu-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            self._sock.close()
        self.drop_connections()
        self.kill_leftovers()

    def __enter__(self) -> AdbEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._sock is not None, "start() the emulator first"
        return self._sock.getsockname()[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def note(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    # -- faults and inspection ------------------------------------------------------------

    def drop_connections(self) -> None:
        """Close every host connection at once, as when the cable or Wi-Fi goes away."""
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.abort()

    @property
    def connection_count(self) -> int:
        with self._lock:
            return sum(1 for c in self._conns if c.alive)

    def shell_env(self) -> dict[str, str]:
        tmp = str(self.sandbox / "data/local/tmp")
        return {
            "PATH": f"{self.sandbox}/system/bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": tmp,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "ANDROID_DATA": str(self.sandbox / "data"),
            "HARNESS_EMU_MARKER": self.marker,
        }

    def track(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.append(proc)
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it, whoever started it

    def leftover_pids(self) -> list[int]:
        """Live processes (any descendant) started on the phone: found by their environment marker."""
        from tests.processes import live_pids

        return live_pids(f"HARNESS_EMU_MARKER={self.marker}".encode(), where="environ")

    def kill_leftovers(self, wait_s: float = 2.0) -> None:
        deadline = time.monotonic() + wait_s
        while (pids := self.leftover_pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    # -- connections ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as adbd does (disable_tcp_nagle)
            conn = Connection(self, sock)
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=conn.serve, name="adb-emu-conn", daemon=True).start()


class Stream:
    """One OPENed service: device id `local_id`, host id `remote_id`."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.closed = False
        self._acked = threading.Event()
        self._acked.set()
        self.service = None
        #: set when the device sends data on this stream (see AdbEmulator.answer_before_ack)
        self.service_answered = threading.Event()

    def write(self, data: bytes) -> bool:
        """Send data to the host, one WRTE per chunk, each waiting for its OKAY."""
        limit = self.conn.max_payload
        for i in range(0, len(data), limit):
            while not self._acked.wait(0.2):
                if self.closed or not self.conn.alive:
                    return False
            if self.closed or not self.conn.alive:
                return False
            self._acked.clear()
            self.conn.send(wire.Message(wire.WRTE, self.local_id, self.remote_id, data[i : i + limit]))
            self.service_answered.set()
        return True

    def on_okay(self) -> None:
        self._acked.set()

    def close(self) -> None:
        """Close from the device side (the service finished)."""
        if not self.closed:
            self.closed = True
            self.conn.send(wire.Message(wire.CLSE, self.local_id, self.remote_id))
            self.conn.forget(self)

    def on_host_close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.send(wire.Message(wire.CLSE, self.local_id, self.remote_id))
        self.conn.forget(self)
        if self.service is not None:
            self.service.on_close()


class Connection:
    def __init__(self, emulator: AdbEmulator, sock: socket.socket):
        self.emulator = emulator
        self.sock = sock
        self.alive = True
        self.max_payload = wire.MAX_PAYLOAD
        self.version = wire.A_VERSION_MIN
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._next_id = 1
        self._token = b""
        self._online = False

    def abort(self) -> None:
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for s in list(self._streams.values()):
            s.closed = True
            if s.service is not None:
                s.service.on_close()

    def send(self, msg: wire.Message) -> None:
        if not self.alive:
            return
        try:
            with self._send_lock:
                self.sock.sendall(msg.pack())
        except OSError:
            self.alive = False

    def forget(self, stream: Stream) -> None:
        self._streams.pop(stream.local_id, None)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def serve(self) -> None:
        try:
            while self.alive:
                command, arg0, arg1, length, crc = wire.parse_header(self._recv_exact(wire.HEADER.size))
                payload = self._recv_exact(length) if length else b""
                if self.version < wire.A_VERSION_SKIP_CHECKSUM and wire.checksum(payload) != crc:
                    raise wire.ProtocolError("payload checksum mismatch")
                self._handle(wire.Message(command, arg0, arg1, payload))
        except (EOFError, OSError, wire.ProtocolError) as e:
            if self.alive:
                self.emulator.note(f"connection closed: {e or type(e).__name__}")
        finally:
            self.abort()

    # -- handshake ----------------------------------------------------------------------

    def _handle(self, msg: wire.Message) -> None:
        if msg.command == wire.CNXN:
            self.version = min(msg.arg0, wire.A_VERSION_SKIP_CHECKSUM)
            self.max_payload = min(msg.arg1 or wire.MAX_PAYLOAD, wire.MAX_PAYLOAD)
            self.emulator.note(f"CNXN {msg.payload.rstrip(bytes(1)).decode(errors='replace')}")
            if self.emulator.auth_required:
                self._send_token()
            else:
                self._go_online()
        elif msg.command == wire.AUTH:
            self._auth(msg)
        elif not self._online:
            raise wire.ProtocolError(f"{msg.name} before the connection was authorised")
        elif msg.command == wire.OPEN:
            self._open(msg)
        else:
            stream = self._streams.get(msg.arg1)
            if stream is None:
                return  # a late packet for a stream already closed
            if msg.command == wire.WRTE:
                okay = wire.Message(wire.OKAY, stream.local_id, stream.remote_id)
                if not self.emulator.answer_before_ack:
                    self.send(okay)  # as adbd: the OKAY leaves before the service sees the data
                stream.service_answered.clear()
                if stream.service is not None:
                    stream.service.on_data(msg.payload)
                if self.emulator.answer_before_ack:
                    stream.service_answered.wait(0.2)  # let the service's reply go out first
                    self.send(okay)
            elif msg.command == wire.OKAY:
                stream.on_okay()
            elif msg.command == wire.CLSE:
                stream.on_host_close()

    def _send_token(self) -> None:
        self._token = secrets.token_bytes(wire.TOKEN_SIZE)
        self.send(wire.Message(wire.AUTH, wire.AUTH_TOKEN, 0, self._token))

    def _auth(self, msg: wire.Message) -> None:
        emu = self.emulator
        if msg.arg0 == wire.AUTH_SIGNATURE:
            if any(wire.verify_token_signature(k, self._token, msg.payload) for k in emu.authorized):
                emu.note("AUTH signature accepted")
                self._go_online()
            else:
                emu.note("AUTH signature rejected")
                self._send_token()
        elif msg.arg0 == wire.AUTH_RSAPUBLICKEY:
            key = wire.decode_adb_public_key(msg.payload)
            if emu.accept_new_keys:
                emu.authorized.append(key)
                emu.note(f"AUTH new key {wire.public_key_fingerprint(key)} allowed")
                self._go_online()
            else:
                emu.note(f"AUTH new key {wire.public_key_fingerprint(key)} not allowed")  # the dialog stays up
        else:
            raise wire.ProtocolError(f"unexpected AUTH type {msg.arg0}")

    def _go_online(self) -> None:
        props = self.emulator.properties
        banner = "device::" + "".join(
            f"{k}={props[k]};" for k in ("ro.product.name", "ro.product.model", "ro.product.device")
        )
        banner += "features=fixed_push_mkdir"
        self._online = True
        self.send(wire.Message(wire.CNXN, self.version, wire.MAX_PAYLOAD, banner.encode()))

    # -- streams ------------------------------------------------------------------------

    def _open(self, msg: wire.Message) -> None:
        destination = msg.payload.rstrip(b"\0").decode("utf-8", errors="surrogateescape")
        self.emulator.note(f"OPEN {destination}")
        local_id, self._next_id = self._next_id, self._next_id + 1
        stream = Stream(self, local_id, msg.arg0)
        service, _, arg = destination.partition(":")
        if service not in ("shell", "sync"):
            self.send(wire.Message(wire.CLSE, 0, msg.arg0))  # adbd refuses unknown services this way
            return
        self._streams[local_id] = stream
        self.send(wire.Message(wire.OKAY, local_id, msg.arg0))
        stream.service = ShellService(stream, arg) if service == "shell" else SyncService(stream)
