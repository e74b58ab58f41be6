"""`harness report`: every run in a results folder as one self-contained, offline HTML file.

Sections (see `harness.report.sections`, one module each): a summary (which device runs
each model fastest, per runtime; then every run: median, p90, CI of the median, cold
start, energy per inference when known, roofline efficiency), failed runs (listed, never
hidden), a roofline per device against its ceilings, per-operator tables, latency
distributions, telemetry timelines with the inference windows shaded, and the provenance
of every run. Every table sorts and filters in the page (a small inline script).

plotly.js is inlined once, in the head; each figure is a div plus a small script.
Large series are downsampled for plotting (see `harness.report.downsample`): a
latency histogram has a fixed number of bins, timelines keep each bucket's median and
min–max band. The raw data stays in the run records.

A run recorded before its device had ceilings (or by a harness that judged every model
against DRAM) gets its roofline computed here, from the same functions, and is labelled
"computed at report time".
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.report import DEFAULT_MAX_POINTS, DEFAULT_OUT
from harness.report.context import ReportContext
from harness.report.gather import DeviceView, gather
from harness.report.page import page, tag
from harness.report.sections import SECTIONS
from harness.store.atomic import write_atomic
from harness.store.store import RunStore

__all__ = ["DEFAULT_OUT", "ReportInfo", "build_report", "gather", "render"]


@dataclass
class ReportInfo:
    path: Path
    runs: int
    failed: int
    devices: int
    size_bytes: int
    seconds: float

    def as_dict(self) -> dict:
        return {"path": str(self.path), "runs": self.runs, "failed": self.failed, "devices": self.devices,
                "size_bytes": self.size_bytes, "seconds": self.seconds}


def render(devices: list[DeviceView], results: Path, title: str = "harness report",
           max_points: int = DEFAULT_MAX_POINTS, skipped: list[str] | None = None) -> str:
    from plotly.offline import get_plotlyjs

    ctx = ReportContext(devices, results, max_points, list(skipped or []))
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    runs = ctx.runs
    n_failed = sum(v.m.status != "ok" for v in runs)
    body: list = [
        tag("h1", title),
        tag("p", f"{len(runs)} run(s) on {len(devices)} device(s), {n_failed} failed or aborted; "
                 f"results folder {results.resolve()}; generated {generated}.", class_="muted"),
        tag("nav", [tag("a", s.title, href=f"#{s.id}") for s in SECTIONS]),
    ]
    for section in SECTIONS:
        body.append(tag("section", [tag("h2", section.title, id=section.id), *section.render(ctx)]))
    plotly_js = get_plotlyjs()
    if "</script" in plotly_js.lower():  # would end the inline script early
        raise HarnessError("the installed plotly.min.js contains '</script' and cannot be inlined")
    return page(title, generated, plotly_js, body)


def build_report(results: Path | str | None = None, out: Path | str = DEFAULT_OUT, *, title: str = "harness report",
                 max_points: int = DEFAULT_MAX_POINTS) -> ReportInfo:
    """Write the dashboard for every run under `results` to `out` (atomically).

    `max_points`: the most points any plotted time series keeps (per-bucket summaries)."""
    t0 = time.perf_counter()
    store = RunStore(results)
    results = store.root
    if not results.is_dir():
        raise HarnessError(f"{results}: no such results folder (run `harness run` first, or pass --results)")
    skipped: list[str] = []
    devices = gather(results, skipped)
    if not devices:
        why = f" ({len(skipped)} record(s) could not be read: {skipped[0]})" if skipped else ""
        raise HarnessError(f"{results}: no run records in this folder{why}")
    html = render(devices, results, title, max_points, skipped)
    out = write_atomic(out, html)
    runs = [v for d in devices for v in d.runs]
    return ReportInfo(out, len(runs), sum(v.m.status != "ok" for v in runs), len(devices), out.stat().st_size,
                      time.perf_counter() - t0)
