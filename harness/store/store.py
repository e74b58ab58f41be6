"""Run records on disk, and queries over them.

Layout: one directory per run under the results folder::

    results/<run_id>/
        samples.parquet  telemetry.parquet  ops.parquet   (each with a run_id column)
        raw/<name>.txt                                    (device output, kept verbatim)
        manifest.json                                     (written last, atomically)
        journal/                                          (only while measuring: see journal.py)

A run is written as it measures: `begin` creates its folder and journal before the first
sample, `write` turns it into the record when it ends — tables and raw output first, the
manifest last and atomically, then the journal goes. So a folder with ``manifest.json``
is a whole run, and a folder with only a journal is an *incomplete* one (its harness was
killed, or the host went down): readable, listed as incomplete, and finished by
`harness.recovery`. A write that fails (a full disk) removes what it had written of the
record, so nothing half-written ever reads as whole; the journal stays.

Every reader skips a record it cannot read and says so in one ``warning:`` line naming it
(once per process; the reasons are also in `RunStore.problems`): a manifest that is not
a JSON object, is nested too deeply, comes from a newer harness, or whose ``run_id`` is
not its folder's name; a table file that is not Parquet, lacks the table's columns or
holds another run's rows. One bad file never hides the other runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from harness.errors import HarnessError
from harness.store.atomic import write_atomic
from harness.store.journal import RunJournal, RunStart, is_journal_only, journal_dir, slug, write_start
from harness.store.migrate import read_manifest
from harness.store.record import ADDED_COLUMNS, TABLE_SCHEMAS, RunManifest, as_json
from harness.store.recorder import Recorder

MANIFEST = "manifest.json"
DEFAULT_RESULTS = Path("results")
RESULTS_ENV = "HARNESS_RESULTS"
#: the least free space the results folder must have before a session measures anything
MIN_FREE_BYTES = 1 << 20

log = logging.getLogger("harness.store")
_warned: set[str] = set()


def warn_once(message: str) -> None:
    """One ``warning:`` line per distinct problem per process (readers run more than once)."""
    if message not in _warned:
        _warned.add(message)
        log.warning("warning: %s", message)


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV, DEFAULT_RESULTS))


_slug = slug

#: a run id is a folder name: no separators, no dot folders
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class RecordWriteError(HarnessError):
    """The results folder refused a write (full, read-only, gone): the record could not be written."""


def check_run_id(run_id: str) -> str:
    """`run_id` if it can name a run folder under the results folder; a HarnessError otherwise."""
    if not _RUN_ID.match(run_id or ""):
        raise HarnessError(f"{run_id!r} is not a run id (a run id is a folder name: letters, digits, '_', '.', '-')")
    return run_id


@dataclass
class StoredRun:
    manifest: RunManifest
    path: Path

    def table(self, name: str) -> pa.Table:
        f = self.path / f"{name}.parquet"
        if not f.exists():
            return TABLE_SCHEMAS[name].empty_table()
        problem = parquet_problem(f, name, self.manifest.run_id)
        if problem:
            raise HarnessError(f"{f}: {problem}")
        table = pq.read_table(f)
        return table.select([c for c in TABLE_SCHEMAS[name].names if c in table.column_names])  # older: fewer

    @property
    def samples(self) -> pa.Table:
        return self.table("samples")

    @property
    def telemetry(self) -> pa.Table:
        return self.table("telemetry")

    @property
    def ops(self) -> pa.Table:
        return self.table("ops")

    def raw(self, name: str) -> str:
        return (self.path / "raw" / f"{name}.txt").read_text(errors="replace")


def parquet_problem(path: Path, table: str, run_id: str) -> str | None:
    """Why a run's table file cannot be used (from its footer alone), or None."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowException) as e:
        return f"unreadable (not a Parquet file: {e})"
    names = set(meta.schema.names)
    optional = ADDED_COLUMNS.get(table, frozenset())
    missing = [c for c in [*TABLE_SCHEMAS[table].names, "run_id"] if c not in names and c not in optional]
    if missing:
        return f"unreadable (lacks the {table} columns {missing})"
    col = meta.schema.names.index("run_id")
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is not None and stats.has_min_max and (stats.min, stats.max) != (run_id, run_id):
            return f"unreadable (holds rows of another run, {stats.min!r})"
    return None


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_results_dir()
        #: why runs were skipped by the last `manifests()` call (each also warned about once)
        self.problems: list[str] = []

    # -- writing -----------------------------------------------------------------------

    def new_run_id(self, started_at, device_id: str, model_name: str) -> str:
        stamp = started_at.strftime("%Y%m%dT%H%M%S")
        return f"{stamp}-{_slug(device_id)}-{_slug(model_name)}-{secrets.token_hex(3)}"

    def check_writable(self, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        """Before measuring: the results folder is (or can be made) a writable folder with
        at least `min_free_bytes` free. A `RecordWriteError` saying which it is not."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise RecordWriteError(f"results folder {root} is not a folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=root, prefix=".write-check-")
            try:
                os.write(fd, b"harness")
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as e:
            raise RecordWriteError(f"results folder {root} is not writable: {e.strerror or e}") from None
        free = shutil.disk_usage(root).free
        if free < min_free_bytes:
            raise RecordWriteError(f"results folder {root} has only {free} bytes free; at least "
                                   f"{min_free_bytes} are needed to record runs")

    def begin(self, start: RunStart, recorder: Recorder) -> RunJournal:
        """Create a run's folder and journal before it measures anything; the journal then
        copies what the recorder gathers to disk as it comes."""
        run_dir = self.root / check_run_id(start.run_id)
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            write_start(run_dir, start)
        except OSError as e:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing was measured yet
            raise RecordWriteError(f"cannot start the record of run {start.run_id} in {self.root}: "
                                   f"{e.strerror or e}") from None
        return RunJournal(run_dir, recorder).start()

    def discard(self, run_id: str) -> None:
        """Remove a run begun but never measured (its device was busy)."""
        shutil.rmtree(self.root / check_run_id(run_id), ignore_errors=True)

    def write(self, manifest: RunManifest, recorder: Recorder) -> Path:
        """Tables and raw output first, the manifest last and atomically, then the journal goes.

        A write that fails takes back what it wrote (the journal, if any, stays: the run
        then reads as incomplete, never as whole) and raises `RecordWriteError`."""
        if manifest.status == "incomplete":
            raise ValueError("an incomplete run has no manifest: it is written when it is finished")
        run_dir = self.root / check_run_id(manifest.run_id)
        journaled = is_journal_only(run_dir)
        written: list[Path] = []
        try:
            if not journaled:
                run_dir.mkdir(parents=True, exist_ok=False)
            tables = {}
            for name in TABLE_SCHEMAS:
                table = recorder.table(name)
                tables[name] = table.num_rows
                if table.num_rows == 0:
                    continue
                table = table.append_column("run_id", pa.array([manifest.run_id] * table.num_rows, pa.string()))
                written.append(run_dir / f"{name}.parquet")
                pq.write_table(table, written[-1])
            if recorder.raw:
                (run_dir / "raw").mkdir(exist_ok=True)
                for name, lines in recorder.raw.items():
                    text = "\n".join(lines)
                    written.append(run_dir / "raw" / f"{_slug(name)}.txt")
                    written[-1].write_text(text + ("\n" if text else ""), encoding="utf-8", errors="surrogateescape")
            manifest.tables = tables
            self._write_manifest(run_dir, manifest)
        except (OSError, pa.ArrowException) as e:
            for path in written:
                path.unlink(missing_ok=True)
            if journaled:
                shutil.rmtree(run_dir / "raw", ignore_errors=True)
            else:
                shutil.rmtree(run_dir, ignore_errors=True)
            kept = f"; what it measured is kept in its journal {journal_dir(run_dir)}" if journaled else ""
            raise RecordWriteError(f"cannot write the record of run {manifest.run_id} in {self.root}: "
                                   f"{getattr(e, 'strerror', None) or e}{kept}") from None
        shutil.rmtree(journal_dir(run_dir), ignore_errors=True)
        return run_dir

    @staticmethod
    def _write_manifest(run_dir: Path, manifest: RunManifest) -> None:
        write_atomic(run_dir / MANIFEST, as_json(manifest))

    # -- reading -----------------------------------------------------------------------

    def run_dirs(self) -> list[Path]:
        """Folders of finished runs (with a manifest), by name."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent for p in self.root.glob(f"*/{MANIFEST}"))

    def incomplete_dirs(self) -> list[Path]:
        """Folders of runs that started and have no manifest: measuring now, or interrupted."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if is_journal_only(p) and not (p / MANIFEST).exists())

    def _read_manifest(self, run_dir: Path) -> RunManifest:
        path = run_dir / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except RecursionError:
            raise HarnessError(f"{path}: unreadable run manifest: nested too deeply") from None
        except (OSError, ValueError) as e:
            raise HarnessError(f"{path}: unreadable run manifest: {e}") from None
        try:
            manifest = read_manifest(data, str(path))  # older versions migrated, a newer major refused
        except RecursionError:
            raise HarnessError(f"{path}: unreadable run manifest: nested too deeply") from None
        if manifest.run_id != run_dir.name:
            raise HarnessError(f"{path}: its run_id {manifest.run_id!r} is not its folder's name "
                               f"{run_dir.name!r}; not read")
        return manifest

    def manifests(self) -> list[RunManifest]:
        """Every complete run, oldest first.

        A record that cannot be read (hand-edited, corrupt, from a newer harness) is skipped
        with a warning naming it, and its reason kept in `self.problems`."""
        runs = []
        self.problems = []
        for d in self.run_dirs():
            try:
                runs.append(self._read_manifest(d))
            except HarnessError as e:
                self._skip(str(e))
        return sorted(runs, key=lambda m: (m.started_at, m.run_id))

    def _skip(self, problem: str) -> None:
        self.problems.append(problem)
        warn_once(f"skipped {problem}")

    def select(
        self,
        device: str | None = None,
        model: str | None = None,
        status: str | None = None,
        key: str | None = None,
        tags: dict[str, str | None] | None = None,
    ) -> list[RunManifest]:
        """Runs matching every given filter, oldest first: a benchmark key (or a prefix of
        it), metadata tags (key -> value, or None for any value)."""
        return [m for m in self.manifests() if matches(m, device, model, status, key, tags)]

    def load(self, run_id: str) -> StoredRun:
        """A run by id, or by a unique prefix of it."""
        run_dir = self.find(run_id)
        if not (run_dir / MANIFEST).is_file():
            raise HarnessError(f"run {run_dir.name} is incomplete (its harness stopped while measuring): "
                               f"`harness results recover {run_dir.name}` finishes its record")
        return StoredRun(self._read_manifest(run_dir), run_dir)

    def find(self, run_id: str) -> Path:
        """The folder of a run (finished or incomplete) by id, or by a unique prefix of it."""
        check_run_id(run_id)
        run_dir = self.root / run_id
        if (run_dir / MANIFEST).is_file() or is_journal_only(run_dir):
            return run_dir
        matches = [d for d in [*self.run_dirs(), *self.incomplete_dirs()] if d.name.startswith(run_id)]
        if not matches:
            raise HarnessError(f"no run matching {run_id!r} in {self.root}")
        if len(matches) > 1:  # the candidates, so the user can paste a longer prefix
            more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
            raise HarnessError(f"{len(matches)} runs in {self.root} start with {run_id!r}: "
                               + ", ".join(d.name for d in matches[:10]) + more)
        return matches[0]

    # -- queries -----------------------------------------------------------------------

    def table_files(self, name: str, manifests: list[RunManifest] | None = None) -> list[Path]:
        """The usable `name` table files of these (default: all readable) runs; a bad one is
        skipped with a warning."""
        files = []
        for m in manifests if manifests is not None else self.manifests():
            f = self.root / m.run_id / f"{name}.parquet"
            if not f.exists():
                continue
            problem = parquet_problem(f, name, m.run_id)
            if problem:
                self._skip(f"{f}: {problem}")
                continue
            files.append(f)
        return files

    def connect(self):
        """A DuckDB connection with views `runs`, `samples`, `telemetry` and `ops` over all runs."""
        import duckdb

        con = duckdb.connect()
        manifests = self.manifests()
        con.register("runs", self.runs_frame(manifests))
        for name, schema in TABLE_SCHEMAS.items():
            files = [str(f) for f in self.table_files(name, manifests)]
            if files:
                # Views cannot take parameters: the file list goes in as quoted SQL literals.
                listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}], union_by_name = true)")
            else:
                cols = ", ".join(
                    f"CAST(NULL AS {_duck_type(field.type)}) AS {field.name}" for field in schema
                )
                con.execute(f"CREATE VIEW {name} AS SELECT {cols}, CAST(NULL AS VARCHAR) AS run_id WHERE false")
        return con

    def runs_frame(self, manifests: list[RunManifest] | None = None):
        """One row per run: identity, status and the headline summary (pandas)."""
        import pandas as pd

        rows = [_flatten(m) for m in (manifests if manifests is not None else self.manifests())]
        return pd.DataFrame(rows, columns=_RUN_COLUMNS)


def matches(m: RunManifest, device=None, model=None, status=None, key=None, tags=None) -> bool:
    """Whether a run passes every given filter of `RunStore.select`."""
    return ((device is None or m.device.id == device)
            and (model is None or m.model.name == model)
            and (status is None or m.status == status)
            and (key is None or (m.benchmark_key or "").startswith(key))
            and all(k in m.metadata and (v is None or m.metadata[k] == v) for k, v in (tags or {}).items()))


_RUN_COLUMNS = [
    "run_id", "status", "started_at", "device", "transport", "model", "model_sha256", "format",
    "precision", "runtime", "runtime_version", "threads", "stop_mode", "stop_reason", "n",
    "median_s", "p90_s", "p99_s", "mean_s", "ci95_low_s", "ci95_high_s", "cv", "load_s", "init_s",
    "first_s", "energy_j_per_inference", "power_w_mean", "temp_c_max", "throttled", "error",
    "error_kind", "error_transient", "benchmark_key", "metadata",
]


def _flatten(m: RunManifest) -> dict:
    lat = m.summary.latency
    return {
        "run_id": m.run_id,
        "status": m.status,
        "started_at": m.started_at,
        "device": m.device.id,
        "transport": m.device.transport,
        "model": m.model.name,
        "model_sha256": m.model.sha256,
        "format": m.model.format,
        "precision": m.model.precision,
        "runtime": m.runtime.name,
        "runtime_version": m.runtime.version,
        "threads": m.config.threads,
        "stop_mode": m.config.stop.mode,
        "stop_reason": m.summary.stop_reason,
        "n": lat.n if lat else None,
        "median_s": lat.median_s if lat else None,
        "p90_s": lat.p90_s if lat else None,
        "p99_s": lat.p99_s if lat else None,
        "mean_s": lat.mean_s if lat else None,
        "ci95_low_s": lat.ci95_s[0] if lat else None,
        "ci95_high_s": lat.ci95_s[1] if lat else None,
        "cv": lat.cv if lat else None,
        "load_s": m.phases.load_s,
        "init_s": m.phases.init_s,
        "first_s": m.phases.first_s,
        "energy_j_per_inference": m.summary.energy_j_per_inference,
        "power_w_mean": m.summary.power_w_mean,
        "temp_c_max": m.summary.temp_c_max,
        "throttled": m.summary.throttled,
        "error": m.error.message if m.error else None,
        "error_kind": m.error.kind if m.error else None,
        "error_transient": m.error.transient if m.error else None,
        "benchmark_key": m.benchmark_key,
        "metadata": json.dumps(m.metadata, sort_keys=True),  # JSON text: one column type for DuckDB
    }


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    return "VARCHAR"


def load_runs(results: Path | str | None = None):
    """All runs as a pandas DataFrame, one row per run (for notebooks)."""
    return RunStore(results).runs_frame()


def load_samples(results: Path | str | None = None, run_ids: list[str] | None = None):
    """Samples of all (or the given) runs as one pandas DataFrame with a run_id column.

    A file whose footer reads but whose data does not is skipped with a warning naming it."""
    import duckdb
    import pandas as pd

    store = RunStore(results)
    manifests = [m for m in store.manifests() if not run_ids or m.run_id in run_ids]
    files = store.table_files("samples", manifests)
    columns = [*TABLE_SCHEMAS["samples"].names, "run_id"]
    frames = []
    con = duckdb.connect()
    try:
        frames.append(con.execute("SELECT * FROM read_parquet($1, union_by_name = true)",
                                  [[str(f) for f in files]]).df() if files else pd.DataFrame(columns=columns))
    except duckdb.Error:
        frames = []
        for f in files:  # one by one: which file is it?
            try:
                frames.append(con.execute("SELECT * FROM read_parquet($1)", [str(f)]).df())
            except duckdb.Error as e:
                store._skip(f"{f}: unreadable Parquet data ({str(e).splitlines()[0]})")
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return out[[c for c in columns if c in out.columns]]  # older records lack the columns added since
