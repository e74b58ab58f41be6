"""One device, one session: the lock a run holds on its device while it measures.

Two sessions measuring one board at once corrupt both measurements, so `run_planned`
takes its device's lock right after it connects, before anything is measured. Where the
lock lives follows who can reach the device (`Transport.lock_on_target`):

- **on this host** (local, serial, QEMU: devices only this host reaches): a file under
  `lock_dir()` named by `Transport.lock_key()`, held with ``flock``. The kernel lets go
  when the holder dies, so this lock is never stale; the file names its holder.
- **on the target** (ssh, adb: devices several hosts may reach): a symbolic link
  ``<workdir>/.harness-device.lock`` whose text is the target's boot id and the holder
  (`harness.owner.Owner`) as JSON. ``ln -s`` makes it in one step that fails if it exists,
  in every POSIX shell (bash, dash, busybox, toybox). The holder renews the link every
  `HEARTBEAT_S`; its mtime, read by the target's own clock, is the heartbeat.
  The link is stale — taken over, with a note — when the target has rebooted since, when
  its holder's process is gone (a holder on this host: certain), or when its heartbeat is
  older than `STALE_S` (a holder on another host).

A busy device is waited for up to ``wait_s`` (a ``note:`` line says who holds it), then
`DeviceBusy`: one line naming the device and its holder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from harness.cache import cache_root
from harness.errors import DeviceBusy, HarnessError, RunAborted
from harness.owner import Owner
from harness.transports.base import CommandTransport, Transport

log = logging.getLogger("harness.device_lock")

#: how long a run waits for a busy device by default (``HARNESS_DEVICE_WAIT_S`` overrides)
DEFAULT_WAIT_S = 60.0
#: how often a target lock's holder renews it, and when another host may presume it dead
HEARTBEAT_S = 15.0
STALE_S = 90.0
#: the lock on a target, under its work folder
TARGET_LOCK = ".harness-device.lock"

# $1 lock path, $2 holder JSON. Prints TAKEN and the link's text, or HELD, the link's text,
# the target's clock and the link's mtime (seconds) and the target's boot id.
_TAKE = (
    'b=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null); mkdir -p "${1%/*}" || exit 4; '
    'if ln -s "$b|$2" "$1" 2>/dev/null; then echo TAKEN; readlink "$1"; exit 0; fi; '
    'echo HELD; readlink "$1"; date +%s; stat -c %Y "$1" 2>/dev/null; echo "$b"'
)
# $1 lock path, $2 the text it must still hold: renew its mtime (exit 3: not ours any more)
_RENEW = '[ "$(readlink "$1")" = "$2" ] || exit 3; ln -s "$2" "$1.$$" && mv -f "$1.$$" "$1"'
# $1 lock path, $2 the text it must hold: remove it (a release, or taking over a stale lock)
_REMOVE = '[ "$(readlink "$1")" = "$2" ] && rm -f "$1"; exit 0'


def default_wait_s() -> float:
    try:
        return float(os.environ.get("HARNESS_DEVICE_WAIT_S", DEFAULT_WAIT_S))
    except ValueError:
        raise HarnessError(f"HARNESS_DEVICE_WAIT_S={os.environ['HARNESS_DEVICE_WAIT_S']!r} is not a number "
                           "of seconds") from None


def lock_dir() -> Path:
    """Where host locks live: ``HARNESS_LOCK_DIR``, else ``<user cache>/locks``."""
    return Path(os.environ.get("HARNESS_LOCK_DIR") or cache_root() / "locks")


#: the target locks this process holds now (their text): one of its own it does not hold any
#: more was left behind by a lost connection
_HELD: set[str | None] = set()


class _Held(Exception):
    """The lock is held by someone else (`holder`; None: being made or unreadable)."""

    def __init__(self, holder: Owner | None):
        self.holder = holder


class HostLock:
    """An ``flock``-held file on this host."""

    def __init__(self, key: str):
        self.path = lock_dir() / (re.sub(r"[^A-Za-z0-9_.-]", "_", key).strip(".") + ".lock")
        self._fd: int | None = None

    def try_take(self, me: Owner) -> list[str]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise HarnessError(f"cannot make the device lock {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0)
            os.close(fd)
            raise _Held(_owner(text.decode("utf-8", "replace"))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.model_dump_json().encode(), 0)
        self._fd = fd
        return []

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing lets go of the flock
            self._fd = None


class TargetLock:
    """A symbolic link on the target, renewed by a heartbeat thread while held."""

    def __init__(self, transport: CommandTransport):
        self.t = transport
        self.path = transport.path(TARGET_LOCK)
        self.text: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sh(self, script: str, *args: str, timeout: float = 20.0):
        return self.t.run(["sh", "-c", script, "sh", self.path, *args], timeout=timeout)

    def try_take(self, me: Owner) -> list[str]:
        res = self._sh(_TAKE, me.model_dump_json())
        lines = res.stdout.splitlines()
        if res.returncode != 0 or not lines:
            raise HarnessError(f"cannot make the device lock {self.path} on the target: "
                               f"{(res.stderr or res.stdout).strip() or f'exit status {res.returncode}'}")
        if lines[0] == "TAKEN":
            self.text = lines[1] if len(lines) > 1 else ""
            _HELD.add(self.text)
            self._thread = threading.Thread(target=self._beat, name="device-lock-heartbeat", daemon=True)
            self._thread.start()
            return []
        text, now, mtime, boot = (lines[1:] + ["", "", "", ""])[:4]
        if not text:
            raise _Held(None)  # released between the two steps: try again
        held_boot, _, owner_json = text.partition("|")
        holder = _owner(owner_json)
        why = None
        if held_boot and boot and held_boot != boot:
            why = "the target rebooted since it was taken"
        elif holder is None:
            why = "it names no holder"
        elif holder.is_me() and text not in _HELD:
            why = "this process left it when its connection to the target was lost"
        else:
            holder.heartbeat = _float(mtime)
            if holder.gone(STALE_S, now=_float(now)):
                why = f"its holder ({holder.describe()}) is gone"
        if why is None:
            raise _Held(holder)
        self._sh(_REMOVE, text)
        notes = self.try_take(me)  # a rival taking it over too at this moment wins or loses here
        return [f"took over a stale device lock on the target ({why})", *notes]

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                res = self._sh(_RENEW, self.text or "")
            except HarnessError:
                continue  # the connection is in trouble: the run will say so
            if res.returncode == 3:
                self.lost = "the device lock was taken over by another session mid-run"
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.text is not None and self.lost is None:
            try:
                self._sh(_REMOVE, self.text, timeout=10)
            except HarnessError:
                pass  # unreachable now: the lock goes stale (heartbeat, or this process's next look) and is taken over
        _HELD.discard(self.text)
        self.text = None


def _owner(text: str) -> Owner | None:
    try:
        return Owner.model_validate_json(text)
    except (ValidationError, ValueError):
        return None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


class DeviceLock:
    """The lock of the device behind an open transport; a context manager.

    `notes` says what taking it involved (a wait, a stale lock taken over); `lost` is set
    when a target lock was taken over by someone else while it was held."""

    def __init__(self, transport: Transport, what: str = "harness run", wait_s: float | None = None,
                 cancel: threading.Event | None = None, on_wait: Callable[[str], None] | None = None):
        self.transport = transport
        self.what = what
        self.wait_s = default_wait_s() if wait_s is None else wait_s
        self.cancel = cancel
        self.on_wait = on_wait or (lambda message: log.warning("note: %s", message))
        self.notes: list[str] = []
        target = transport.lock_on_target and isinstance(transport, CommandTransport)
        self._lock = TargetLock(transport) if target else HostLock(transport.lock_key())

    @property
    def lost(self) -> str | None:
        return getattr(self._lock, "lost", None)

    def acquire(self) -> DeviceLock:
        device = self.transport.describe()
        started = time.monotonic()
        told = False
        pause = 0.2
        quick = 3  # a lock let go between our two looks is tried again at once, a few times
        while True:
            try:
                self.notes.extend(self._lock.try_take(Owner.me(self.what)))
                break
            except _Held as held:
                if held.holder is None and quick:
                    quick -= 1
                    continue
                holder = held.holder.describe() if held.holder else "another session"
                waited = time.monotonic() - started
                if waited >= self.wait_s:
                    raise DeviceBusy(f"device {device} is in use by {holder}; waited {waited:.0f} s for it "
                                     "(HARNESS_DEVICE_WAIT_S sets how long)") from None
                if not told:
                    self.on_wait(f"device {device} is in use by {holder}: waiting up to {self.wait_s:g} s for it")
                    told = True
            if self.cancel is not None and self.cancel.wait(pause):
                raise RunAborted("aborted while waiting for the device")
            if self.cancel is None:
                time.sleep(pause)
            pause = min(pause * 2, 2.0)
        waited = time.monotonic() - started
        if told:
            self.notes.append(f"waited {waited:.1f} s for the device (another session held it)")
        return self

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> DeviceLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

