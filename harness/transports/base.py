"""The one interface the rest of the package uses to reach a target.

Two shapes share one lifecycle (`open` / `close`, usable as a context manager):

- `CommandTransport` (local, ssh, adb): run a command with a timeout, start a
  long-running command and stream its stdout lines, push/pull files (a push is
  skipped when the target already holds a file with the same sha256, known from a
  digest sidecar or hashed on the target), read a file, kill what it started.
- `LineTransport` (serial): line-oriented request/response with a timeout on every
  read.

Commands are argument lists, never shell strings. A transport that has to go
through a remote shell builds the line with `shell_line`, which quotes every
argument, so no user string (a model path, say) is ever interpreted by a shell.
"""

from __future__ import annotations

import posixpath
import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from harness.digest import RACY_S, md5_of, sha256_of
from harness.errors import TargetCommandFailed, TransportError, error_from_device_text

if TYPE_CHECKING:
    from harness.profiles import DeviceProfile


#: `sh -c KILL_GROUP sh PGID STEPS`: SIGTERM process group PGID, wait up to STEPS tenths of
#: a second, then SIGKILL it (exit status 3 then). Falls back to the single pid when PGID
#: leads no group (a session that was not made a process group). `kill -SIG -PGID`, no
#: `--`: dash, bash, busybox sh and mksh (Android's sh) all read it the same way.
KILL_GROUP = (
    'g="-$1"; kill -0 "$g" 2>/dev/null || g="$1"; '
    'kill -TERM "$g" 2>/dev/null || exit 0; i=0; '
    'while [ "$i" -lt "$2" ]; do kill -0 "$g" 2>/dev/null || exit 0; sleep 0.1; i=$((i+1)); done; '
    'kill -KILL "$g" 2>/dev/null; exit 3'
)

#: the digest sidecar next to a pushed file (see `CommandTransport.push`)
SIDECAR_SUFFIX = ".sha256"


def kill_group_argv(pgid: int, grace_s: float) -> list[str]:
    """The command that stops process group `pgid` on a target, SIGKILL after `grace_s`."""
    return ["sh", "-c", KILL_GROUP, "sh", str(int(pgid)), str(max(1, round(grace_s * 10)))]


def shell_line(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """A POSIX shell command line for `argv`, every argument quoted."""
    parts: list[str] = []
    if cwd:
        parts.append(f"cd {shlex.quote(cwd)} &&")
    if env:
        parts.append("env")
        parts.extend(shlex.quote(f"{k}={v}") for k, v in env.items())
    parts.append(shlex.join(argv))
    return " ".join(parts)


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self, what: str | None = None) -> CommandResult:
        """Raise an error naming the command and its stderr unless it succeeded (its kind from
        what the target said: `harness.errors.error_from_device_text`)."""
        if self.returncode != 0:
            tail = (self.stderr or self.stdout).strip().splitlines()[-3:]
            detail = " | ".join(tail) if tail else "no output"
            message = f"{what or shlex.join(self.argv)} failed with exit status {self.returncode}: {detail}"
            raise error_from_device_text(self.stderr + self.stdout, message, default=TargetCommandFailed)
        return self


@dataclass
class TargetInfo:
    """What `harness devices check` reports about a reachable target."""

    reachable: bool
    reason: str | None = None
    os: str | None = None
    arch: str | None = None
    python: str | None = None
    runtimes: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    free_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    #: board or phone model (device tree, getprop)
    board: str | None = None
    #: helper programs found on the target: name -> path (taskset, sha256sum, tegrastats…)
    tools: dict[str, str] = field(default_factory=dict)


class Process(ABC):
    """A command started on the target whose stdout is read line by line."""

    argv: list[str]

    @abstractmethod
    def lines(self) -> Iterator[str]:
        """Stdout lines without their line ending, as they arrive, until the process exits."""

    @abstractmethod
    def terminate(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after `grace_s` if it is still alive."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit; return the exit status (negative: killed by that signal)."""

    @property
    @abstractmethod
    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""


class Transport(ABC):
    """Lifecycle shared by every transport.

    A transport class declares `kind` (the profile's ``transport.kind``, and its entry
    point name in ``harness.transports``) and `spec` (the pydantic model of the profile's
    ``transport`` section: the built-ins' are in `harness.profiles`; a plugin's subclasses
    `harness.profiles.PluginTransportSpec`)."""

    kind: ClassVar[str]
    spec: ClassVar[type]
    #: where a session's device lock lives (`harness.device_lock`): False, a file on this host
    #: (a device only this host reaches); True, on the target (other hosts may reach it too)
    lock_on_target: ClassVar[bool] = False

    def __init__(self, profile: DeviceProfile):
        self.profile = profile

    def open(self) -> Transport:  # noqa: B027 - optional hook
        return self

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.kind}:{self.profile.id}"

    def info(self) -> TargetInfo:
        """What `harness devices check` reports once the target is open."""
        return TargetInfo(reachable=True, notes=[f"{self.describe()} opened"])

    def lock_key(self) -> str:
        """What names the device among this host's device locks (for `lock_on_target` False)."""
        return f"{self.kind}-{self.profile.id}"

    def hardware_serial(self) -> str | None:
        """A serial number of the target's hardware, for the benchmark key (None: unknown)."""
        return None


