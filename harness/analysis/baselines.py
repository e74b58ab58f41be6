"""Pinned baselines: the runs tonight's runs of a benchmark key are judged against.

Kept in the results store, ``<results>/regression/baselines.json`` (the store ignores the
folder: it has no manifest). One entry per benchmark key: the run ids pinned (one or
more; two or more allow a test on run medians), when, by whom, an optional note. Pinning a
run of another key is allowed — a baseline measured with the previous runtime version
for the key the new version has — and the pin says so. Read-modify-write under a lock, so
two people pinning at once lose neither pin.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from harness.analysis.evidence import usable
from harness.errors import HarnessError
from harness.store.atomic import write_atomic
from harness.store.store import RunStore, StoredRun

FOLDER = "regression"
FILE = "baselines.json"
SCHEMA_VERSION = "1.0"


class Baseline(BaseModel):
    key: str
    runs: list[str] = Field(min_length=1)
    run_keys: list[str | None] = Field(default_factory=list, description="each pinned run's own benchmark key")
    set_at: dt.datetime
    by: str
    note: str | None = None


class _File(BaseModel):
    schema_version: str = SCHEMA_VERSION
    baselines: dict[str, Baseline] = Field(default_factory=dict)


def path_of(store: RunStore) -> Path:
    return store.root / FOLDER / FILE


def load(store: RunStore) -> dict[str, Baseline]:
    """Every pinned baseline, by benchmark key."""
    return _read(path_of(store)).baselines


def baseline_for(store: RunStore, key: str) -> Baseline | None:
    return load(store).get(key)


def set_baseline(store: RunStore, key: str, run_ids: list[str], note: str | None = None) -> Baseline:
    """Pin runs as `key`'s baseline (replacing an earlier pin). `key`: a benchmark key or a
    unique prefix of one in the store; each run: an id or unique prefix, finished ok."""
    if not run_ids:
        raise HarnessError("give at least one run to pin")
    full_key = resolve_key(store, key)
    runs = [store.load(r) for r in run_ids]
    for run in runs:
        if not usable(run.manifest):
            raise HarnessError(f"run {run.manifest.run_id} is {run.manifest.status}, not ok: it cannot be a baseline")
    pin = Baseline(key=full_key, runs=[r.manifest.run_id for r in runs],
                   run_keys=[r.manifest.benchmark_key for r in runs],
                   set_at=dt.datetime.now(dt.timezone.utc), by=_user(), note=note)
    with _locked(store) as data:
        data.baselines[full_key] = pin
    return pin


def clear_baseline(store: RunStore, key: str) -> Baseline | None:
    """Unpin `key` (a benchmark key or a prefix of a pinned one); returns what was pinned."""
    with _locked(store) as data:
        matches = [k for k in data.baselines if k.startswith(key)]
        if len(matches) > 1:
            raise HarnessError(f"{len(matches)} pinned keys start with {key!r}: give more of it")
        return data.baselines.pop(matches[0]) if matches else None


def pinned_runs(store: RunStore, pin: Baseline) -> list[StoredRun]:
    """The pinned runs still in the store (a deleted one is left out, not an error)."""
    out = []
    for run_id in pin.runs:
        if (store.root / run_id / "manifest.json").is_file():
            run = store.load(run_id)
            if usable(run.manifest):
                out.append(run)
    return out


def resolve_key(store: RunStore, key: str) -> str:
    keys = sorted({m.benchmark_key for m in store.manifests() if m.benchmark_key and m.benchmark_key.startswith(key)})
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise HarnessError(f"no run in {store.root} has a benchmark key starting with {key!r} "
                           "(`harness results list` shows each run's key)")
    raise HarnessError(f"{len(keys)} benchmark keys start with {key!r}: give more of it")


# --------------------------------------------------------------------------- internals


def _read(path: Path) -> _File:
    if not path.is_file():
        return _File()
    try:
        data = _File.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as e:
        first = str(e).strip().splitlines()[0]
        raise HarnessError(f"{path}: unreadable baselines file: {first}") from None
    if data.schema_version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise HarnessError(f"{path}: baselines schema {data.schema_version} is newer than this harness reads")
    return data


@contextmanager
def _locked(store: RunStore) -> Iterator[_File]:
    path = path_of(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _read(path)
        yield data
        write_atomic(path, data.model_dump_json(indent=2))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
