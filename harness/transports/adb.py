"""Android phones over adb, with the adb-shell library: TCP (host:port) or USB ('usb' extra).

Commands go through adbd's shell service (protocol v1), where stdout and stderr share
one stream and no exit status comes back. So every command is wrapped::

    exec 2>/dev/null; setsid sh -c 'echo "__HARNESS_PGID_<n>=$$" && cd "$1" && shift && exec "$@"' \
        sh CWD ARGV... </dev/null 2>&1; printf '__HARNESS_RC_<n>=%s\\n' "$?"

`setsid` gives the command its own process group, whose id comes back first, so a
timeout or `terminate()` kills the command *and its children*; the trailing marker
carries the exit status (`<n>` is a per-command nonce). Every argument is quoted
(`shell_line`), so no user string is ever interpreted by the phone's shell. Because
v1 merges the streams, `CommandResult.stderr` is empty and `Process.stderr` is "":
the command's stderr is in its stdout, in order.

The RSA key the phone is asked to trust is generated on first use and kept in the
user's config folder (``$HARNESS_CONFIG_DIR``, else ``~/.config/harness``) as
``adbkey`` / ``adbkey.pub``, or wherever the profile's ``adbkey`` says.
"""

from __future__ import annotations

import functools
import io
import os
import posixpath
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from adb_shell import constants as adb_const
from adb_shell import exceptions as adb_exc
from adb_shell.adb_device import AdbDevice
from adb_shell.adb_message import AdbMessage

from harness.errors import (
    CommandTimeout,
    DeviceOffline,
    HarnessError,
    TargetCommandFailed,
    TransportConfigError,
    TransportError,
    error_from_device_text,
)
from harness.profiles import AdbTransportSpec
from harness.transports import adb_io
from harness.transports.adb_link import Idle, LinkLost, PacketLink, tcp_endpoint, usb_endpoint
from harness.transports.base import CommandResult, CommandTransport, kill_group_argv, shell_line
from harness.transports.stream import StreamedProcess

CONFIG_ENV = "HARNESS_CONFIG_DIR"
#: how often a silent stream lets go of the device (lets other streams and kills through)
POLL_S = 0.25
OPEN_TIMEOUT_S = 30.0
#: a file transfer with no reply from the phone for this long has stalled (each reply
#: follows one request or one 256 kB chunk: seconds, even on slow flash)
STALL_S = 15.0
USB_EXTRA_HINT = "adb over USB needs the optional 'usb' extra: pip install 'harness[usb]' (adb-shell[usb], libusb1)"

# adb-shell keeps streaming internals private; these are the parts used here (adb-shell 0.4.x).
_CLSE, _WRTE = adb_const.CLSE, adb_const.WRTE


# -- keys -------------------------------------------------------------------------------


def config_dir() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "harness"


def default_adbkey_path() -> Path:
    return config_dir() / "adbkey"


def ensure_adbkey(path: Path) -> Path:
    """The private key at `path` (with `path.pub`), generated if absent."""
    path = Path(path).expanduser()
    if path.is_file() and Path(f"{path}.pub").is_file():
        return path
    from adb_shell.auth.keygen import keygen

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".adbkey.") as tmp:
        tmp_key = os.path.join(tmp, "adbkey")
        keygen(tmp_key)
        os.chmod(tmp_key, 0o600)
        # Public half first: a reader that sees the private key also finds its .pub.
        os.replace(f"{tmp_key}.pub", f"{path}.pub")
        os.replace(tmp_key, path)
    return path


def _signer(path: Path):
    try:
        return _load_signer(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError) as e:
        raise TransportConfigError(f"{path}: cannot load the adb key ({e}); delete it to generate a new one") from None


@functools.lru_cache(maxsize=8)
def _load_signer(path: str, _mtime_ns: int):
    """Loading (and validating) an RSA key takes ~0.1 s: once per key file version, not per connection."""
    from adb_shell.auth.sign_cryptography import CryptographySigner

    return CryptographySigner(path)


# -- processes --------------------------------------------------------------------------


