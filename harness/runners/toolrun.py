"""Running a tool on a command target: push its files (skipped when the target has the
same bytes), start it under the run's affinity mask, stream its stdout lines, stop it
when the run is cancelled or overruns its deadline, and collect its exit status and
stderr. The agent runner, benchmark_model, the ceilings probe and the llama.cpp runners all
run through here; `target_tool` finds a tool on the target (the profile's ``tools``, PATH).

    out = ToolOutput()
    try:
        run_tool(t, argv, deadline_s=600, on_line=handle, cancel=ctx.cancel,
                 affinity_mask=ctx.config.affinity_mask, what="benchmark_model", output=out)
    finally:
        rec.add_raw("tool_stderr", out.stderr.splitlines())

A deadline overrun raises `CommandTimeout` (transient: a retry may help); a cancelled run
returns normally with ``out.cancelled`` set, after the tool had `cancel_grace_s` to
flush what it measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.digest import sha256_of
from harness.errors import CommandTimeout, HarnessError, TargetDiskFull
from harness.store.record import escape_name
from harness.transports.base import CommandTransport


@dataclass
class ToolOutput:
    returncode: int | None = None
    stderr: str = ""
    cancelled: bool = False


def push_files(t: CommandTransport, files: Sequence[tuple[Path, str]]) -> dict[str, bool]:
    """Push each (local, remote) pair with the transport's hash cache; remote -> whether
    bytes were sent. A full target disk is a `TargetDiskFull` naming the file."""
    sent = {}
    for local, remote in files:
        try:
            sent[remote] = t.push(Path(local), remote)
        except TargetDiskFull as e:
            raise TargetDiskFull(f"{e} (pushing {Path(local).name}, {Path(local).stat().st_size} bytes)") from None
    return sent


def model_remote(t: CommandTransport, sha256: str, local: Path) -> str:
    """Where a model lives on the target: content-addressed, so two models never collide;
    a file name that is not UTF-8 goes there escaped (every remote shell takes it then)."""
    return t.path("models", sha256[:16], escape_name(Path(local).name))


def target_tool(t: CommandTransport, name: str, *, host_default: Callable[[], Path] | None = None) -> tuple[str, dict]:
    """(path on the target, where it came from) of a tool a runner starts (llama-bench…).

    In order: the profile's ``tools`` entry — a path on the target (checked executable), or a
    host file pushed to ``<workdir>/bin/`` with the hash cache —, else the target's PATH, else
    `host_default()` pushed (a program harness builds for this host, on the local transport).
    Nothing is ever downloaded; a tool found nowhere is one `HarnessError` saying where to
    put it."""
    spec = t.profile.tools.get(name)
    if spec is not None and spec.push is not None:
        return _push_tool(t, name, Path(spec.push).expanduser(), "profile tools (pushed)")
    if spec is not None:
        res = t.run(["test", "-x", spec.path], timeout=30)
        if not res.ok:
            raise HarnessError(f"device {t.profile.id!r}: tools.{name}.path {spec.path!r} is not an executable file "
                               "on the target")
        return spec.path, {"path": spec.path, "from": "profile tools"}
    found = t.run(["sh", "-c", 'command -v "$1"', "sh", name], timeout=30)
    if found.ok and found.stdout.strip():
        path = found.stdout.strip().splitlines()[0]
        return path, {"path": path, "from": "PATH on the target"}
    if host_default is not None:
        return _push_tool(t, name, host_default(), "built by harness for this host (pushed)")
    raise HarnessError(
        f"device {t.profile.id!r} has no {name}: it is not on the target's PATH and its profile has no "
        f"tools.{name} (a path on the target, or push: HOST_FILE); harness never downloads it"
    )


def _push_tool(t: CommandTransport, name: str, local: Path, source: str) -> tuple[str, dict]:
    if not local.is_file():
        raise HarnessError(f"{local}: {name} to push to device {t.profile.id!r} not found (profile tools.{name}.push)")
    remote = t.path("bin", name)
    sent = push_files(t, [(local, remote)])[remote]
    t.run(["chmod", "755", remote], timeout=30).check(f"chmod 755 {remote}")
    return remote, {"path": remote, "from": source, "host_file": str(local), "sha256": sha256_of(local),
                    "pushed": sent}


def pinned(argv: list[str], affinity_mask: str | None) -> list[str]:
    """`argv` under ``taskset MASK`` when the run is pinned to a CPU cluster."""
    return ["taskset", affinity_mask, *argv] if affinity_mask else list(argv)


def run_tool(
    t: CommandTransport,
    argv: list[str],
    *,
    deadline_s: float,
    on_line: Callable[[str], None],
    cancel: threading.Event | None = None,
    affinity_mask: str | None = None,
    merge_stderr: bool = False,
    cancel_grace_s: float = 10.0,
    what: str = "tool",
    output: ToolOutput | None = None,
    on_started: Callable[[], None] | None = None,
) -> ToolOutput:
    """Start `argv` (under taskset), feed every stdout line to `on_line`, and wait for it.

    ``merge_stderr``: stderr joins stdout at the source (``sh -c 'exec "$@" 2>&1'``), so a
    log keeps its order on every transport. `output` is filled as the tool runs, so a
    caller keeps its stderr even when this raises. `on_started` is called once the tool
    started (a runner moves its stage from ``start`` to ``run`` there)."""
    out = output if output is not None else ToolOutput()
    cancel = cancel or threading.Event()
    argv = pinned(argv, affinity_mask)
    if merge_stderr:
        argv = ["sh", "-c", 'exec "$@" 2>&1', "sh", *argv]
    proc = t.start(argv)
    if on_started is not None:
        on_started()
    try:
        with Watchdog(proc, cancel, deadline_s, cancel_grace_s=cancel_grace_s, name=f"{what}-watchdog") as dog:
            for line in proc.lines():
                on_line(line)
            out.returncode = proc.wait(timeout=30)
    finally:
        out.stderr = proc.stderr
    if dog.timed_out.is_set():
        raise CommandTimeout(f"{what} exceeded its {deadline_s:g} s deadline and was killed")
    out.cancelled = cancel.is_set()
    return out


class Watchdog:
    """Terminates a streamed process when the run is cancelled or overruns its deadline.

        with Watchdog(proc, ctx.cancel, deadline_s) as dog:
            for line in proc.lines(): ...
        if dog.timed_out.is_set(): raise CommandTimeout(...)

    The process gets `cancel_grace_s` to flush what it measured after a cancel.
    """

    def __init__(self, proc, cancel, deadline_s: float, cancel_grace_s: float = 10.0, name: str = "watchdog"):
        self.proc = proc
        self.cancel = cancel
        self.deadline_s = deadline_s
        self.cancel_grace_s = cancel_grace_s
        self.timed_out = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def _watch(self) -> None:
        limit = time.monotonic() + self.deadline_s
        # wakes as soon as the tool is done (no join delay), and looks at the cancel flag every 50 ms
        while not self._done.wait(0.05):
            if self.cancel.is_set():
                self.proc.terminate(grace_s=self.cancel_grace_s)
                return
            if time.monotonic() > limit:
                self.timed_out.set()
                self.proc.terminate(grace_s=5.0)
                return

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=15)
