"""A run's journal: what it has measured so far, on disk while it is still measuring.

While a run goes on, its folder holds only the journal::

    results/<run_id>/journal/
        start.json        who, what, how (device, model, configuration, the writing process):
                          written atomically before anything is measured
        samples.arrows    Arrow IPC streams: one record batch appended per chunk
        telemetry_live.arrows   telemetry as the sampler delivers it (the record's telemetry
                          table is made when the sampler stops: clock mapped, counters unwrapped)
        telemetry.arrows  ops.arrows
        raw/<name>.txt    device output, appended
        state.json        the recorder's other state (phases, marks, notes, results…),
                          replaced atomically when it changes, at least every HEARTBEAT_S

A thread copies what is new from the `Recorder` every `CHUNK_S` seconds and syncs it to
disk. It never runs on the path that reads the device's output, so writing cannot slow
the measurement; a SIGKILL loses at most the last chunk. A stream cut in the middle of a
batch (a kill mid-write) reads back up to its last whole batch.

When the run ends the store writes the record itself (Parquet tables, raw output and
`manifest.json` last) and then removes the journal. A folder with a journal and no
manifest is an *incomplete* run: listed as such, readable, and finished by
`harness.recovery` once its writer is gone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field

from harness.owner import Owner
from harness.store.atomic import write_atomic
from harness.store.record import DeviceRef, ModelRef, RunConfig, RuntimeInfo, as_json
from harness.store.recorder import JOURNAL_TABLES, Recorder

JOURNAL = "journal"
START = "start.json"
STATE = "state.json"
CHUNK_S = 1.0
#: the state is rewritten at least this often, so another host can tell a live run from a dead one
HEARTBEAT_S = 30.0
#: a run from another host whose journal has been silent this long is taken for dead
STALE_AFTER_S = 600.0


class RunStart(BaseModel):
    """What a run is, known before it measures anything: enough to finish its record later."""

    run_id: str
    started_at: dt.datetime
    device: DeviceRef
    profile: dict[str, Any] = Field(default_factory=dict)
    model: ModelRef
    config: RunConfig
    metadata: dict[str, str] = Field(default_factory=dict)
    #: the runner's full options (defaults included), for the benchmark key
    key_options: dict[str, Any] | None = None
    harness_version: str
    writer: Owner


def journal_dir(run_dir: Path) -> Path:
    return run_dir / JOURNAL


class RunJournal:
    """Copies a recorder's new rows, raw lines and state into `run_dir/journal` as it runs.

    `failed` holds the first write error (a full disk…): the journal then stops writing and
    the run goes on; the record is still written whole at the end if it can be.
    """

    def __init__(self, run_dir: Path, recorder: Recorder, chunk_s: float = CHUNK_S):
        self.dir = journal_dir(run_dir)
        self.recorder = recorder
        self.chunk_s = chunk_s
        self.failed: OSError | None = None
        self._written = {name: 0 for name in JOURNAL_TABLES}
        self._writers: dict[str, tuple[Any, Any]] = {}
        self._raw_written: dict[str, int] = {}
        self._state_text = ""
        self._state_at = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"journal {run_dir.name}", daemon=True)

    def start(self) -> RunJournal:
        self._thread.start()
        return self

    def close(self) -> None:
        """Write what is left and close the streams (the run has ended)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        with self._lock:
            for sink, writer in self._writers.values():
                try:
                    writer.close()
                    sink.close()
                except (OSError, pa.ArrowException):
                    pass
            self._writers.clear()

    def _loop(self) -> None:
        while not self._stop.wait(self.chunk_s):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if self.failed is not None:
                return
            try:
                for sink in filter(None, [self._append_table(name) for name in JOURNAL_TABLES]):
                    os.fsync(sink.fileno())  # a host reboot keeps the chunk too
                self._append_raw()
                self._write_state()
            except (OSError, pa.ArrowException) as e:
                self.failed = e if isinstance(e, OSError) else OSError(str(e))

    def _append_table(self, name: str):
        rec = self.recorder
        stop = rec.complete_rows(name)
        start = self._written[name]
        if stop <= start:
            return None
        if name not in self._writers:
            self.dir.mkdir(parents=True, exist_ok=True)
            sink = open(self.dir / f"{name}.arrows", "ab")
            self._writers[name] = (sink, pa.ipc.new_stream(sink, JOURNAL_TABLES[name]))
        sink, writer = self._writers[name]
        writer.write_batch(rec.batch(name, start, stop))
        sink.flush()
        self._written[name] = stop
        return sink

    def _append_raw(self) -> None:
        for name, lines in list(self.recorder.raw.items()):
            done = self._raw_written.get(name, 0)
            end = len(lines)
            if end <= done:
                continue
            folder = self.dir / "raw"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{slug(name)}.txt", "a", encoding="utf-8", errors="surrogateescape") as f:
                f.write("".join(line + "\n" for line in lines[done:end]))
                f.flush()
                os.fsync(f.fileno())
            self._raw_written[name] = end

    def _write_state(self) -> None:
        state = self.recorder.state()
        text = json.dumps(state, sort_keys=True, default=str, ensure_ascii=True)
        now = time.monotonic()
        if text == self._state_text and now - self._state_at < HEARTBEAT_S:
            return
        payload = {"updated_at": time.time(), "rows": dict(self._written), "state": state}
        write_atomic(self.dir / STATE, json.dumps(payload, default=str, ensure_ascii=True))
        self._state_text, self._state_at = text, now


