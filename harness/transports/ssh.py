"""Linux boards (Jetson, Raspberry Pi, any SBC) over ssh, with paramiko.

- Auth: the profile's key file, then the ssh agent, then ~/.ssh keys (when no key is given).
- Host keys are checked against known_hosts (the profile's file, else ~/.ssh/known_hosts).
  An unknown key is refused with a message saying how to trust it, unless the profile
  opts into ``host_key_policy: trust-on-first-use``: the key is then appended to the
  known_hosts file and a line in `notes` says so (the session copies it to the record).
- An optional jump host (``jump: [user@]host[:port]``) is reached first; the target is
  then reached through a ``direct-tcpip`` channel, with the same auth and host-key rules.
- Keepalives at the ssh level and TCP_USER_TIMEOUT/TCP keepalive at the socket level,
  so a dead link surfaces as a `TransportError` within a few keepalive periods.
- Every command runs as ``echo <marker><pid>; exec ARGV`` in the login shell: sshd
  makes that shell a session (and process-group) leader, so the pid it prints is the
  process group of the command and of everything it spawns. A timeout or an abort
  sends SIGTERM to that group, then SIGKILL after a grace period, over a new channel.
- Files move over SFTP; an upload lands in ``<remote>.part`` and is renamed into place.
  `push` compares sha256 on the target (base class), and first tries a cheaper check
  that needs no remote shell: after a push, ``<remote>.sha256`` (sha256sum format)
  records the digest; a later push skips when that sidecar holds the local digest, the
  file has the local size and was not modified after the sidecar was written. A login
  shell with heavy startup files costs ~0.1 s per command; this check costs three
  SFTP round trips.
"""

from __future__ import annotations

import codecs
import os
import shlex
import signal
import socket
import stat
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import paramiko

from harness.errors import (
    CommandTimeout,
    DeviceOffline,
    HarnessError,
    TargetCommandFailed,
    TargetDiskFull,
    TransportConfigError,
    TransportError,
    error_from_device_text,
)
from harness.profiles import DeviceProfile, SshTransportSpec
from harness.transports.base import CommandResult, CommandTransport, kill_group_argv, shell_line
from harness.transports.known_hosts import KnownHosts, read_known_hosts
from harness.transports.stream import StreamedProcess

#: printed by the remote shell before it execs the command; followed by its pid (= pgid)
PGID_MARKER = "harness-pgid:"

def parse_jump(jump: str, default_user: str | None) -> tuple[str | None, str, int]:
    """``[user@]host[:port]`` (IPv6 as ``[addr]:port``) -> (user, host, port)."""
    user, _, hostport = jump.rpartition("@")
    user = user or default_user
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_s = rest.lstrip(":")
    elif hostport.count(":") == 1:
        host, _, port_s = hostport.partition(":")
    else:
        host, port_s = hostport, ""
    if not host:
        raise TransportConfigError(f"jump host {jump!r}: expected [user@]host[:port]")
    try:
        port = int(port_s) if port_s else 22
    except ValueError:
        raise TransportConfigError(f"jump host {jump!r}: port {port_s!r} is not a number") from None
    return user, host, port


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH (and paramiko) name a host in known_hosts."""
    return host if port == 22 else f"[{host}]:{port}"


class _UnknownHostKey(Exception):
    def __init__(self, name: str, key: paramiko.PKey):
        super().__init__(name)
        self.name, self.key = name, key


class _RevokedHostKey(_UnknownHostKey):
    def __init__(self, name: str, key: paramiko.PKey, where: str):
        super().__init__(name, key)
        self.where = where


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known: KnownHosts):
        self.known = known

    def missing_host_key(self, client, hostname, key):
        where = self.known.revoked_at(key)
        if where is not None:  # revoked keys are never among the known ones: they all end here
            raise _RevokedHostKey(hostname, key, where)
        raise _UnknownHostKey(hostname, key)


class _TrustOnFirstUse(_RefuseUnknown):
    """Append the key to the known_hosts file and leave a note for the run record."""

    def __init__(self, known: KnownHosts, notes: list[str]):
        super().__init__(known)
        self.known_hosts, self.notes = known.path, notes

    def missing_host_key(self, client, hostname, key):
        where = self.known.revoked_at(key)
        if where is not None:
            raise _RevokedHostKey(hostname, key, where)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.known_hosts, "a") as f:  # append: never rewrite the user's file
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.notes.append(
            f"host key of {hostname} ({key.get_name()} {key.fingerprint}) was not known; "
            f"trusted on first use and added to {self.known_hosts}"
        )


def _tune_socket(sock: socket.socket, keepalive_s: float) -> None:
    """Make a dead peer show up within a few keepalive periods instead of TCP's ~15 min."""
    idle = max(1, int(keepalive_s))
    # ssh sends many small packets; Nagle + delayed ACK would add 40 ms to each command.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", idle), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux: unacknowledged data fails the socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(idle * 4 * 1000))


