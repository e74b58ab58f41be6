"""A real OpenSSH server on loopback, for tests that need an ssh "board".

`start_sshd(tmp_path)` writes a throw-away sshd_config, generates a host key and a
client key (ssh-keygen), picks a free port, runs `/usr/sbin/sshd -D -e` in the
foreground and waits until it answers with an SSH banner. Key auth only, for the
current user (root is allowed: CI runs as root). The returned `SshdServer` knows the
port, the keys and a known_hosts file holding the server's host key, can build a
device profile pointing at itself, and `stop()` kills the server together with every
connection it is serving.

Importable from other test folders (`from tests.ssh.sshd import start_sshd`, or with
`tests/ssh` on sys.path: `from sshd import start_sshd`).
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
# Compiled into Debian's sshd: it refuses to start as root without this folder.
PRIVSEP_DIR = Path("/run/sshd")

_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {user}
UsePAM no
AllowTcpForwarding yes
MaxStartups 64:30:128
Subsystem sftp internal-sftp
LogLevel {log_level}
# The session's HOME is the fixture's own folder, so the login shell sources no ~/.bashrc of
# this machine (pyenv init there costs a rehash per command and hangs 60 s on a stale lock).
SetEnv HOME={dir}/home
"""


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    kids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(entry))
    return kids


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in _children(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class SshdServer:
    port: int
    host_key_path: Path
    client_key: Path
    known_hosts: Path
    dir: Path
    proc: subprocess.Popen
    host: str = "127.0.0.1"
    user: str = field(default_factory=getpass.getuser)

    @property
    def log(self) -> str:
        """What sshd wrote to stderr (-e) so far."""
        try:
            return (self.dir / "sshd.log").read_text(errors="replace")
        except OSError:
            return ""

    def host_key_line(self) -> str:
        """The server's host key as a known_hosts line."""
        pub = Path(f"{self.host_key_path}.pub").read_text().split()
        return f"[{self.host}]:{self.port} {pub[0]} {pub[1]}\n"

    def profile_dict(self, device_id: str | None = None, defaults: dict | None = None, **transport: Any) -> dict:
        """A device-profile mapping for this server; `transport` overrides transport fields."""
        spec: dict[str, Any] = {
            "kind": "ssh",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "key": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "workdir": str(self.dir / "work"),
            "connect_timeout_s": 5.0,
            "keepalive_s": 2.0,
        }
        spec.update(transport)
        data = {
            "id": device_id or f"sshd-{self.port}",
            "name": f"loopback sshd on port {self.port}",
            "transport": spec,
        }
        if defaults:
            data["defaults"] = defaults
        return data

    def profile(self, device_id: str | None = None, defaults: dict | None = None, **transport: Any):
        from harness.profiles import parse_profile

        return parse_profile(self.profile_dict(device_id, defaults, **transport), self.dir / "profile.yaml")

    def write_profile(
        self, path: Path, device_id: str | None = None, defaults: dict | None = None, **transport: Any
    ) -> Path:
        import yaml

        path.write_text(yaml.safe_dump(self.profile_dict(device_id, defaults, **transport), sort_keys=False))
        return path

    def connection_pids(self) -> list[int]:
        """The sshd processes serving connections (not the listener, not user commands)."""
        return [p for p in _descendants(self.proc.pid) if _comm(p).startswith("sshd")]

    def drop_connections(self) -> None:
        """SIGKILL every sshd process serving a connection, as a crash or a cut cable would."""
        for pid in self.connection_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Kill the listener and everything it spawned (connections and their commands)."""
        pids = _descendants(self.proc.pid) if self.proc.poll() is None else []
        for pid in [self.proc.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _wait_for_banner(port: int, proc: subprocess.Popen, log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with status {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on port {port} gave no banner within {timeout} s: {log.read_text(errors='replace')}")


def start_sshd(tmp_path: Path, name: str = "sshd", log_level: str = "VERBOSE") -> SshdServer:
    """Start a real sshd on 127.0.0.1 with its own config, host key and client key.

    `log_level` is sshd's LogLevel (DEBUG1 also logs forwarded channels); the log is `server.log`.
    """
    d = Path(tmp_path) / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "work").mkdir(exist_ok=True)
    host_key = d / "ssh_host_ed25519_key"
    client_key = d / "client_ed25519"
    _keygen(host_key, f"{name}-host")
    _keygen(client_key, f"{name}-client")
    (d / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    user = getpass.getuser()
    last_error: Exception | None = None
    for _ in range(5):  # the free port can be taken between probing and binding
        port = _free_port()
        (d / "home").mkdir(exist_ok=True)
        config = d / "sshd_config"
        config.write_text(_CONFIG.format(port=port, host_key=host_key, dir=d, user=user, log_level=log_level))
        log = d / "sshd.log"
        with open(log, "wb") as log_f:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log_f,
                stderr=log_f,
                start_new_session=True,
            )
        try:
            _wait_for_banner(port, proc, log)
        except RuntimeError as e:
            last_error = e
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if "Address already in use" in log.read_text(errors="replace"):
                continue
            raise
        server = SshdServer(
            port=port,
            host_key_path=host_key,
            client_key=client_key,
            known_hosts=d / "known_hosts",
            dir=d,
            proc=proc,
            user=user,
        )
        server.known_hosts.write_text(server.host_key_line())
        return server
    raise RuntimeError(f"could not start sshd: {last_error}")
