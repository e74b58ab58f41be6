"""The registered model formats (entry-point group ``harness.formats``), and recognising
a model file's format. See `harness.formats.base` for what a format declares."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from harness import plugins
from harness.errors import ModelError, unknown_name
from harness.formats.base import HEAD_BYTES, ModelFormat


@cache
def formats() -> dict[str, ModelFormat]:
    """Every registered format by name (one instance each)."""
    classes = plugins.valid("harness.formats", plugins.require_subclass(ModelFormat))
    return {name: cls() for name, cls in classes.items()}


def get(name: str) -> ModelFormat:
    try:
        return formats()[name]
    except KeyError:
        raise ModelError(unknown_name("model format", name, formats())) from None


def extensions() -> tuple[str, ...]:
    return tuple(ext for f in formats().values() for ext in f.extensions)


def detect(path: Path) -> ModelFormat:
    """The format of a model file: by its extension, else by its first bytes; checked
    against its first bytes either way. A `ModelError` naming the file otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: not a file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror}") from None
    name = path.name.lower()
    fmt = next((f for f in formats().values() if name.endswith(f.extensions)), None)
    if fmt is None:
        fmt = next((f for f in formats().values() if f.magic and f.matches(head)), None)
    if fmt is None:
        suffix = path.suffix or "(no extension)"
        raise ModelError(f"{path}: unsupported model format {suffix!r}; expected one of: {', '.join(extensions())}")
    fmt.check(path, head)
    return fmt
