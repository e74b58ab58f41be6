"""Run records on disk, and queries over them.

Layout: one directory per run under the results folder::

    results/<run_id>/
        samples.parquet  telemetry.parquet  ops.parquet   (each with a run_id column)
        raw/<name>.txt                                    (device output, kept verbatim)
        manifest.json                                     (written last, atomically)

A directory without `manifest.json` is a run that crashed mid-write: it is ignored
by every reader, so a half-run never reads as whole. Records are append-only; nothing
rewrites a finished run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from harness.errors import HarnessError
from harness.store.atomic import write_atomic
from harness.store.migrate import read_manifest
from harness.store.record import TABLE_SCHEMAS, RunManifest
from harness.store.recorder import Recorder

MANIFEST = "manifest.json"
DEFAULT_RESULTS = Path("results")
RESULTS_ENV = "HARNESS_RESULTS"


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV, DEFAULT_RESULTS))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")[:40] or "x"


@dataclass
class StoredRun:
    manifest: RunManifest
    path: Path

    def table(self, name: str) -> pa.Table:
        f = self.path / f"{name}.parquet"
        if not f.exists():
            return TABLE_SCHEMAS[name].empty_table()
        return pq.read_table(f).drop_columns(["run_id"])

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


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_results_dir()
        #: why runs were skipped by the last `manifests()` call
        self.problems: list[str] = []

    # -- writing -----------------------------------------------------------------------

    def new_run_id(self, started_at, device_id: str, model_name: str) -> str:
        stamp = started_at.strftime("%Y%m%dT%H%M%S")
        return f"{stamp}-{_slug(device_id)}-{_slug(model_name)}-{secrets.token_hex(3)}"

    def write(self, manifest: RunManifest, recorder: Recorder) -> Path:
        """Tables and raw output first, the manifest last and atomically."""
        run_dir = self.root / manifest.run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        tables = {}
        for name in TABLE_SCHEMAS:
            table = recorder.table(name)
            tables[name] = table.num_rows
            if table.num_rows == 0:
                continue
            table = table.append_column("run_id", pa.array([manifest.run_id] * table.num_rows, pa.string()))
            pq.write_table(table, run_dir / f"{name}.parquet")
        if recorder.raw:
            (run_dir / "raw").mkdir()
            for name, lines in recorder.raw.items():
                text = "\n".join(lines)
                (run_dir / "raw" / f"{_slug(name)}.txt").write_text(text + ("\n" if text else ""))
        manifest.tables = tables
        self._write_manifest(run_dir, manifest)
        return run_dir

    @staticmethod
    def _write_manifest(run_dir: Path, manifest: RunManifest) -> None:
        write_atomic(run_dir / MANIFEST, manifest.model_dump_json(indent=2))

    # -- reading -----------------------------------------------------------------------

    def run_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent for p in self.root.glob(f"*/{MANIFEST}"))

    def _read_manifest(self, run_dir: Path) -> RunManifest:
        path = run_dir / MANIFEST
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise HarnessError(f"{path}: unreadable run manifest: {e}") from None
        return read_manifest(data, str(path))  # older versions migrated, a newer major refused

    def manifests(self) -> list[RunManifest]:
        """Every complete run, oldest first.

        A manifest that cannot be read (hand-edited, from a newer harness) is skipped and
        its reason kept in `self.problems`, so one bad run does not hide all the others.
        """
        runs = []
        self.problems = []
        for d in self.run_dirs():
            try:
                runs.append(self._read_manifest(d))
            except HarnessError as e:
                self.problems.append(str(e))
        return sorted(runs, key=lambda m: (m.started_at, m.run_id))

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
        return [
            m
            for m in self.manifests()
            if (device is None or m.device.id == device)
            and (model is None or m.model.name == model)
            and (status is None or m.status == status)
            and (key is None or (m.benchmark_key or "").startswith(key))
            and all(k in m.metadata and (v is None or m.metadata[k] == v) for k, v in (tags or {}).items())
        ]

    def load(self, run_id: str) -> StoredRun:
        """A run by id, or by a unique prefix of it."""
        run_dir = self.root / run_id
        if not (run_dir / MANIFEST).is_file():
            matches = [d for d in self.run_dirs() if d.name.startswith(run_id)]
            if not matches:
                raise HarnessError(f"no run matching {run_id!r} in {self.root}")
            if len(matches) > 1:  # the candidates, so the user can paste a longer prefix
                more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
                raise HarnessError(f"{len(matches)} runs in {self.root} start with {run_id!r}: "
                                   + ", ".join(d.name for d in matches[:10]) + more)
            run_dir = matches[0]
        return StoredRun(self._read_manifest(run_dir), run_dir)

    # -- queries -----------------------------------------------------------------------

    def connect(self):
        """A DuckDB connection with views `runs`, `samples`, `telemetry` and `ops` over all runs."""
        import duckdb

        con = duckdb.connect()
        con.register("runs", self.runs_frame())
        dirs = self.run_dirs()
        for name, schema in TABLE_SCHEMAS.items():
            files = [str(d / f"{name}.parquet") for d in dirs if (d / f"{name}.parquet").exists()]
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

    def runs_frame(self):
        """One row per run: identity, status and the headline summary (pandas)."""
        import pandas as pd

        rows = [_flatten(m) for m in self.manifests()]
        return pd.DataFrame(rows, columns=_RUN_COLUMNS)


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
    """Samples of all (or the given) runs as one pandas DataFrame with a run_id column."""
    store = RunStore(results)
    con = store.connect()
    query = "SELECT * FROM samples"
    if run_ids:
        return con.execute(query + " WHERE run_id IN (SELECT unnest($1))", [run_ids]).df()
    return con.execute(query).df()
