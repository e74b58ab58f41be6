"""What the user names with --model: a zoo id or a model file, checked and identified.

`resolve_model` returns the record's `ModelRef` (name, sha256, format, precision,
size) and the host path; the file's format (`harness.formats`) recognises and identifies
it. A missing file, an unknown zoo id, an unsupported format or a file that is not the
model it claims to be is a `ModelError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

from harness import zoo
from harness.digest import sha256_of
from harness.errors import ModelError
from harness.formats import registry
from harness.store.record import ModelRef


def resolve_model(spec: str) -> tuple[ModelRef, Path]:
    path = zoo.model_file(spec)  # a zoo id or a file; ModelError naming it otherwise
    entry = None if zoo.is_path(spec) else zoo.resolve(spec)
    fmt = registry.detect(path)
    if entry is not None:
        precision = entry.precision
        name, size, sha256 = entry.id, path.stat().st_size, None
    else:
        name, precision, size, sha256 = _identify(fmt, path)
    ref = ModelRef(
        name=name,
        path=str(path.resolve()),
        sha256=sha256 or sha256_of(path),
        format=fmt.name,
        precision=precision,
        size_bytes=size,
        zoo_id=entry.id if entry is not None else None,
    )
    return ref, path


def _identify(fmt, path: Path):
    """The format's identity of a file; a precision it cannot read is 'unknown'."""
    try:
        return fmt.identify(path)
    except ModelError:
        raise
    except Exception:  # a model the format cannot read in full still runs
        return path.stem, "unknown", path.stat().st_size, sha256_of(path)
