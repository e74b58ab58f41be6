"""The farm's memory, kept in the results store: device health, reservations, live status.

One SQLite file, ``<results>/farm/registry.sqlite`` (run records are never in it; the
store ignores the folder, having no manifest there). SQLite because a person's
`harness farm reserve` and the nightly `harness farm run` write it at the same time from
different processes: every change is one short transaction.

Tables: ``devices`` (health state, reason, degraded flag), ``outcomes`` (one row per job
attempt, the input of the quarantine rule), ``checks`` (liveness checks), ``canary`` (the
canary's median per device and night, with its run id), ``reservations`` (device, owner,
expiry), ``live`` (the job each device runs now, the queue, the driver's heartbeat),
``durations`` (how long each passed job took on its device: the scheduler's estimates).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.store.store import RunStore

#: after LAVA: only good, unknown and suspect devices get jobs
STATES = ("good", "unknown", "suspect", "quarantined", "maintenance", "retired")
SCHEDULABLE = ("good", "unknown", "suspect")
#: set by a person with `harness farm mark`
MANUAL_STATES = ("good", "maintenance", "retired", "unknown")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT, since REAL NOT NULL,
    degraded INTEGER NOT NULL DEFAULT 0, degraded_reason TEXT
);
CREATE TABLE IF NOT EXISTS outcomes (
    device TEXT NOT NULL, at REAL NOT NULL, job TEXT, run_id TEXT, outcome TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS outcomes_device ON outcomes(device, at);
CREATE TABLE IF NOT EXISTS checks (device TEXT NOT NULL, at REAL NOT NULL, ok INTEGER NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS canary (
    device TEXT NOT NULL, series TEXT NOT NULL, night TEXT NOT NULL, at REAL NOT NULL,
    run_id TEXT NOT NULL, median_s REAL NOT NULL, z REAL
);
CREATE TABLE IF NOT EXISTS reservations (
    device TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, note TEXT
);
CREATE TABLE IF NOT EXISTS durations (job TEXT NOT NULL, family TEXT NOT NULL, device TEXT, at REAL NOT NULL,
    seconds REAL NOT NULL);
CREATE INDEX IF NOT EXISTS durations_family ON durations(family, at);
CREATE TABLE IF NOT EXISTS live (device TEXT PRIMARY KEY, job TEXT, started REAL);
CREATE TABLE IF NOT EXISTS driver (id INTEGER PRIMARY KEY CHECK (id = 1), plan TEXT, pid INTEGER, host TEXT,
    started REAL, heartbeat REAL, queued INTEGER, running INTEGER, done INTEGER);
"""

#: a driver whose heartbeat is older than this is gone (its live rows are stale)
STALE_S = 30.0


@dataclass
class DeviceHealth:
    id: str
    state: str = "unknown"
    reason: str | None = None
    since: float | None = None
    degraded: bool = False
    degraded_reason: str | None = None

    @property
    def schedulable(self) -> bool:
        return self.state in SCHEDULABLE


@dataclass
class Reservation:
    device: str
    owner: str
    created: float
    expires: float
    note: str | None = None


def registry_path(results: Path | str | None) -> Path:
    return RunStore(results).root / "farm" / "registry.sqlite"


