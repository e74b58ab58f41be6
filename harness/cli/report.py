"""`harness report`: the HTML dashboard of every run in a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness.cli.app import app
from harness.cli._output import console, print_json
from harness.report import DEFAULT_MAX_POINTS, DEFAULT_OUT


@app.command("report")
def report(
    results: Annotated[Optional[Path], typer.Option("--results", help="Results folder (default ./results or $HARNESS_RESULTS).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = DEFAULT_OUT,
    title: Annotated[str, typer.Option(help="Page title.")] = "harness report",
    max_points: Annotated[int, typer.Option(min=10, help="Most points a plotted time series keeps (min/max buckets).")] = DEFAULT_MAX_POINTS,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write one self-contained offline HTML dashboard of every run (default reports/index.html)."""
    from harness.report.dashboard import build_report

    info = build_report(results, out, title=title, max_points=max_points)
    if as_json:
        print_json(info.as_dict())
        return
    console.print(
        f"wrote {info.path} ({info.size_bytes / 1e6:.1f} MB): {info.runs} run(s) on {info.devices} device(s), "
        f"{info.failed} failed or aborted, in {info.seconds:.1f} s"
    )