def slug(text: str, limit: int = 40) -> str:
    """`text` as part of a file name: only [A-Za-z0-9_.-], so no separator or odd byte
    ever takes a file out of its folder."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")[:limit] or "x"


# -- reading a journal back ---------------------------------------------------------------


class JournalRead(BaseModel):
    start: RunStart
    updated_at: float | None = None
    #: problems met while reading (a stream cut mid-batch, an unreadable state file)
    problems: list[str] = Field(default_factory=list)


def write_start(run_dir: Path, start: RunStart) -> None:
    write_atomic(journal_dir(run_dir) / START, as_json(start))


def read_start(run_dir: Path) -> RunStart:
    """The journal's start record; `ValueError`/`OSError` if it cannot be read."""
    data = json.loads((journal_dir(run_dir) / START).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("start.json is not a JSON object")
    start = RunStart.model_validate(data)
    if start.run_id != run_dir.name:
        raise ValueError(f"its run_id {start.run_id!r} is not its folder's name")
    return start


def read_stream(path: Path, schema: pa.Schema) -> tuple[pa.Table, str | None]:
    """Every whole record batch of an Arrow IPC stream file, and what cut it short, if anything."""
    batches: list[pa.RecordBatch] = []
    problem = None
    try:
        with pa.OSFile(str(path), "rb") as f:
            reader = pa.ipc.open_stream(f)
            if not reader.schema.equals(schema):
                return schema.empty_table(), f"{path.name}: unexpected columns {reader.schema.names}"
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (OSError, pa.ArrowException) as e:
        problem = f"{path.name}: read up to a cut ({e})"
    return pa.Table.from_batches(batches, schema=schema), problem


def read_journal(run_dir: Path) -> tuple[JournalRead, Recorder]:
    """A journal as a start record plus a recorder holding everything it kept."""
    start = read_start(run_dir)
    info = JournalRead(start=start)
    jdir = journal_dir(run_dir)
    rec = Recorder(runtime=RuntimeInfo(name=start.config.runtime, delegate=start.config.delegate))
    try:
        payload = json.loads((jdir / STATE).read_text(encoding="utf-8"))
        rec.restore(payload["state"])
        info.updated_at = float(payload["updated_at"])
    except FileNotFoundError:
        pass  # killed before its first chunk: the tables may still have rows
    except (OSError, ValueError, KeyError, TypeError) as e:
        info.problems.append(f"{STATE}: unreadable ({e})")
    for name, schema in JOURNAL_TABLES.items():
        path = jdir / f"{name}.arrows"
        if path.is_file():
            table, problem = read_stream(path, schema)
            rec.extend(name, table)
            if problem:
                info.problems.append(problem)
    if rec.rows("telemetry_live") and not rec.rows("telemetry"):  # stopped before the sampler did
        rec.extend("telemetry", rec.table("telemetry_live"))
        rec.notes.append("telemetry: as the sampler delivered it before the run was interrupted (stamps mapped "
                         "with the start clock probe only; battery and RAPL energy counters not converted)")
    raw = jdir / "raw"
    if raw.is_dir():
        for f in sorted(raw.glob("*.txt")):
            rec.add_raw(f.stem, f.read_text(encoding="utf-8", errors="surrogateescape").splitlines())
    return info, rec


def is_journal_only(run_dir: Path) -> bool:
    return (journal_dir(run_dir) / START).is_file()