class SshProcess(StreamedProcess):
    """A command on the target; its stdout is decoded and split by `StreamedProcess`."""

    def __init__(self, transport: SshTransport, channel: paramiko.Channel, argv: list[str], keep_stdout: bool):
        super().__init__(argv, PGID_MARKER, keep_stdout)
        self._transport = transport
        self._chan = channel
        self._stderr: list[str] = []
        self._out_thread = threading.Thread(target=self._read_stdout, daemon=True)
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._out_thread.start()
        self._err_thread.start()
        threading.Thread(target=self._watch_exit, daemon=True).start()

    # -- readers -------------------------------------------------------------------

    def _read_stdout(self) -> None:
        try:
            while True:
                try:
                    chunk = self._chan.recv(65536)
                except (OSError, EOFError, paramiko.SSHException):
                    chunk = b""
                if not chunk:
                    return
                self.feed(chunk)
        finally:
            self.end_of_output()

    def _read_stderr(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                chunk = self._chan.recv_stderr(65536)
            except (OSError, EOFError, paramiko.SSHException):
                chunk = b""
            self._stderr.append(decoder.decode(chunk, final=not chunk))
            if not chunk:
                return

    def _watch_exit(self) -> None:
        self._out_thread.join()
        self._err_thread.join()
        self._chan.status_event.wait()
        if self._chan.exit_status == -1 and not self.killed:
            # No exit-status: killed by a signal (paramiko ignores exit-signal) or the
            # link died. A round trip tells which: it fails only on a dead connection.
            if not self._transport.alive():
                self.error = self._lost_error()
        self._chan.close()
        self._transport._forget(self)
        self.finish()

    def _lost_error(self) -> TransportError:
        return TransportError(
            f"{self._transport.describe()}: connection lost while running {self.argv[0]}"
            f" ({self._transport.lost_reason()})"
        )

    # -- StreamedProcess ------------------------------------------------------------------

    def wait_started(self, timeout: float) -> None:
        if not self.pgid_known.wait(timeout) or self.pgid is None:
            self._chan.close()
            if self.done.wait(1.0) and self.error is not None:
                raise self.error
            raise TransportError(
                f"{self._transport.describe()}: {self.argv[0]} did not start within {timeout:g} s "
                f"(the login shell printed no {PGID_MARKER!r} line; is it a POSIX shell?) "
                f"stderr: {self.stderr.strip()[-300:]!r}"
            )

    def _kill_group(self, pgid: int, grace_s: float) -> int | None:
        return self._transport.run_bare(kill_group_argv(pgid, grace_s), grace_s + 10)

    def _exit_wait_s(self, grace_s: float) -> float:
        return 2.0  # the kill script already waited the grace period

    def _give_up(self) -> None:
        self._chan.close()  # the exit watcher then finishes

    def _exit_status(self) -> int:
        status = self._chan.exit_status
        if status == -1:  # killed by a signal: ours if we sent one, else unknown (ssh does not say)
            return -int(signal.SIGKILL if self.killed_hard else signal.SIGTERM) if self.killed else -1
        return status

    @property
    def returncode(self) -> int | None:
        return self.wait(0) if self.done.is_set() else None

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)


