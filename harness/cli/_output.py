"""Shared output helpers for CLI commands: JSON or a rich table, nothing else."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
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


#: the widest word a table column keeps whole (a longer one, say a path, folds)
WORD_WIDTH = 24


def id_table(*headers: str, ids: Iterable[str] = ("run",), **kwargs: Any) -> Table:
    """A table whose `ids` columns (run ids, device ids, model names: what users paste back
    into a command) are never wrapped or cut; the other columns fold when space is short."""
    ids = set(ids)
    table = Table(**kwargs)
    for header in headers:
        table.add_column(header, no_wrap=header in ids, overflow="fold")
    return table


def print_table(table: Table, to: Console | None = None) -> None:
    """Print a table without cutting any cell. A column that must not wrap keeps its longest
    cell's width; any other column keeps its longest word (up to `WORD_WIDTH`: longer ones
    fold), as rich would otherwise squeeze columns below that, splitting words or dropping
    columns. A table that cannot fit the terminal is printed wider than it (the terminal
    wraps the lines) rather than cropped or shortened with an ellipsis."""
    to = to or console
    options = to.options.update(width=10**6)
    for column in table.columns:
        sizes = [Measurement.get(to, options, c) for c in (column.header, *column.cells)]
        column.min_width = max(m.maximum for m in sizes) if column.no_wrap else \
            min(WORD_WIDTH, max(m.minimum for m in sizes))
    need = Measurement.get(to, options, table).minimum
    if need > to.width:
        table.width = need  # wider than the terminal: rich would squeeze it into the width
    to.print(table, crop=False)
