"""From what a run collected to its record: the start record, the manifest and its summary.

A run's identity (device, model, configuration, tags, the process writing it) is fixed
before it measures anything: `run_start` builds it, and the store keeps it in the run's
journal (`harness.store.journal`). When the run ends — or, after a crash, when
`harness.recovery` finishes it from its journal — `build_manifest` turns the start record
and the recorder into the manifest with its summary, and `finish_record` writes it.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
import traceback
from typing import Any

import harness
from harness.analysis.summary import roofline_inputs, summarize_run
from harness.errors import FAILURE_KINDS
from harness.owner import Owner
from harness.profiles import DeviceProfile
from harness.store.benchmark_key import benchmark_key
from harness.store.journal import RunStart
from harness.store.record import DeviceRef, ErrorInfo, ModelRef, RunConfig, RunManifest, Summary
from harness.store.recorder import Recorder
from harness.store.store import RunStore


def error_info(message: str, stage: str, kind: str) -> ErrorInfo:
    return ErrorInfo(message=message, stage=stage, kind=kind, transient=FAILURE_KINDS[kind])


def host_info(writer: Owner) -> dict[str, str]:
    return {
        "hostname": writer.hostname or socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pid": str(writer.pid),
    }


def run_start(
    store: RunStore,
    profile: DeviceProfile | None,
    model: ModelRef,
    config: RunConfig,
    started: dt.datetime,
    *,
    metadata: dict[str, str] | None = None,
    key_options: dict | None = None,
) -> RunStart:
    """The start record of a new run (its run id included)."""
    device = (
        DeviceRef(id=profile.id, name=profile.name, transport=profile.transport.kind)
        if profile is not None
        else DeviceRef(id="unknown", name="unknown (no profile given)", transport="unknown")
    )
    return RunStart(
        run_id=store.new_run_id(started, device.id, model.name),
        started_at=started,
        device=device,
        profile=profile.model_dump(mode="json") if profile is not None else {},
        model=model,
        config=config,
        metadata=dict(metadata or {}),
        key_options=key_options,
        harness_version=harness.__version__,
        writer=Owner.me("harness run"),
    )


def build_manifest(
    start: RunStart,
    rec: Recorder,
    status: str,
    error: ErrorInfo | None,
    finished: dt.datetime | None,
    results_root,
) -> RunManifest:
    """The manifest of a run, its summary computed from the recorder's tables."""
    if error is not None and rec.raw:
        error.raw_output = "raw/"
    manifest = RunManifest(
        run_id=start.run_id,
        status=status,
        error=error,
        started_at=start.started_at,
        finished_at=finished,
        device=start.device.model_copy(update={"serial": rec.serial}),
        profile=start.profile,
        model=start.model,
        runtime=rec.runtime,
        config=start.config,
        harness_version=start.harness_version,
        host=host_info(start.writer),
        phases=rec.phases,
        results=list(rec.results),
        conditions=rec.conditions,
        timeline=rec.timeline,
        notes=rec.notes,
        metadata=dict(start.metadata),
    )
    manifest.benchmark_key, manifest.benchmark_key_fields = benchmark_key(manifest, start.key_options)
    try:
        manifest.summary = summarize_run(manifest, rec, **roofline_inputs(manifest, results_root))
    except Exception as e:  # whatever the analysis trips on, the measured samples are written
        manifest.summary = Summary(stop_reason=rec.stop_reason, warnings=[*rec.warnings, f"summary failed: {e}"])
        rec.add_raw("harness_traceback", traceback.format_exc().splitlines())
    return manifest


def finish_record(
    store: RunStore, start: RunStart, rec: Recorder, status: str, error: ErrorInfo | None,
    finished: dt.datetime | None,
) -> RunManifest:
    """Build the manifest and write the record (`RecordWriteError` if the results folder refuses)."""
    manifest = build_manifest(start, rec, status, error, finished, store.root)
    store.write(manifest, rec)
    return manifest


def write_record(
    store: RunStore,
    rec: Recorder,
    profile: DeviceProfile | None,
    model: ModelRef,
    config: RunConfig,
    status: str,
    error: ErrorInfo | None,
    started: dt.datetime,
    finished: dt.datetime | None,
    *,
    metadata: dict[str, str] | None = None,
    serial: str | None = None,
    key_options: dict[str, Any] | None = None,
) -> RunManifest:
    """Write the record of a run that kept no journal (an ingested log, a run lost with its
    device). `key_options`: the runner's full options (defaults included) for the benchmark key."""
    if serial is not None:
        rec.serial = serial
    start = run_start(store, profile, model, config, started, metadata=metadata, key_options=key_options)
    return finish_record(store, start, rec, status, error, finished)