class CommandTransport(Transport):
    """A target that runs commands (local host, ssh, adb)."""

    #: where pushed files live on the target
    workdir: str

    @abstractmethod
    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        """Run to completion; kill it (and its children) at `timeout` and raise `CommandTimeout`."""

    @abstractmethod
    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Process:
        """Start a long-running command and stream its stdout lines."""

    @abstractmethod
    def upload(self, local: Path, remote: str) -> None:
        """Copy a file to the target, creating parent folders."""

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None:
        """Copy a file from the target."""

    @abstractmethod
    def read_file(self, remote: str) -> bytes:
        """The contents of a file on the target."""

    @abstractmethod
    def kill_all(self) -> None:
        """Kill every process this transport started that is still running."""

    # -- shared behaviour ------------------------------------------------------------

    def path(self, *parts: str) -> str:
        """A path under the target's work folder."""
        return "/".join([self.workdir.rstrip("/"), *parts])

    def remote_digest(self, remote: str) -> tuple[str, str] | None:
        """(algorithm, hex digest) of a remote file, or None if it does not exist.

        Uses `sha256sum`, or `md5sum` on targets without it (old toybox builds).
        """
        for algo, tool in (("sha256", "sha256sum"), ("md5", "md5sum")):
            res = self.run([tool, remote], timeout=60)
            if res.ok and res.stdout.strip():
                return algo, res.stdout.split()[0].lower()
            if "No such file" in res.stderr or "No such file" in res.stdout:
                return None
        return None

    def push(self, local: Path, remote: str) -> bool:
        """Upload `local` unless the target already has identical content at `remote`.

        Returns True when bytes were transferred, False when the push was skipped.

        Fast path, on transports that can stat and write files without a shell (ssh,
        adb: `_stat_remote`, `_write_remote`): a sidecar ``remote.sha256`` in sha256sum's
        format (``<sha256>  <name>``) whose own mtime is the mtime the file had when its
        digest was recorded (uploads keep the local file's mtime). It is trusted when it
        holds the local file's sha256 and the file still has the local size and that
        mtime: a change on the target stamps the target's current time. A file whose
        mtime is within RACY_S of now gets no sidecar (a change in that same second
        could keep it). Otherwise the target hashes its copy (sha256sum, else md5sum).
        """
        local = Path(local)
        digest = sha256_of(local)
        if self._sidecar_matches(remote, digest, local.stat().st_size):
            return False
        have = self.remote_digest(remote)
        sent = have is None or have[1] != (digest if have[0] == "sha256" else md5_of(local))
        if sent:
            self.upload(local, remote)
        self._write_sidecar(remote, digest)
        return sent

    def _stat_remote(self, remote: str) -> tuple[int, int] | None:
        """(size, mtime in whole seconds) of a regular file on the target, None if there is
        none. The default (no cheap stat: the local transport) disables the sidecar."""
        return None

    def _write_remote(self, remote: str, data: bytes, mtime: int) -> None:
        """Write a small file (its folder exists) and set its mtime; with `_stat_remote`."""
        raise NotImplementedError(f"{type(self).__name__} has no direct file write")

    def _sidecar_matches(self, remote: str, digest: str, size: int) -> bool:
        try:
            st = self._stat_remote(remote)
            if st is None or st[0] != size:
                return False
            side = self._stat_remote(remote + SIDECAR_SUFFIX)
            if side is None or side[1] != st[1]:
                return False
            recorded = self.read_file(remote + SIDECAR_SUFFIX)[:200].decode("ascii", "replace").split()
        except TransportError:
            return False  # no sidecar, or unreadable: the target hashes its copy instead
        return bool(recorded) and recorded[0] == digest

    def _write_sidecar(self, remote: str, digest: str) -> None:
        try:
            st = self._stat_remote(remote)
            if st is None or time.time() - st[1] <= RACY_S:
                return
            line = f"{digest}  {posixpath.basename(remote)}\n"
            self._write_remote(remote + SIDECAR_SUFFIX, line.encode(), st[1])
        except TransportError:
            pass  # only an optimisation: the next push hashes on the target instead

    def hardware_serial(self) -> str | None:
        """The board's serial (device tree), the phone's (``ro.serialno``), else the OS's
        machine id; None when the target has none of them."""
        try:
            res = self.run(["sh", "-c", _PROBE_SERIAL], timeout=30)
        except TransportError:
            return None
        value = res.stdout.replace("\x00", "").strip().splitlines()
        return value[0][:64] if res.ok and value and value[0] else None

    def free_bytes(self, path: str) -> int | None:
        """Free bytes of the file system holding `path` on the target (`df -Pk`), None if unknown."""
        try:
            res = self.run(["df", "-Pk", path], timeout=30)
            return int(res.stdout.strip().splitlines()[-1].split()[3]) * 1024 if res.ok else None
        except (TransportError, IndexError, ValueError):
            return None

    def which(self, program: str) -> bool:
        res = self.run(["sh", "-c", 'command -v "$1"', "sh", program], timeout=30)
        return res.ok and bool(res.stdout.strip())

    def agent_python(self) -> str:
        """The Python interpreter the agent runs under on this target."""
        if self.profile.defaults.python:
            return self.profile.defaults.python
        if self.kind == "local":
            import sys

            return sys.executable
        return "python3"

    def info(self) -> TargetInfo:
        """OS, architecture, board, Python, runtimes, tools and free space, for `devices check`.

        Two commands: one POSIX-sh probe (works on Linux boards and Android's toybox
        shell alike) and one Python probe with the interpreter the agent would use.
        """
        import json

        t0 = time.monotonic()
        info = TargetInfo(reachable=True, workdir=self.workdir)
        probe = self.run(["sh", "-c", _PROBE_SYSTEM, "sh", self.workdir], timeout=60)
        facts: dict[str, str] = {}
        for line in probe.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep and value.strip():
                facts[key] = value.strip()
        if not facts:
            info.notes.append(f"system probe gave nothing (status {probe.returncode}): {probe.stderr[-200:]!r}")
        distro = f"Android {facts['android']}" if facts.get("android") else facts.get("distro")
        info.os = ", ".join(v for v in (distro, facts.get("kernel")) if v) or None
        info.arch = facts.get("arch")
        info.board = facts.get("model")
        if facts.get("l4t"):
            info.notes.append(f"L4T: {facts['l4t']}")
        info.tools = {k[5:]: v for k, v in facts.items() if k.startswith("tool.")}
        if "taskset" not in info.tools:
            info.notes.append("taskset not found: runs cannot be pinned to a CPU cluster")
        if "df" in facts:
            try:
                info.free_bytes = int(facts["df"].split()[3]) * 1024
            except (IndexError, ValueError):
                info.notes.append(f"could not read free space from df: {facts['df']!r}")
        if facts.get("workdir_ok") != "1":
            info.notes.append(f"cannot create the work folder {self.workdir} on the target")
        python = self.agent_python()
        py = self.run([python, "-c", _PROBE_RUNTIMES], timeout=60)
        if py.ok:
            try:
                found = json.loads(py.stdout.strip().splitlines()[-1])
                info.python = found.pop("python")
                info.runtimes = found
            except (ValueError, IndexError, KeyError):
                info.notes.append(f"could not read the {python} probe output: {py.stdout[-200:]!r}")
        else:
            info.notes.append(
                f"{python} does not run on the target (status {py.returncode}); the agent runner needs it"
                " (set defaults.python in the profile)"
            )
        info.notes.append(f"probe took {time.monotonic() - t0:.2f} s")
        return info


