"""The host itself as a target: subprocesses, no shell, files copied on disk."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from harness.errors import CommandTimeout, TargetCommandFailed, TargetDiskFull, TransportConfigError
from harness.profiles import LocalTransportSpec
from harness.transports.base import CommandResult, CommandTransport, Process


def default_workdir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "harness", "local")


def _kill_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace_s`.

    The whole group, even when its leader has already exited: a child still holding
    the stdout pipe would otherwise keep a reader blocked.
    """
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.poll()
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class LocalProcess(Process):
    def __init__(self, proc: subprocess.Popen, argv: list[str]):
        self.argv = argv
        self._proc = proc
        self._stderr: list[str] = []
        # Drain stderr in the background so a chatty process cannot block on a full pipe.
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            yield line.rstrip("\r\n")

    def terminate(self, grace_s: float = 5.0) -> None:
        _kill_group(self._proc, grace_s)

    def wait(self, timeout: float | None = None) -> int:
        try:
            rc = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(f"{self.argv[0]} did not exit within {timeout} s") from None
        self._stderr_thread.join(timeout=5)
        return rc

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)


class LocalTransport(CommandTransport):
    kind = "local"
    spec = LocalTransportSpec

    def __init__(self, profile):
        super().__init__(profile)
        self.workdir = getattr(profile.transport, "workdir", None) or default_workdir()
        self._started: list[LocalProcess] = []

    def open(self) -> LocalTransport:
        os.makedirs(self.workdir, exist_ok=True)
        return self

    def close(self) -> None:
        self.kill_all()

    def _popen(self, argv: list[str], env, cwd) -> subprocess.Popen:
        """No shell, no stdin, its own process group (so a kill takes its children too)."""
        merged = dict(os.environ)
        merged.update(env or {})
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=merged,
            cwd=cwd,
            start_new_session=True,
        )

    def run(self, argv: Sequence[str], timeout: float, env=None, cwd=None) -> CommandResult:
        argv = [str(a) for a in argv]
        t0 = time.monotonic()
        try:
            proc = self._popen(argv, env, cwd)
        except FileNotFoundError:
            return CommandResult(argv, 127, "", f"{argv[0]}: command not found", 0.0)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc, grace_s=2.0)
            proc.communicate()  # drain and close the pipes
            raise CommandTimeout(
                f"{argv[0]} exceeded its {timeout:g} s timeout and was killed (with its children)"
            ) from None
        return CommandResult(argv, proc.returncode, out, err, time.monotonic() - t0)

    def start(self, argv: Sequence[str], env=None, cwd=None) -> LocalProcess:
        argv = [str(a) for a in argv]
        try:
            proc = self._popen(argv, env, cwd)
        except FileNotFoundError:
            raise TransportConfigError(f"{argv[0]}: command not found on the local host") from None
        p = LocalProcess(proc, argv)
        self._started.append(p)
        return p

    def upload(self, local: Path, remote: str) -> None:
        tmp = f"{remote}.part"
        try:
            os.makedirs(os.path.dirname(remote) or ".", exist_ok=True)
            shutil.copy2(local, tmp)  # keeps the mtime: the push's sidecar check relies on it
            os.replace(tmp, remote)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            what = f"copy {local} -> {remote} on the local host: {e.strerror or e}"
            raise (TargetDiskFull(what) if e.errno in (errno.ENOSPC, errno.EDQUOT) else TransportConfigError(what)) from None

    def _stat_remote(self, remote: str) -> tuple[int, int] | None:
        """(size, mtime) of a file in the work folder: a push finds an unchanged copy by its
        sidecar instead of hashing it again."""
        try:
            st = os.stat(remote)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise TargetCommandFailed(f"cannot stat {remote} on the local host: {e.strerror}") from None
        return (st.st_size, int(st.st_mtime)) if stat.S_ISREG(st.st_mode) else None

    def _write_remote(self, remote: str, data: bytes, mtime: int) -> None:
        try:
            Path(remote).write_bytes(data)
            os.utime(remote, (mtime, mtime))
        except OSError as e:
            raise TargetCommandFailed(f"cannot write {remote} on the local host: {e.strerror}") from None

    def pull(self, remote: str, local: Path) -> None:
        try:
            shutil.copyfile(remote, local)
        except OSError as e:
            raise TargetCommandFailed(f"cannot pull {remote} on the local host: {e.strerror}") from None

    def read_file(self, remote: str) -> bytes:
        try:
            return Path(remote).read_bytes()
        except OSError as e:
            raise TargetCommandFailed(f"cannot read {remote} on the local host: {e.strerror}") from None

    def kill_all(self) -> None:
        for p in self._started:
            p.terminate(grace_s=2.0)
        self._started.clear()
