"""What the user names with --model: a zoo id or a model file, checked and identified.

`resolve_model` returns the record's `ModelRef` (name, sha256, format, precision,
size) and the host path. A missing file, an unknown zoo id, an unsupported format
or a file that is not the model it claims to be is a `ModelError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

from harness import zoo
from harness.analysis.static import model_format, model_precision
from harness.digest import sha256_of
from harness.errors import ModelError
from harness.store.record import ModelRef


def resolve_model(spec: str) -> tuple[ModelRef, Path]:
    path = zoo.model_file(spec)  # a zoo id or a file; ModelError naming it otherwise
    entry = None if zoo.is_path(spec) else zoo.resolve(spec)
    fmt = model_format(path)
    precision = entry.precision if entry is not None else _precision(path)
    ref = ModelRef(
        name=entry.id if entry is not None else path.stem,
        path=str(path.resolve()),
        sha256=sha256_of(path),
        format=fmt,
        precision=precision,
        size_bytes=path.stat().st_size,
        zoo_id=entry.id if entry is not None else None,
    )
    return ref, path


def _precision(path: Path) -> str:
    """fp32 / int8 / … from the static analysis; 'unknown' if it cannot tell."""
    try:
        return model_precision(path)
    except ModelError:
        raise
    except Exception:  # a model the analysis cannot read in full still runs
        return "unknown"