# Run on the target by `hardware_serial()`: the first serial it finds.
_PROBE_SERIAL = (
    "for f in /proc/device-tree/serial-number /sys/firmware/devicetree/base/serial-number; do "
    '[ -r "$f" ] && tr -d "\\000" < "$f" && echo && exit 0; done; '
    "s=$(getprop ro.serialno 2>/dev/null) && [ -n \"$s\" ] && echo \"$s\" && exit 0; "
    "cat /etc/machine-id 2>/dev/null"
)

# Run on the target by `info()` as `sh -c _PROBE_SYSTEM sh WORKDIR`: key=value lines.
_PROBE_SYSTEM = r"""
w="$1"
echo "kernel=$(uname -s 2>/dev/null) $(uname -r 2>/dev/null)"
echo "arch=$(uname -m 2>/dev/null)"
[ -r /etc/os-release ] && echo "distro=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
[ -r /proc/device-tree/model ] && echo "model=$(tr -d '\000' < /proc/device-tree/model)"
[ -r /etc/nv_tegra_release ] && echo "l4t=$(head -n 1 /etc/nv_tegra_release)"
if command -v getprop >/dev/null 2>&1; then
  echo "android=$(getprop ro.build.version.release)"
  echo "model=$(getprop ro.product.manufacturer) $(getprop ro.product.model)"
fi
for t in taskset sha256sum md5sum tegrastats vcgencmd nvpmodel jetson_clocks benchmark_model; do
  p=$(command -v "$t" 2>/dev/null) && echo "tool.$t=$p"
done
mkdir -p "$w" 2>/dev/null && echo "workdir_ok=1"
echo "df=$(df -Pk "$w" 2>/dev/null | tail -n 1)"
"""

# Run on the target by `info()`: which runtimes import, and their versions.
_PROBE_RUNTIMES = r"""
import json, platform
found = {"python": platform.python_version()}
for mod, name in (("ai_edge_litert", "ai_edge_litert"), ("tflite_runtime", "tflite_runtime"),
                  ("onnxruntime", "onnxruntime"), ("numpy", "numpy")):
    try:
        m = __import__(mod)
        found[name] = getattr(m, "__version__", "unknown")
    except Exception:
        pass
print(json.dumps(found))
"""


class LineTransport(Transport):
    """A line-oriented request/response target (serial)."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send raw bytes."""

    @abstractmethod
    def read_line(self, timeout: float) -> str | None:
        """One line without its ending; None if no complete line arrived in time."""
