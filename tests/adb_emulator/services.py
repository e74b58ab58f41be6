"""The device-side services an emulated phone offers on an ADB stream: `shell:` and `sync:`.

The "device filesystem" is a sandbox folder on the host. Paths under the Android
roots (/data, /sdcard, /storage, /system) map into it: exactly for the sync service,
and by rewriting those path prefixes in shell command lines, which then run with the
host's /bin/sh, with the sandbox as working directory.

Like adbd's raw (v1) shell, stdout and stderr share the stream, there is no exit
status, and closing the stream does not kill the command: it only closes its pipes.
"""

from __future__ import annotations

import os
import posixpath
import re
import select
import stat
import struct
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.adb_emulator.device import Stream

ANDROID_ROOTS = ("data", "sdcard", "storage", "system")
_ROOT_RE = re.compile(r"(?<![\w./-])/(%s)(?=/|\b)" % "|".join(ANDROID_ROOTS))

SYNC_DATA_MAX = 64 * 1024


def device_to_host(sandbox: Path, device_path: str) -> Path:
    """The host path of a device path; '..' cannot leave the sandbox."""
    if not device_path.startswith("/"):
        device_path = "/data/local/tmp/" + device_path
    clean = posixpath.normpath(device_path).lstrip("/")
    return sandbox / clean if clean not in ("", ".") else sandbox


def rewrite_command(sandbox: Path, line: str) -> str:
    """Map Android absolute paths in a shell line into the sandbox."""
    return _ROOT_RE.sub(lambda m: f"{sandbox}/{m.group(1)}", line)


# -- shell ------------------------------------------------------------------------------


class ShellService:
    """`shell:CMD` — run CMD with /bin/sh in the sandbox; output goes back on the stream."""

    def __init__(self, stream: Stream, command: str):
        self.stream = stream
        emu = stream.conn.emulator
        argv = ["/bin/sh", "-c", rewrite_command(emu.sandbox, command)] if command.strip() else ["/bin/sh"]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=emu.sandbox,
            env=emu.shell_env(),
            start_new_session=True,  # adbd's children are session leaders too
        )
        emu.track(self.proc)
        self._closed = threading.Event()
        threading.Thread(target=self._pump, name=f"adb-emu-shell-{stream.local_id}", daemon=True).start()

    def _pump(self) -> None:
        fd = self.proc.stdout.fileno()
        try:
            while not self._closed.is_set():
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                data = os.read(fd, SYNC_DATA_MAX)
                if not data:
                    break
                if not self.stream.write(data):
                    break
        finally:
            self.proc.stdout.close()  # the command gets SIGPIPE on its next write, as with adbd
            self._close_stdin()
            self.stream.close()

    def _close_stdin(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def on_data(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass

    def on_close(self) -> None:
        self._closed.set()


# -- sync -------------------------------------------------------------------------------


class _SyncFail(Exception):
    pass


class SyncService:
    """`sync:` — the file-transfer protocol of SYNC.TXT (v1: STAT, LIST, SEND, RECV, QUIT)."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.sandbox: Path = stream.conn.emulator.sandbox
        self._buf = bytearray()
        self._cv = threading.Condition()
        self._closed = False
        threading.Thread(target=self._serve, name=f"adb-emu-sync-{stream.local_id}", daemon=True).start()

    # stream side
    def on_data(self, data: bytes) -> None:
        with self._cv:
            self._buf += data
            self._cv.notify_all()

    def on_close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def _read(self, n: int) -> bytes:
        with self._cv:
            while len(self._buf) < n:
                if self._closed:
                    raise EOFError
                self._cv.wait(0.5)
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out

    def _request(self) -> tuple[bytes, bytes]:
        ident, length = struct.unpack("<4sI", self._read(8))
        if ident in (b"DATA", b"DONE"):  # only inside SEND; handled there
            raise _SyncFail(f"unexpected {ident.decode()} outside SEND")
        if length > 4096:
            raise _SyncFail(f"path of {length} bytes is too long")
        return ident, self._read(length)

    def _send(self, data: bytes) -> None:
        if not self.stream.write(data):
            raise EOFError

    def _fail(self, message: str) -> None:
        msg = message.encode()
        self._send(b"FAIL" + struct.pack("<I", len(msg)) + msg)

    def _serve(self) -> None:
        try:
            while True:
                ident, payload = self._request()
                while self.stream.conn.emulator.stall_sync and not self._closed:
                    threading.Event().wait(0.1)  # wedged: the request is never answered
                path = payload.decode("utf-8", errors="surrogateescape")
                if ident == b"QUIT":
                    break
                handler = {b"STAT": self._stat, b"LIST": self._list, b"SEND": self._recv_file, b"RECV": self._send_file}
                if ident not in handler:
                    self._fail(f"unknown sync request {ident!r}")
                    break
                try:
                    handler[ident](path)
                except _SyncFail as e:
                    self._fail(str(e))
        except (EOFError, _SyncFail, OSError):
            pass
        finally:
            self.stream.close()

    def _stat(self, path: str) -> None:
        try:
            st = os.stat(device_to_host(self.sandbox, path))
            mode, size, mtime = st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)
        except OSError:
            mode = size = mtime = 0
        self._send(b"STAT" + struct.pack("<3I", mode, size, mtime))

    def _list(self, path: str) -> None:
        host = device_to_host(self.sandbox, path)
        try:
            names = [".", ".."] + sorted(os.listdir(host))
        except OSError:
            names = []
        for name in names:
            st = os.lstat(host / name)
            enc = name.encode("utf-8", errors="surrogateescape")
            self._send(b"DENT" + struct.pack("<4I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(enc)) + enc)
        self._send(b"DONE" + struct.pack("<4I", 0, 0, 0, 0))

    def _recv_file(self, spec: str) -> None:
        path, _, mode_s = spec.rpartition(",")
        if not path:
            path, mode_s = spec, "33188"
        try:
            mode = int(mode_s)
        except ValueError:
            raise _SyncFail(f"bad file mode {mode_s!r}") from None
        host = device_to_host(self.sandbox, path)
        tmp = host.with_name(host.name + ".adb-emu-part")
        error = None
        try:
            host.parent.mkdir(parents=True, exist_ok=True)
            out = open(tmp, "wb")
        except OSError as e:
            error, out = f"cannot create {path}: {e.strerror}", None
        try:
            while True:  # consume DATA until DONE even after an error, as adbd does
                ident, length = struct.unpack("<4sI", self._read(8))
                if ident == b"DATA":
                    chunk = self._read(length)
                    if out is not None:
                        try:
                            out.write(chunk)
                        except OSError as e:  # adbd: SendSyncFailErrno(s, "write failed")
                            error = f"write failed: {e.strerror}"
                            out.close()
                            tmp.unlink(missing_ok=True)
                            out = None
                elif ident == b"DONE":
                    mtime = length
                    break
                else:
                    raise _SyncFail(f"unexpected {ident!r} during SEND")
        finally:
            if out is not None:
                out.close()
        if error:
            raise _SyncFail(error)
        os.replace(tmp, host)
        os.chmod(host, stat.S_IMODE(mode) or 0o644)
        os.utime(host, (mtime, mtime))
        self._send(b"OKAY" + struct.pack("<I", 0))

    def _send_file(self, path: str) -> None:
        host = device_to_host(self.sandbox, path)
        try:
            f = open(host, "rb")
        except OSError as e:
            raise _SyncFail(f"cannot open {path}: {e.strerror}") from None
        with f:
            while chunk := f.read(SYNC_DATA_MAX):
                self._send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        self._send(b"DONE" + struct.pack("<I", 0))
