"""Runs whose harness stopped while they were measuring: read them, and finish their records.

A run folder with a journal and no manifest (`harness.store.journal`) is *incomplete*.
While its writer lives it is a run in progress; once the writer is gone — killed, crashed,
its host rebooted (`harness.owner.Owner.gone`) — it is interrupted. Either way it can be
read back as a manifest with status ``incomplete`` and the samples it has
(`incomplete_runs`, shown by ``harness results list``). `recover` finishes an interrupted
run's record from its journal: status ``aborted``, error kind ``interrupted`` (transient),
every sample, telemetry point, op and raw line the journal kept. ``harness results
recover`` does it on demand, and every session does it first for the runs it finds.
"""

from __future__ import annotations

import datetime as dt
import fcntl
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.records import build_manifest, error_info, finish_record
from harness.store.journal import START, STALE_AFTER_S, JournalRead, journal_dir, read_journal
from harness.store.record import RunManifest
from harness.store.recorder import Recorder
from harness.store.store import MANIFEST, RunStore, StoredRun, warn_once

INTERRUPTED = ("interrupted: harness stopped before the run finished (killed, crashed or its host went down); "
               "the record was finished from its journal")


@dataclass
class IncompleteRun:
    path: Path
    manifest: RunManifest  # status "incomplete", summary from the samples the journal has
    recorder: Recorder
    journal: JournalRead
    #: whether its writer is gone (interrupted) rather than still measuring
    interrupted: bool
    problems: list[str] = field(default_factory=list)

    def stored(self) -> StoredRun:
        """A `StoredRun` view whose tables are the journal's."""
        run = StoredRun(self.manifest, self.path)
        run.table = self.recorder.table  # type: ignore[method-assign]
        return run


def read_incomplete(store: RunStore, run_dir: Path) -> IncompleteRun:
    """An incomplete run read back from its journal; HarnessError naming it if unreadable."""
    try:
        info, rec = read_journal(run_dir)
    except (OSError, ValueError) as e:
        raise HarnessError(f"{journal_dir(run_dir) / START}: unreadable run journal ({e})") from None
    writer = info.start.writer
    if info.updated_at:  # the journal's state file is the writer's heartbeat
        writer = writer.model_copy(update={"heartbeat": max(writer.heartbeat, info.updated_at)})
    interrupted = writer.gone(STALE_AFTER_S)
    manifest = build_manifest(info.start, rec, "incomplete", None, None, store.root)
    return IncompleteRun(run_dir, manifest, rec, info, interrupted, list(info.problems))


def incomplete_runs(store: RunStore) -> list[IncompleteRun]:
    """Every incomplete run of the store (unreadable journals skipped with a warning)."""
    runs = []
    for run_dir in store.incomplete_dirs():
        try:
            runs.append(read_incomplete(store, run_dir))
        except HarnessError as e:
            store._skip(str(e))
    return runs


def recover(store: RunStore, run_ids: list[str] | None = None, force: bool = False) -> list[RunManifest]:
    """Finish the records of interrupted runs (the given ones, or all). A run whose writer
    may still be measuring is left alone unless `force`; a named one is then an error."""
    wanted = [store.find(r) for r in run_ids] if run_ids else store.incomplete_dirs()
    done = []
    for run_dir in wanted:
        if (run_dir / MANIFEST).is_file():
            continue  # finished meanwhile (by its writer, or another recovery)
        with _claim(run_dir) as claimed:
            if not claimed or (run_dir / MANIFEST).is_file():
                continue
            run = read_incomplete(store, run_dir)
            if not run.interrupted and not force:
                if run_ids:
                    raise HarnessError(
                        f"run {run_dir.name} is still being measured by {run.journal.start.writer.describe()}; "
                        f"pass --force if that process is gone")
                continue
            done.append(_finish(store, run))
    return done


def recover_interrupted(store: RunStore) -> list[RunManifest]:
    """What a session does first: finish every interrupted run it finds, saying so."""
    try:
        done = recover(store)
    except HarnessError as e:  # never a reason not to measure
        warn_once(f"could not finish interrupted runs: {e}")
        return []
    for m in done:
        warn_once(f"finished the record of interrupted run {m.run_id} from its journal "
                  f"({m.tables.get('samples', 0)} samples)")
    return done


def _finish(store: RunStore, run: IncompleteRun) -> RunManifest:
    rec = run.recorder
    for problem in run.problems:
        rec.warnings.append(f"journal: {problem}")
    finished = (dt.datetime.fromtimestamp(run.journal.updated_at, dt.timezone.utc)
                if run.journal.updated_at else None)
    error = error_info(INTERRUPTED, rec.stage, "interrupted")
    return finish_record(store, run.journal.start, rec, "aborted", error, finished)


class _claim:
    """An exclusive claim on a run folder while it is being recovered (two sessions starting
    at once must not both write it). False when another process holds it."""

    def __init__(self, run_dir: Path):
        self.path = journal_dir(run_dir) / START
        self.fd = None

    def __enter__(self) -> bool:
        try:
            self.fd = open(self.path, "rb")
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.fd.close()
