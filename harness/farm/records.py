"""Run records travel from the lab host that measured them to the one results store.

A device actor writes its record into a scratch `RunStore` on its own host (with
`harness.session.run_planned`, so the record is whole whatever happened), packs the run
folder into bytes and returns them through Ray. The driver unpacks them into the farm's
store, tables and raw output first and the manifest last and atomically, as `RunStore`
itself writes — adding the farm's metadata (plan tags, job, attempt, host, class,
degraded flag) on the way. No shared filesystem between lab hosts is needed.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from harness import session
from harness.store.atomic import write_atomic
from harness.store.record import ErrorInfo, RunManifest, RuntimeInfo
from harness.store.recorder import Recorder
from harness.store.store import MANIFEST, RunStore

PackedRun = dict[str, bytes]  # path inside the run folder -> contents


def pack_run(run_dir: Path, remove: bool = True) -> PackedRun:
    files = {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}
    if remove:
        shutil.rmtree(run_dir, ignore_errors=True)
    return files


def import_run(store: RunStore, packed: PackedRun, metadata: dict[str, str],
               error: ErrorInfo | None = None) -> RunManifest:
    """Write a packed run into `store` with `metadata` merged in (the record's own keys win).

    `error` replaces the record's error when the farm knows better why it stopped (it
    abandoned the job at its deadline)."""
    manifest = RunManifest.model_validate_json(packed[MANIFEST])
    manifest.metadata = {**metadata, **manifest.metadata}
    if error is not None:
        manifest.error = error
    run_dir = store.root / manifest.run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    for name, data in packed.items():
        if name == MANIFEST:
            continue
        target = run_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    write_atomic(run_dir / MANIFEST, manifest.model_dump_json(indent=2))
    return manifest


def export_runs(store: RunStore, run_ids: list[str], dest: Path) -> Path:
    """Copy these runs (and the measured ceilings their rooflines use) into `dest`: a results
    store of their own, e.g. one night's records for a CI artifact or its report."""
    from harness.analysis.ceilings import CEILINGS_DIR

    for run_id in run_ids:
        shutil.copytree(store.root / run_id, dest / run_id, dirs_exist_ok=True)
    if (store.root / CEILINGS_DIR).is_dir():
        shutil.copytree(store.root / CEILINGS_DIR, dest / CEILINGS_DIR, dirs_exist_ok=True)
    return dest


def lost_attempt(scratch: Path, planned: session.PlannedRun, started: dt.datetime, error: ErrorInfo,
                 raw: list[str]) -> PackedRun:
    """The record of an attempt whose device (or its node) vanished before it could write one."""
    rec = Recorder(runtime=RuntimeInfo(name=planned.config.runtime, delegate=planned.config.delegate))
    rec.stage = error.stage
    rec.add_raw("farm", raw)
    store = RunStore(scratch)
    manifest = session.write_record(
        store, rec, planned.profile, planned.model, planned.config, "failed", error, started,
        dt.datetime.now(dt.timezone.utc), metadata=planned.metadata,
    )
    return pack_run(store.root / manifest.run_id)