class AdbProcess(StreamedProcess):
    """A command running on the phone; its merged stdout/stderr is read by a background
    thread and decoded and split by `StreamedProcess`. The exit status comes as a trailing
    ``__HARNESS_RC_<n>=`` marker."""

    pgid_wait_s = 10.0

    def __init__(self, transport: AdbTransport, argv: list[str], info, nonce: str, keep_stdout: bool = False):
        super().__init__(argv, f"__HARNESS_PGID_{nonce}=", keep_stdout)
        self._t = transport
        self._info = info
        self._rc_tag = f"__HARNESS_RC_{nonce}="
        self.returncode: int | None = None
        self._thread = threading.Thread(target=self._pump, name=f"adb-proc {argv[0]}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        device = self._t._device
        try:
            while True:
                try:
                    cmd, data = device._read_until([_CLSE, _WRTE], self._info)
                except (Idle, adb_exc.AdbTimeoutError):
                    if self.done.is_set():
                        return  # abandoned by terminate()
                    continue
                if cmd == _CLSE:
                    self._t._send_close(self._info)
                    break
                self.feed(data)
        except LinkLost as e:
            self.error = TransportError(f"{self._t.describe()}: connection lost while running {self.argv[0]}: {e}")
            if self.pgid is not None and self.returncode is None:
                self._t._orphans.add(self.pgid)  # still running on the phone: killed on reconnect at close()
        except Exception as e:  # noqa: BLE001 - an unexpected reply ends this command, not the harness
            self.error = TransportError(f"{self._t.describe()}: {self.argv[0]}: {type(e).__name__}: {e}")
        finally:
            self.end_of_output()
            self._t._forget(self)
            self.finish()

    def _line(self, line: str, ended: bool) -> None:
        line = line.rstrip("\r")
        at = line.find(self._rc_tag) if self.pgid is not None else -1
        if at < 0:
            super()._line(line, ended)
            return
        # the marker follows the output directly: text before it is an unterminated last line
        if at:
            self._output(line[:at], ended=False)
        self.returncode = int(line[at + len(self._rc_tag):])

    # StreamedProcess -----------------------------------------------------------------------

    def _kill_group(self, pgid: int, grace_s: float) -> int | None:
        self._t._kill_group(pgid, grace_s)
        return None  # adb shell v1 gives no exit status

    def _kill_failed(self) -> None:
        self._t._orphans.add(self.pgid)  # link gone: killed on reconnect at close()

    def _give_up(self) -> None:
        self.error = self.error or TransportError(
            f"{self._t.describe()}: no reply from the device after killing {self.argv[0]}"
        )
        try:
            self._t._send_close(self._info)
        except Exception:  # noqa: BLE001 - best effort on a link that is failing anyway
            pass
        self._t._forget(self)
        self.finish()

    def _exit_status(self) -> int:
        self._thread.join(timeout=1.0)
        if self.returncode is None:
            raise TransportError(f"{self._t.describe()}: {self.argv[0]} ended without an exit status")
        if self.killed and self.returncode > 128:
            return -(self.returncode - 128)
        return self.returncode

    @property
    def stderr(self) -> str:
        return ""  # adb shell v1 merges stderr into stdout


# -- transport --------------------------------------------------------------------------


class AdbTransport(CommandTransport):
    kind = "adb"
    spec = AdbTransportSpec
    lock_on_target = True  # other hosts may reach it too

    def __init__(self, profile):
        super().__init__(profile)
        self.spec = profile.transport
        self.workdir = self.spec.workdir
        self.notes: list[str] = []
        self._link: PacketLink | None = None
        self._device: AdbDevice | None = None
        self._signer = None
        self._setsid: bool | None = None
        self._procs: set[AdbProcess] = set()
        self._orphans: set[int] = set()
        self._lock = threading.Lock()

    def describe(self) -> str:
        where = self.spec.address or f"usb:{self.spec.serial}"
        return f"adb:{self.profile.id} ({where})"

    # -- connection ---------------------------------------------------------------------

    def _endpoint(self):
        if self.spec.address:
            host, _, port = self.spec.address.rpartition(":")
            if not host:
                host, port = self.spec.address, "5555"
            try:
                return tcp_endpoint(host.strip("[]"), int(port))
            except ValueError:
                raise TransportConfigError(f"{self.describe()}: bad adb address {self.spec.address!r}, want host:port") from None
        try:
            return usb_endpoint(self.spec.serial)
        except ImportError:
            raise TransportConfigError(USB_EXTRA_HINT) from None

    def _connect(self, timeout_s: float) -> None:
        link = PacketLink(self.describe(), self._endpoint())
        device = AdbDevice(link, banner="harness")
        adb_io.install(device)
        offered = []
        try:
            device.connect(
                rsa_keys=[self._signer],
                transport_timeout_s=timeout_s,
                auth_timeout_s=timeout_s,
                read_timeout_s=timeout_s,
                auth_callback=lambda _dev: offered.append(True),
            )
        except (Idle, adb_exc.AdbTimeoutError, adb_exc.TcpTimeoutException):
            link.close()
            if offered:
                pub = f"{self._key_path}.pub"
                raise TransportConfigError(
                    f"{self.describe()}: the phone did not authorise this computer within {timeout_s:g} s. "
                    f"Unlock it and accept 'Allow USB debugging?' for the key {pub}, then retry"
                ) from None
            raise DeviceOffline(f"{self.describe()}: no adb reply within {timeout_s:g} s") from None
        except ConnectionRefusedError:
            link.close()
            raise DeviceOffline(
                f"{self.describe()}: connection refused (is adbd listening? run 'adb tcpip 5555' over USB first)"
            ) from None
        except (OSError, LinkLost, adb_exc.DeviceAuthError, adb_exc.InvalidResponseError, adb_exc.InvalidCommandError,
                adb_exc.InvalidChecksumError, adb_exc.UsbDeviceNotFoundError) as e:
            link.close()
            raise DeviceOffline(f"{self.describe()}: cannot connect: {e or type(e).__name__}") from None
        self._link, self._device = link, device

    def open(self) -> AdbTransport:
        self._key_path = ensure_adbkey(Path(self.spec.adbkey) if self.spec.adbkey else default_adbkey_path())
        self._signer = _signer(self._key_path)
        self._connect(self.spec.connect_timeout_s)
        return self

    def _has_setsid(self) -> bool:
        """Whether the phone has setsid (asked once, when the first command runs)."""
        if self._setsid is None:
            self._setsid = "yes" in self._exec_raw("command -v setsid >/dev/null 2>&1 && echo yes || echo no", 30.0)
            if not self._setsid:
                self.notes.append("adb: the phone has no setsid; a timeout kills the command but not its children")
        return self._setsid

    def close(self) -> None:
        if self._device is None:
            return
        try:
            self.kill_all()
            self._kill_orphans()
        finally:
            if self._link is not None:
                self._link.close()
            self._device = self._link = None

    # -- streams ------------------------------------------------------------------------

    @contextmanager
    def _adb_errors(self, what: str):
        try:
            yield
        except HarnessError:
            raise
        except LinkLost as e:
            raise TransportError(f"{self.describe()}: connection lost during {what}: {e}") from None
        except (adb_exc.TcpTimeoutException, adb_exc.AdbTimeoutError) as e:
            raise TransportError(f"{self.describe()}: {what} stalled: no reply from the phone ({e})") from None
        except (adb_exc.PushFailedError, adb_exc.AdbCommandFailureException) as e:
            # the phone's own words (adbd's sync FAIL message): a full disk, a missing file…
            said = e.args[0] if e.args else e
            said = bytes(said).decode("utf-8", "replace") if isinstance(said, (bytes, bytearray)) else str(said)
            raise error_from_device_text(said, f"{self.describe()}: {what} failed: {said}",
                                         default=TargetCommandFailed) from None
        except (adb_exc.AdbConnectionError, adb_exc.InvalidResponseError, adb_exc.InvalidChecksumError,
                adb_exc.InvalidCommandError, adb_exc.DevicePathInvalidError, OSError) as e:
            raise TransportError(f"{self.describe()}: {what} failed: {type(e).__name__}: {e}") from None

    def _require(self) -> AdbDevice:
        if self._device is None:
            raise TransportError(f"{self.describe()}: not connected (open the transport first)")
        if self._link is not None and self._link.lost:
            raise TransportError(f"{self.describe()}: connection lost: {self._link.lost}")
        return self._device

    def _open_stream(self, destination: str):
        device = self._require()
        with self._adb_errors(f"opening {destination.split(':', 1)[0]}"):
            info = device._open(destination.encode(), OPEN_TIMEOUT_S, OPEN_TIMEOUT_S, None)
        info.transport_timeout_s = info.read_timeout_s = POLL_S
        return info

    def _send_close(self, info) -> None:
        self._device._io_manager.send(AdbMessage(_CLSE, info.local_id, info.remote_id), info)

    def _exec_raw(self, line: str, timeout: float) -> str:
        """Run a shell line as is (for the harness's own fixed commands) and return its output."""
        info = self._open_stream("shell:" + line)
        out = bytearray()
        deadline = time.monotonic() + timeout
        with self._adb_errors("a shell command"):
            while time.monotonic() < deadline:
                try:
                    cmd, data = self._device._read_until([_CLSE, _WRTE], info)
                except (Idle, adb_exc.AdbTimeoutError):
                    continue
                if cmd == _CLSE:
                    self._send_close(info)
                    return out.decode("utf-8", "replace")
                out += data
            self._send_close(info)
        raise CommandTimeout(f"{self.describe()}: shell command did not finish within {timeout:g} s")

    def _wrap(self, argv: Sequence[str], env: Mapping[str, str] | None, cwd: str | None, nonce: str) -> str:
        cmd = list(argv)
        if env:
            cmd = ["env", *(f"{k}={v}" for k, v in env.items()), *cmd]
        inner = f'echo "__HARNESS_PGID_{nonce}=$$" && cd "$1" && shift && exec "$@"'
        launcher = ["sh", "-c", inner, "sh", cwd or ".", *cmd]
        if self._has_setsid():
            launcher = ["setsid", *launcher]
        # the outer shell's own notices ("Terminated") stay out of the command's output
        return f"exec 2>/dev/null; {shell_line(launcher)} </dev/null 2>&1; printf '__HARNESS_RC_{nonce}=%s\\n' \"$?\""

    def _start(self, argv: Sequence[str], env, cwd, keep_stdout: bool = False) -> AdbProcess:
        argv = [str(a) for a in argv]
        if not argv:
            raise TransportError("empty command")
        nonce = secrets.token_hex(4)
        info = self._open_stream("shell:" + self._wrap(argv, env, cwd, nonce))
        proc = AdbProcess(self, argv, info, nonce, keep_stdout)
        with self._lock:
            if not proc.done.is_set():
                self._procs.add(proc)
        return proc

    def _forget(self, proc: AdbProcess) -> None:
        with self._lock:
            self._procs.discard(proc)

    def _kill_group(self, pgid: int, grace_s: float) -> None:
        # without setsid the command leads no group: the script then kills the single pid
        self._exec_raw(shell_line(kill_group_argv(pgid, grace_s)), grace_s + 15.0)

    # -- CommandTransport ---------------------------------------------------------------

    def run(self, argv, timeout, env=None, cwd=None) -> CommandResult:
        t0 = time.monotonic()
        proc = self._start(argv, env, cwd, keep_stdout=True)
        if not proc.done.wait(timeout):
            proc.terminate(grace_s=2.0)
            raise CommandTimeout(
                f"{proc.argv[0]} exceeded its {timeout:g} s timeout on {self.describe()} "
                "and was killed (with its process group)"
            )
        if proc.error is not None:
            raise proc.error
        if proc.returncode is None:
            raise TransportError(f"{self.describe()}: {proc.argv[0]} ended without an exit status")
        return CommandResult(proc.argv, proc.returncode, proc.stdout_text, "", time.monotonic() - t0)

    def start(self, argv, env=None, cwd=None) -> AdbProcess:
        return self._start(argv, env, cwd)

    def upload(self, local: Path, remote: str) -> None:
        local = Path(local)
        parent = posixpath.dirname(remote)
        if parent:
            self.run(["mkdir", "-p", parent], timeout=60).check(f"mkdir -p {parent} on {self.describe()}")
        st = local.stat()
        device = self._require()
        with self._adb_errors(f"push of {local} to {remote}"):
            device.push(
                str(local), remote, st_mode=stat.S_IFREG | stat.S_IMODE(st.st_mode), mtime=int(st.st_mtime),
                transport_timeout_s=STALL_S, read_timeout_s=STALL_S,
            )

    # the push sidecar (see `CommandTransport.push`) through sync requests: no shell
    def _stat_remote(self, remote: str) -> tuple[int, int] | None:
        device = self._require()
        with self._adb_errors(f"stat of {remote}"):
            mode, size, mtime = device.stat(remote, STALL_S, STALL_S)
        return (int(size), int(mtime)) if stat.S_ISREG(mode) else None  # a missing file has mode 0

    def _write_remote(self, remote: str, data: bytes, mtime: int) -> None:
        device = self._require()
        with self._adb_errors(f"writing {remote}"):
            device.push(io.BytesIO(data), remote, mtime=mtime,
                        transport_timeout_s=STALL_S, read_timeout_s=STALL_S)

    def pull(self, remote: str, local: Path) -> None:
        data = self.read_file(remote)
        Path(local).write_bytes(data)

    def read_file(self, remote: str) -> bytes:
        device = self._require()
        buf = io.BytesIO()
        with self._adb_errors(f"pull of {remote}"):
            device.pull(remote, buf, transport_timeout_s=STALL_S, read_timeout_s=STALL_S)
        return buf.getvalue()

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            proc.terminate(grace_s=2.0)

    def _kill_orphans(self) -> None:
        """Kill process groups left when the link dropped, over a fresh connection if one comes up."""
        if not self._orphans:
            return
        if self._link is None or self._link.lost:
            if self._link is not None:
                self._link.close()
            try:
                self._connect(min(self.spec.connect_timeout_s, 5.0))
            except TransportError as e:
                self.notes.append(f"could not reconnect to kill process groups {sorted(self._orphans)}: {e}")
                return
        for pgid in sorted(self._orphans):
            try:
                self._kill_group(pgid, 1.0)
            except HarnessError:
                pass
        self._orphans.clear()
