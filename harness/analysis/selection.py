"""Which runs one side of a comparison means: a run id, a benchmark key, tags, or a folder.

A side is written as one of

- ``run:ID`` or a run id (a unique prefix of one);
- ``key:KEY`` or a benchmark key (16 hex digits, or a unique prefix of the keys in the store);
- ``tag:K=V[,K2=V2]`` or ``K=V[,K2=V2]``: every run whose metadata has each pair
  (``nightly=2026-12-01``; ``K=`` alone matches any value of K);
- ``dir:PATH`` or the path of a results folder: every run in it.

Without a prefix the forms are tried in that order: a path that is a folder, a text with
``=``, a run id prefix, a key prefix; a text that matches both a run and a key is refused
(say which, with its prefix). Only ``ok`` runs are evidence (see `harness.analysis.evidence`);
a side with none is one clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.analysis.evidence import usable
from harness.errors import HarnessError
from harness.store.store import RunStore, StoredRun

PREFIXES = ("run", "key", "tag", "dir")


@dataclass
class Selection:
    spec: str
    how: str  # run | key | tag | dir
    runs: list[StoredRun]
    #: runs the spec matched that are not evidence (failed, aborted, incomplete)
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        extra = f", {len(self.skipped)} not ok left out" if self.skipped else ""
        return f"{self.spec} ({self.how}: {len(self.runs)} run(s){extra})"


def parse_tags(text: str) -> dict[str, str | None]:
    """``K=V,K2=V2`` as a dict; ``K=`` (or ``K``) matches any value of K."""
    out: dict[str, str | None] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not key:
            raise HarnessError(f"tag selection {text!r}: expected KEY=VALUE[,KEY=VALUE]")
        out[key] = value.strip() if sep and value.strip() else None
    return out


def select(spec: str, store: RunStore) -> Selection:
    """The runs `spec` names in `store` (a ``dir:`` side reads its own folder)."""
    how, sep, rest = spec.partition(":")
    if sep and how in PREFIXES:
        if not rest:
            raise HarnessError(f"side {spec!r}: nothing after {how}:")
        return _by(how, rest, spec, store)
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "manifest.json").is_file():
        return _by("run", path.name, spec, RunStore(path.parent))
    if path.is_dir():
        return _by("dir", spec, spec, store)
    if "=" in spec:
        return _by("tag", spec, spec, store)
    run_dirs = [d for d in store.run_dirs() if d.name.startswith(spec)]
    keys = _keys_with_prefix(store, spec) if re.fullmatch(r"[0-9a-f]{1,16}", spec) else []
    if run_dirs and keys:
        raise HarnessError(f"side {spec!r} is both a run id prefix ({len(run_dirs)} run(s)) and a benchmark key "
                           f"prefix: write run:{spec} or key:{spec}")
    if run_dirs:
        return _by("run", spec, spec, store)
    if keys:
        return _by("key", spec, spec, store)
    raise HarnessError(f"side {spec!r}: no run id, benchmark key, tag selection (K=V) or results folder "
                       f"matches it in {store.root}")


def _by(how: str, value: str, spec: str, store: RunStore) -> Selection:
    if how == "run":
        run = store.load(value)  # unique prefix, else one clear error
        return _usable(spec, how, [run])
    if how == "dir":
        folder = RunStore(Path(value).expanduser())
        if not folder.root.is_dir():
            raise HarnessError(f"side {spec!r}: {folder.root} is not a folder")
        return _usable(spec, how, [StoredRun(m, folder.root / m.run_id) for m in folder.manifests()])
    if how == "tag":
        tags = parse_tags(value)
        return _usable(spec, how, [StoredRun(m, store.root / m.run_id) for m in store.select(tags=tags)])
    keys = _keys_with_prefix(store, value)
    if len(keys) > 1:
        raise HarnessError(f"side {spec!r}: {len(keys)} benchmark keys start with {value!r} "
                           f"({', '.join(sorted(keys)[:4])}…): give more of it")
    if not keys:
        raise HarnessError(f"side {spec!r}: no run in {store.root} has a benchmark key starting with {value!r}")
    return _usable(spec, how, [StoredRun(m, store.root / m.run_id) for m in store.select(key=keys[0])])


def _keys_with_prefix(store: RunStore, prefix: str) -> list[str]:
    return sorted({m.benchmark_key for m in store.manifests() if m.benchmark_key and m.benchmark_key.startswith(prefix)})


def _usable(spec: str, how: str, runs: list[StoredRun]) -> Selection:
    if not runs:
        raise HarnessError(f"side {spec!r}: no runs match")
    ok = [r for r in runs if usable(r.manifest)]
    skipped = [r.manifest.run_id for r in runs if not usable(r.manifest)]
    if not ok:
        raise HarnessError(f"side {spec!r}: none of its {len(runs)} run(s) finished ok "
                           f"({', '.join(sorted({r.manifest.status for r in runs}))}): nothing to compare")
    return Selection(spec, how, ok, skipped)
