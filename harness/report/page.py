"""HTML building blocks for the dashboard, escaping by default.

Text is escaped wherever it goes; only `Markup` (HTML this package built) passes
through as is. So a model named ``<script>alert(1)</script>`` is shown, never run.

Every `table` is sortable (click a header) and filterable (the box above it) by the small
script in ``tables.js``, inlined once in the page; a `Cell` gives a cell the value it sorts
by (seconds, bytes) apart from the text it shows. Tables scroll sideways inside their own
box, so a wide one never widens the page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """1.23 G{unit}; '–' for missing values (the dashboard's and the CLI's number format)."""
    if value is None or not math.isfinite(value):
        return "–"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}".rstrip()
    return f"{value:.{digits}g} {unit}".rstrip()


class Markup(str):
    """HTML built by this package from escaped parts: inserted as is."""


def esc(value: Any) -> Markup:
    """Escaped text (or Markup unchanged); None shows as a dash."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("–")
    return Markup(escape(str(value), quote=True))


_VOID = {"input", "br", "hr", "img", "meta"}  # elements without content or end tag


def tag(name: str, body: Any = "", **attrs: Any) -> Markup:
    """<name attrs>body</name>; attribute values and text body are escaped. `class_` -> class."""
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{escape(str(value), quote=True)}"')
    if name in _VOID:
        return Markup(f"<{' '.join(parts)}>")
    inner = "".join(esc(b) for b in body) if isinstance(body, (list, tuple)) else esc(body) if body != "" else ""
    return Markup(f"<{' '.join(parts)}>{inner}</{name}>")


def ms(seconds: float | None) -> str:
    return "–" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.4g} ms"


def pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def run_link(run_id: str) -> Markup:
    return tag("a", run_id, href=f"#run-{run_id}", class_="small run-id")


@dataclass(frozen=True)
class Cell:
    """A table cell whose sort key differs from its text (a number behind "1.2 ms"); `class_` for styling."""

    body: Any
    sort: float | str | None = None
    class_: str | None = None


def _td(cell: Any) -> Markup:
    if isinstance(cell, Cell):
        key = cell.sort
        if isinstance(key, float) and not math.isfinite(key):
            key = None
        numeric = isinstance(key, (int, float)) and not isinstance(key, bool)
        classes = " ".join(c for c in (cell.class_, "num" if numeric else None) if c) or None
        return tag("td", cell.body, class_=classes, data_sort="" if key is None else repr(key) if
                   isinstance(key, float) else str(key))
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return tag("td", cell, class_="num", data_sort=cell if math.isfinite(cell) else "")
    return tag("td", cell)


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], class_: str = "grid", *,
          caption: str | None = None, **attrs: Any) -> Markup:
    """A sortable, filterable table in its own horizontally scrolling box."""
    rows = list(rows)
    head = Markup("".join(tag("th", tag("button", h, type="button", class_="sort")) for h in headers))
    body = Markup("".join(tag("tr", Markup("".join(_td(c) for c in row))) for row in rows))
    grid = tag("table", [tag("thead", tag("tr", head)), tag("tbody", body)], class_=class_, **attrs)
    tools = tag("div", [tag("input", type="search", class_="table-filter", placeholder="filter rows",
                            aria_label=f"filter the rows of {caption or 'this table'}"),
                        tag("span", f"{len(rows)} row(s)", class_="table-count small muted")], class_="table-tools")
    title = [tag("div", caption, class_="table-title")] if caption else []
    return tag("div", [*title, tools, tag("div", grid, class_="table-wrap")], class_="table-block")


def pre_json(value: Any) -> Markup:
    return tag("pre", json.dumps(value, indent=2, sort_keys=True, default=str))


def definition_list(items: Iterable[tuple[str, Any]]) -> Markup:
    return tag("dl", [Markup(tag("dt", k) + tag("dd", v)) for k, v in items])


def badge(status: str) -> Markup:
    return tag("span", status, class_=f"badge {status if status in ('ok', 'failed', 'aborted') else 'other'}")


CSS = """
:root { --fg:#1d1d1f; --muted:#666; --line:#ddd; --ok:#1a7f37; --bad:#c62828; --warn:#9a6700; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1rem 2rem 4rem; max-width: 1400px; }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.2rem; margin-top: 2.2rem;
     border-bottom: 1px solid var(--line); padding-bottom: .3rem; } h3 { font-size: 1.02rem; margin: 1.4rem 0 .4rem; }
nav a { margin-right: 1rem; } .muted { color: var(--muted); } .small { font-size: 12px; }
table.grid { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
     vertical-align: top; }
table.grid th { background: #f6f6f6; font-weight: 600; position: sticky; top: 0; }
.badge { padding: 0 .45rem; border-radius: .6rem; font-size: 12px; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.failed { background: var(--bad); }
.badge.aborted { background: var(--warn); } .badge.other { background: #777; }
.warn { color: var(--warn); } .error { color: var(--bad); }
pre { background: #f6f8fa; padding: .5rem .7rem; overflow-x: auto; font-size: 12px; margin: .3rem 0; }
details { border: 1px solid var(--line); border-radius: 4px; padding: .3rem .7rem; margin: .4rem 0; }
details > summary { cursor: pointer; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .4rem 0; }
dt { font-weight: 600; color: var(--muted); } dd { margin: 0; word-break: break-word; }
.figure { margin: .5rem 0 1.2rem; min-width: 0; }
.failed-run { border-left: 4px solid var(--bad); padding: .2rem .8rem; margin: .6rem 0; background: #fff8f8; }
.alert { border-left: 4px solid var(--warn); background: #fff8e6; padding: .4rem .8rem; margin: .6rem 0; }
.table-block { margin: .5rem 0 1rem; }
.table-tools { display: flex; gap: .6rem; align-items: center; margin-bottom: .2rem; }
.table-filter { font: inherit; font-size: 12px; padding: .15rem .4rem; width: 16rem; max-width: 60%; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table.grid { margin: 0; }
.table-title { font-weight: 600; margin: .8rem 0 .2rem; }
table.grid.matrix { width: auto; min-width: 50%; }
table.grid td.num { white-space: nowrap; }
table.grid td.reason { min-width: 15rem; }
table.grid td.long-name { min-width: 14rem; max-width: 32rem; overflow-wrap: anywhere; font-size: 12px; }
table.grid th button.sort { all: unset; cursor: pointer; font-weight: 600; }
table.grid th button.sort:focus-visible { outline: 2px solid #1f77b4; }
table.grid th[aria-sort="ascending"] button.sort::after { content: " ▲"; font-size: 10px; }
table.grid th[aria-sort="descending"] button.sort::after { content: " ▼"; font-size: 10px; }
table.grid td.best { background: #e7f5ea; font-weight: 600; }
table.grid td.too-low { color: var(--warn); font-weight: 600; }
a.run-id { white-space: nowrap; }
@media (max-width: 900px) { body { padding: .6rem .8rem 3rem; } table.grid { font-size: 12px; } }
"""


def table_script() -> str:
    """The sorting and filtering script (harness/report/tables.js), to inline once per page."""
    return resources.files("harness.report").joinpath("tables.js").read_text(encoding="utf-8")


def page(title: str, generated: str, plotly_js: str, body: Iterable[Any]) -> str:
    """The whole document: plotly.js inlined once in the head, then the body."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="harness report, {esc(generated)}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f'<script charset="utf-8">{plotly_js}</script>\n</head>\n<body>\n'
        + "".join(esc(b) for b in body)
        + f"\n<script>{table_script()}</script>\n</body>\n</html>\n"
    )