class Registry:
    def __init__(self, results: Path | str | None = None):
        self.path = registry_path(results)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            db.executescript(_SCHEMA)  # commits by itself
        finally:
            db.close()

    @contextmanager
    def _tx(self, write: bool = True):
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    # -- health --------------------------------------------------------------------------

    def health(self, device: str) -> DeviceHealth:
        with self._tx(write=False) as db:
            row = db.execute(
                "SELECT state, reason, since, degraded, degraded_reason FROM devices WHERE id = ?", (device,)
            ).fetchone()
        if row is None:
            return DeviceHealth(device)
        return DeviceHealth(device, row[0], row[1], row[2], bool(row[3]), row[4])

    def set_state(self, device: str, state: str, reason: str | None = None) -> None:
        if state not in STATES:
            raise HarnessError(f"unknown health state {state!r} (states: {', '.join(STATES)})")
        with self._tx() as db:
            db.execute(
                "INSERT INTO devices (id, state, reason, since) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "since = CASE WHEN devices.state = excluded.state THEN devices.since ELSE excluded.since END",
                (device, state, reason, time.time()),
            )

    def set_degraded(self, device: str, degraded: bool, reason: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO devices (id, state, since, degraded, degraded_reason) VALUES (?, 'unknown', ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET degraded = excluded.degraded, degraded_reason = excluded.degraded_reason",
                (device, time.time(), int(degraded), reason),
            )

    def record_outcome(self, device: str, outcome: str, job: str | None = None, run_id: str | None = None,
                       detail: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO outcomes (device, at, job, run_id, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (device, time.time(), job, run_id, outcome, detail),
            )

    def recent_outcomes(self, device: str, n: int) -> list[str]:
        """The device's last `n` job outcomes, newest first."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT outcome FROM outcomes WHERE device = ? ORDER BY at DESC, rowid DESC LIMIT ?", (device, n)
            ).fetchall()
        return [r[0] for r in rows]

    def record_check(self, device: str, ok: bool, detail: str | None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO checks (device, at, ok, detail) VALUES (?, ?, ?, ?)",
                       (device, time.time(), int(ok), detail))

    def recent_checks(self, device: str, n: int) -> list[tuple[bool, str | None]]:
        """The device's last `n` liveness checks (passed, detail), newest first."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT ok, detail FROM checks WHERE device = ? ORDER BY at DESC, rowid DESC LIMIT ?", (device, n)
            ).fetchall()
        return [(bool(ok), detail) for ok, detail in rows]

    # -- canary --------------------------------------------------------------------------

    def canary_history(self, device: str, series: str, n: int) -> list[float]:
        """The device's last `n` canary medians (seconds) of this series, oldest first."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT median_s FROM canary WHERE device = ? AND series = ? ORDER BY at DESC LIMIT ?",
                (device, series, n),
            ).fetchall()
        return [r[0] for r in reversed(rows)]

    def add_canary(self, device: str, series: str, night: str, run_id: str, median_s: float, z: float | None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO canary (device, series, night, at, run_id, median_s, z) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (device, series, night, time.time(), run_id, median_s, z),
            )

    # -- job durations -------------------------------------------------------------------

    def add_duration(self, job: str, family: str, device: str, seconds: float) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO durations (job, family, device, at, seconds) VALUES (?, ?, ?, ?, ?)",
                       (job, family, device, time.time(), seconds))

    def durations(self, families: list[str], per_family: int = 200) -> list[tuple[str, str, float]]:
        """(job, family, seconds) of the latest `per_family` passed attempts of each family, newest first."""
        with self._tx(write=False) as db:
            rows = []
            for family in families:
                rows += db.execute(
                    "SELECT job, family, seconds FROM durations WHERE family = ? ORDER BY at DESC LIMIT ?",
                    (family, per_family),
                ).fetchall()
        return [(j, f, s) for j, f, s in rows]

    # -- reservations --------------------------------------------------------------------

    def reserve(self, device: str, owner: str, ttl_s: float, note: str | None = None) -> Reservation:
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM reservations WHERE expires <= ?", (now,))
            row = db.execute("SELECT owner, expires FROM reservations WHERE device = ?", (device,)).fetchone()
            if row is not None and row[0] != owner:
                until = dt.datetime.fromtimestamp(row[1]).isoformat(timespec="seconds")
                raise HarnessError(f"device {device!r} is already reserved by {row[0]} until {until}")
            db.execute(
                "INSERT OR REPLACE INTO reservations (device, owner, created, expires, note) VALUES (?, ?, ?, ?, ?)",
                (device, owner, now, now + ttl_s, note),
            )
        return Reservation(device, owner, now, now + ttl_s, note)

    def release(self, device: str, owner: str | None = None) -> bool:
        with self._tx() as db:
            if owner is None:
                cur = db.execute("DELETE FROM reservations WHERE device = ?", (device,))
            else:
                cur = db.execute("DELETE FROM reservations WHERE device = ? AND owner = ?", (device, owner))
        return cur.rowcount > 0

    def reservations(self) -> dict[str, Reservation]:
        """Reservations in force now (expired ones are gone: the TTL needs no one to clean up)."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT device, owner, created, expires, note FROM reservations WHERE expires > ?", (time.time(),)
            ).fetchall()
        return {r[0]: Reservation(*r) for r in rows}

    # -- live status (written by the running `farm run`) ---------------------------------

    def driver_started(self, plan: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM live")
            db.execute(
                "INSERT OR REPLACE INTO driver (id, plan, pid, host, started, heartbeat, queued, running, done) "
                "VALUES (1, ?, ?, ?, ?, ?, 0, 0, 0)",
                (plan, os.getpid(), socket.gethostname(), now, now),
            )

    def heartbeat(self, queued: int, running: int, done: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE driver SET heartbeat = ?, queued = ?, running = ?, done = ? WHERE id = 1",
                       (time.time(), queued, running, done))

    def driver_stopped(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM live")
            db.execute("DELETE FROM driver")

    def set_live(self, device: str, job: str | None) -> None:
        with self._tx() as db:
            if job is None:
                db.execute("DELETE FROM live WHERE device = ?", (device,))
            else:
                db.execute("INSERT OR REPLACE INTO live (device, job, started) VALUES (?, ?, ?)",
                           (device, job, time.time()))

    def live(self) -> tuple[dict | None, dict[str, tuple[str, float]]]:
        """(the running driver or None, device -> (job, started)); a stale driver counts as none."""
        with self._tx(write=False) as db:
            row = db.execute(
                "SELECT plan, pid, host, started, heartbeat, queued, running, done FROM driver WHERE id = 1"
            ).fetchone()
            jobs = db.execute("SELECT device, job, started FROM live").fetchall()
        if row is None or time.time() - row[4] > STALE_S:
            return None, {}
        keys = ("plan", "pid", "host", "started", "heartbeat", "queued", "running", "done")
        return dict(zip(keys, row)), {d: (j, s) for d, j, s in jobs}
