"""`ingest_file`: a saved log, read by an ingest format, written as run records."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path, PurePath, PureWindowsPath

from harness.errors import FAILURE_KINDS, HarnessError
from harness.ingest.base import IngestedRun, IngestError
from harness.ingest.registry import get
from harness.profiles import load_profile
from harness.session import write_record
from harness.store.record import ErrorInfo, ModelRef, RunConfig, RunManifest
from harness.store.store import RunStore


def ingest_file(
    fmt: str,
    path: Path,
    device: str | None = None,
    model: str | None = None,
    results: Path | None = None,
    profile_dirs: list[Path] | None = None,
    metadata: dict[str, str] | None = None,
    strict: bool = False,
) -> list[tuple[RunManifest, IngestedRun]]:
    """Import a saved log: one record per run it describes; (manifest, parsed run) each.

    A log that records a failure becomes a `failed` record with its text kept; a file that
    is not a log of `fmt` is refused (nothing is written). The records' metadata say where
    they came from (``ingested_from``, ``ingest_format``) besides the given `metadata`.

    A `model` file (or zoo id) is checked against what the log says it ran: the file name
    of its path and the model size. A mismatch is a warning in the record, or with
    `strict` a `HarnessError` before anything is written."""
    path = Path(path)
    reader = get(fmt)
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read: {e.strerror}") from None
    try:
        runs = reader.parse(text, path)
    except IngestError as e:  # a parser's message may already start with the path
        message = str(e)
        raise HarnessError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None
    if not runs:
        raise HarnessError(f"{path}: no {fmt} run in the file")
    profile = load_profile(device, profile_dirs) if device else None  # before anything is written
    models = [_model_ref(model, run) for run in runs]
    for run, ref in zip(runs, models):
        for problem in model_mismatches(ref, run):
            if strict:
                raise HarnessError(f"{path}: {problem} (--strict)")
            run.recorder.warnings.append(problem)
    started = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    store = RunStore(results)
    tags = {**(metadata or {}), "ingested_from": str(path.resolve()), "ingest_format": fmt}
    out = []
    for run, ref in zip(runs, models):
        config = RunConfig(runtime=run.runtime, threads=run.threads, delegate=run.delegate, stop=run.stop,
                           telemetry=False, thermal_gate=False, options=run.options)
        run.recorder.notes.append(f"ingested from {path.resolve()} (a saved {fmt} log)")
        error = None
        if run.failure is not None:
            kind = run.failure_class.kind
            error = ErrorInfo(message=run.failure, stage="run", kind=kind, transient=FAILURE_KINDS[kind])
        manifest = write_record(store, run.recorder, profile, ref, config,
                                "failed" if error else "ok", error, started, None, metadata=tags)
        out.append((manifest, run))
    return out


def model_mismatches(ref: ModelRef, run: IngestedRun) -> list[str]:
    """Why the model file given (hashed: `ref.sha256`) may not be the one the log ran: another
    file name than the log's model path, another size than the log states."""
    if not ref.sha256:  # only a name was given: nothing to check it against
        return []
    problems = []
    given = PurePath(ref.path).name
    if run.model_name:
        logged = PureWindowsPath(run.model_name).name  # the last part of a / or \\ path
        if logged != given:
            where = f" ({run.model_name})" if run.model_name != logged else ""
            problems.append(f"the log ran model {logged!r}{where}, but --model is {given!r}")
    logged_size = run.model_size_bytes
    if logged_size and ref.size_bytes and not math.isclose(logged_size, ref.size_bytes,
                                                           rel_tol=run.model_size_rel_tol + 1e-9):
        problems.append(f"the log's model is {logged_size:,.0f} bytes, but --model {given!r} is "
                        f"{ref.size_bytes:,} bytes")
    return problems


def _model_ref(model: str | None, run: IngestedRun) -> ModelRef:
    """The model: a file (hashed) when --model names one or a built zoo entry, else what the
    log says, unhashed."""
    if model and (Path(model).expanduser().is_file() or _built_zoo_entry(model)):
        from harness.models import resolve_model

        return resolve_model(model)[0]
    from harness.formats.registry import extensions

    named = run.model_name or ""
    # a file name loses its extension; a name as a tool prints it ("qwen3 0.6B Q4_0") is kept whole
    stem = Path(named).stem if named.lower().endswith(extensions()) else Path(named).name
    name = model or (stem if named else "unknown")
    return ModelRef(
        name=name,
        path=named or name,
        sha256="",  # the log does not say; the model file was not given
        format=run.model_format,
        size_bytes=int(run.model_size_bytes or 0),
    )


def _built_zoo_entry(model: str) -> bool:
    from harness import zoo

    entry = None if zoo.is_path(model) else zoo.resolve(model)
    return entry is not None and entry.built