class SshTransport(CommandTransport):
    kind = "ssh"
    spec = SshTransportSpec
    lock_on_target = True  # other hosts may reach it too

    def __init__(self, profile: DeviceProfile):
        super().__init__(profile)
        spec = profile.transport
        if not isinstance(spec, SshTransportSpec):
            raise TransportConfigError(f"profile {profile.id}: transport kind is {spec.kind!r}, not 'ssh'")
        self.spec = spec
        self.workdir = spec.workdir
        #: things the run record should mention (e.g. a host key trusted on first use)
        self.notes: list[str] = []
        self._client: paramiko.SSHClient | None = None
        self._jump: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._running: set[SshProcess] = set()
        self._running_lock = threading.Lock()
        self._ping_lock = threading.Lock()
        self._keepalive_stop = threading.Event()
        self._dead_reason: str | None = None
        # SFTP calls wait at most this long for any reply
        self.io_timeout_s = max(30.0, 3 * spec.connect_timeout_s)

    def describe(self) -> str:
        user = f"{self.spec.user}@" if self.spec.user else ""
        return f"ssh:{self.profile.id} ({user}{self.spec.host}:{self.spec.port})"

    # -- connection ------------------------------------------------------------------

    def _known_hosts_path(self) -> Path:
        return Path(os.path.expanduser(self.spec.known_hosts or "~/.ssh/known_hosts"))

    def _new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        kh = self._known_hosts_path()
        known = KnownHosts(kh, client.get_host_keys())
        if kh.is_file():
            try:
                known = read_known_hosts(kh, into=client.get_host_keys())
            except OSError as e:
                raise TransportConfigError(f"{self.describe()}: cannot read known_hosts {kh}: {e.strerror or e}") from None
            self.notes.extend(n for n in known.notes if n not in self.notes)
        if self.spec.host_key_policy == "trust-on-first-use":
            client.set_missing_host_key_policy(_TrustOnFirstUse(known, self.notes))
        else:
            client.set_missing_host_key_policy(_RefuseUnknown(known))
        return client

    def _connect(self, client: paramiko.SSHClient, host: str, port: int, user: str | None, sock=None) -> None:
        spec = self.spec
        key = os.path.expanduser(spec.key) if spec.key else None
        if sock is None:
            try:
                sock = socket.create_connection((host, port), timeout=spec.connect_timeout_s)
            except ConnectionRefusedError:
                raise DeviceOffline(f"{host}:{port}: connection refused (is sshd running on that port?)") from None
            except socket.gaierror as e:
                raise DeviceOffline(f"{host}:{port}: cannot resolve host name ({e.strerror})") from None
            except TimeoutError:
                raise DeviceOffline(
                    f"{host}:{port}: connection timed out after {spec.connect_timeout_s:g} s"
                ) from None
            except OSError as e:
                raise DeviceOffline(f"{host}:{port}: cannot connect ({e.strerror or e})") from None
            _tune_socket(sock, spec.keepalive_s)
        where = f"{user + '@' if user else ''}{host}:{port}"
        try:
            client.connect(
                host,
                port=port,
                username=user,
                key_filename=key,
                look_for_keys=key is None,
                allow_agent=True,
                timeout=spec.connect_timeout_s,
                banner_timeout=spec.connect_timeout_s,
                auth_timeout=spec.connect_timeout_s,
                channel_timeout=spec.connect_timeout_s,
                sock=sock,
            )
        except _RevokedHostKey as e:
            sock.close()
            raise TransportConfigError(
                f"{where}: host key REVOKED ({e.key.get_name()} {e.key.fingerprint} is listed as @revoked at "
                f"{e.where}); refusing to connect"
            ) from None
        except _UnknownHostKey as e:
            sock.close()
            kh = shlex.quote(str(self._known_hosts_path()))
            scan = shlex.join(["ssh-keyscan", *(["-p", str(port)] if port != 22 else []), host])
            raise TransportConfigError(
                f"{where}: host key unknown ({e.key.get_name()} {e.key.fingerprint}, not in {kh}); "
                f"refusing to connect. If that fingerprint is the board's, trust it with "
                f"`{scan} >> {kh}` or set transport.host_key_policy: trust-on-first-use "
                f"in profile {self.profile.source or self.profile.id}"
            ) from None
        except paramiko.BadHostKeyException as e:
            sock.close()
            raise TransportConfigError(
                f"{where}: host key CHANGED ({e.key.get_name()} {e.key.fingerprint}, known_hosts has "
                f"{e.expected_key.fingerprint}); refusing to connect. If the board was reinstalled, "
                f"remove the old key with `ssh-keygen -R {shlex.quote(known_hosts_name(host, port))} "
                f"-f {shlex.quote(str(self._known_hosts_path()))}`"
            ) from None
        except paramiko.AuthenticationException as e:
            sock.close()
            tried = f"key {key}, ssh agent" if key else "ssh agent, ~/.ssh keys"
            raise TransportConfigError(f"{where}: authentication failed (tried {tried}): {e}") from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            sock.close()
            if "No authentication methods available" in str(e):
                raise TransportConfigError(
                    f"{where}: authentication failed: no key to offer (the profile sets no 'key', "
                    f"no ssh agent answers on SSH_AUTH_SOCK, and ~/.ssh has no id_* key)"
                ) from None
            raise TransportError(f"{where}: ssh handshake failed: {e or type(e).__name__}") from None
        transport = client.get_transport()
        assert transport is not None
        if client is self._client:
            # Replies are checked (like OpenSSH's ServerAliveCountMax=3): a peer that is
            # wedged but whose kernel still ACKs would otherwise never be noticed.
            self._keepalive_stop = threading.Event()
            threading.Thread(
                target=self._keepalive_loop, args=(transport, spec.keepalive_s, self._keepalive_stop), daemon=True
            ).start()
        else:
            transport.set_keepalive(max(1, int(spec.keepalive_s)))

    def open(self) -> SshTransport:
        with self._open_lock:
            if self._client is not None and self.alive(probe=False):
                return self
            self._close_clients()
            self._dead_reason = None
            spec = self.spec
            sock = None
            if spec.jump:
                j_user, j_host, j_port = parse_jump(spec.jump, spec.user)
                self._jump = self._new_client()
                self._connect(self._jump, j_host, j_port, j_user)
                try:
                    jt = self._jump.get_transport()
                    assert jt is not None
                    sock = jt.open_channel(
                        "direct-tcpip", (spec.host, spec.port), ("127.0.0.1", 0), timeout=spec.connect_timeout_s
                    )
                except (paramiko.SSHException, OSError, EOFError) as e:
                    self._close_clients()
                    raise DeviceOffline(
                        f"jump host {spec.jump}: cannot reach {spec.host}:{spec.port} through it: {e}"
                    ) from None
            self._client = self._new_client()
            try:
                self._connect(self._client, spec.host, spec.port, spec.user, sock=sock)
            except TransportError:
                self._close_clients()
                raise
        return self

    def _close_clients(self) -> None:
        self._keepalive_stop.set()
        for c in (self._sftp, self._client, self._jump):
            if c is not None:
                try:
                    c.close()
                except Exception:  # noqa: BLE001 - closing a broken link must not raise
                    pass
        self._sftp = self._client = self._jump = None

    def close(self) -> None:
        self.kill_all()
        self._close_clients()

    def _ping(self, t: paramiko.Transport, timeout: float) -> bool:
        """One keepalive round trip, bounded by `timeout`; close the link if it gets no reply.

        Any reply (sshd answers "request failed") proves the link; paramiko returns early
        without one only once the transport is already dead.
        """
        answered = threading.Event()

        def ask() -> None:
            try:
                t.global_request("keepalive@openssh.com", wait=True)
            except (OSError, EOFError, paramiko.SSHException):
                pass
            answered.set()

        with self._ping_lock:  # paramiko keeps one pending global request per transport
            threading.Thread(target=ask, name="ssh-ping", daemon=True).start()
            if not answered.wait(timeout):
                self._dead_reason = f"no reply to keepalives for {timeout:g} s"
                t.close()
                return False
        return t.is_active()

    def _keepalive_loop(self, t: paramiko.Transport, interval: float, stop: threading.Event) -> None:
        while not stop.wait(interval) and t.is_active():
            if not self._ping(t, timeout=3 * interval):
                return

    def alive(self, probe: bool = True) -> bool:
        """True while the connection works; with `probe`, check it with a round trip."""
        t = self._client.get_transport() if self._client else None
        if t is None or not t.is_active():
            return False
        if probe:
            return self._ping(t, timeout=3 * self.spec.keepalive_s)
        return True

    def lost_reason(self) -> str:
        if self._dead_reason:
            return self._dead_reason
        t = self._client.get_transport() if self._client else None
        exc = getattr(t, "saved_exception", None)
        if exc is None or isinstance(exc, EOFError):
            return "the server closed the connection"
        return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__

    def _transport_or_raise(self) -> paramiko.Transport:
        if self._client is None:
            self.open()
        t = self._client.get_transport() if self._client else None
        if t is None or not t.is_active():
            raise TransportError(f"{self.describe()}: connection lost ({self.lost_reason()})")
        return t

    # -- commands ---------------------------------------------------------------------

    def _start(self, argv: Sequence[str], env, cwd, keep_stdout: bool, start_timeout: float) -> SshProcess:
        argv = [str(a) for a in argv]
        line = f"echo {PGID_MARKER}$$; "
        if cwd:
            line += f"{shell_line(['cd', cwd])} && "
        line += "exec " + shell_line(argv, env=env)
        t = self._transport_or_raise()
        try:
            chan = t.open_session(timeout=self.spec.connect_timeout_s)
            chan.exec_command(line)
        except (paramiko.SSHException, OSError, EOFError) as e:
            if not self.alive(probe=False):
                raise TransportError(f"{self.describe()}: connection lost ({self.lost_reason()})") from None
            raise TransportError(f"{self.describe()}: cannot start {argv[0]}: {e}") from None
        chan.shutdown_write()  # commands read no stdin: give them EOF, never a hang
        proc = SshProcess(self, chan, argv, keep_stdout)
        with self._running_lock:
            self._running.add(proc)
        proc.wait_started(start_timeout)
        return proc

    def _forget(self, proc: SshProcess) -> None:
        with self._running_lock:
            self._running.discard(proc)

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        t0 = time.monotonic()
        proc = self._start(argv, env, cwd, keep_stdout=True, start_timeout=max(timeout, self.spec.connect_timeout_s))
        left = timeout - (time.monotonic() - t0)
        try:
            rc = proc.wait(max(0.0, left))
        except CommandTimeout:
            proc.terminate(grace_s=2.0)
            err = CommandTimeout(
                f"{self.describe()}: {proc.argv[0]} exceeded its {timeout:g} s timeout and was killed "
                f"(process group {proc.pgid})"
            )
            err.stdout, err.stderr = proc.stdout_text, proc.stderr  # type: ignore[attr-defined]
            raise err from None
        return CommandResult(proc.argv, rc, proc.stdout_text, proc.stderr, time.monotonic() - t0)

    def run_bare(self, argv: Sequence[str], timeout: float) -> int:
        """Run a short helper (the kill script) untracked; its exit status. Raise if the link is gone."""
        t = self._transport_or_raise()
        try:
            chan = t.open_session(timeout=self.spec.connect_timeout_s)
            chan.settimeout(timeout)
            chan.exec_command(shell_line(argv))
            done = chan.status_event.wait(timeout)
            chan.close()
            if not done:
                raise TransportError(f"{self.describe()}: {argv[0]} gave no exit status within {timeout:g} s")
            return chan.exit_status
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise TransportError(f"{self.describe()}: {argv[0]} failed: {e}") from None

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> SshProcess:
        return self._start(argv, env, cwd, keep_stdout=False, start_timeout=max(30.0, self.spec.connect_timeout_s))

    def kill_all(self) -> None:
        with self._running_lock:
            procs = list(self._running)
        for p in procs:
            p.terminate(grace_s=2.0)

    # -- files ------------------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._transport_or_raise()
            assert self._client is not None
            try:
                self._sftp = self._client.open_sftp()
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise TransportConfigError(f"{self.describe()}: cannot open SFTP (is the sftp subsystem on?): {e}") from None
            self._sftp.get_channel().settimeout(self.io_timeout_s)
        return self._sftp

    def _sftp_error(self, what: str, e: BaseException) -> HarnessError:
        if isinstance(e, TimeoutError):
            return TransportError(f"{self.describe()}: {what}: no reply within {self.io_timeout_s:g} s")
        if isinstance(e, FileNotFoundError) or getattr(e, "errno", None) == 2:
            return TargetCommandFailed(f"{self.describe()}: {what}: no such file on the target")
        if isinstance(e, PermissionError) or getattr(e, "errno", None) == 13:
            return TransportConfigError(f"{self.describe()}: {what}: permission denied on the target")
        return error_from_device_text(str(e), f"{self.describe()}: {what}: {e or type(e).__name__}",
                                      default=TransportError)

    def upload(self, local: Path, remote: str) -> None:
        local = Path(local)
        parent = remote.rsplit("/", 1)[0] if "/" in remote.strip("/") else ""
        if parent:
            self.run(["mkdir", "-p", parent], timeout=self.io_timeout_s).check(f"mkdir -p {parent} on the target")
        tmp = f"{remote}.part"
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                sftp.put(str(local), tmp, confirm=True)
                st = local.stat()
                sftp.chmod(tmp, st.st_mode & 0o777)
                sftp.utime(tmp, (int(st.st_atime), int(st.st_mtime)))  # keeps the local mtime, as adb push does
                sftp.posix_rename(tmp, remote)
            except (OSError, EOFError, paramiko.SSHException) as e:
                failed = self._sftp_error(f"upload {local} -> {remote}", e)
                try:
                    sftp.remove(tmp)  # a partial upload must not keep the space it took
                except (OSError, EOFError, paramiko.SSHException):
                    pass
            else:
                return
        # SFTP says only "Failure" for a full disk: the target's free space tells
        free = self.free_bytes(parent or self.workdir) if self.alive(probe=False) else None
        if free is not None and free < local.stat().st_size:
            raise TargetDiskFull(f"{self.describe()}: upload {local} -> {remote}: no space left on device "
                                 f"({free} bytes free, {local.stat().st_size} needed)")
        raise failed

    def pull(self, remote: str, local: Path) -> None:
        local = Path(local)
        tmp = local.with_name(local.name + ".part")
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                sftp.get(remote, str(tmp))
            except (OSError, EOFError, paramiko.SSHException) as e:
                tmp.unlink(missing_ok=True)
                raise self._sftp_error(f"pull {remote}", e) from None
        os.replace(tmp, local)

    def read_file(self, remote: str) -> bytes:
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                with sftp.open(remote, "rb") as f:
                    f.prefetch()
                    return f.read()
            except (OSError, EOFError, paramiko.SSHException) as e:
                raise self._sftp_error(f"read {remote}", e) from None

    def _stat_remote(self, remote: str) -> tuple[int, int] | None:
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                st = sftp.stat(remote)
            except FileNotFoundError:
                return None
            except (OSError, EOFError, paramiko.SSHException) as e:
                raise self._sftp_error(f"stat {remote}", e) from None
        if st.st_mode is None or not stat.S_ISREG(st.st_mode) or st.st_size is None or st.st_mtime is None:
            return None
        return int(st.st_size), int(st.st_mtime)

    def _write_remote(self, remote: str, data: bytes, mtime: int) -> None:
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                with sftp.open(remote, "wb") as f:
                    f.write(data)
                sftp.utime(remote, (mtime, mtime))
            except (OSError, EOFError, paramiko.SSHException) as e:
                raise self._sftp_error(f"write {remote}", e) from None
