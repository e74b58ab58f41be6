"""Shared output helpers for CLI commands: JSON or a rich table, nothing else."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

# Piped output is not wrapped at rich's default 80 columns: tables stay one row per line.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def _default(o: Any) -> Any:
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json")
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _finite(o: Any) -> Any:
    """NaN/inf are not JSON: print them as null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def print_json(obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    elif isinstance(obj, list):
        obj = [o.model_dump(mode="json") if isinstance(o, BaseModel) else o for o in obj]
    text = json.dumps(_finite(json.loads(json.dumps(obj, default=_default))), indent=2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def plain(*values: object) -> list[Text]:
    """Table cells shown as given: names and device messages may contain [brackets]
    that rich would otherwise take for markup (and drop, or fail on)."""
    return [v if isinstance(v, Text) else Text("-" if v is None else str(v)) for v in values]
