"""`harness telemetry parse` and `harness trace`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from harness.cli.app import app
from harness.cli._output import console, err_console, print_json

telemetry_app = typer.Typer(help="Telemetry: parse captured sensor output.", no_args_is_help=True)
app.add_typer(telemetry_app, name="telemetry")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@telemetry_app.command("parse")
def parse(
    file: Annotated[Path, typer.Argument(help="Captured output, or a sysfs tree rooted like / (thermal/rapl/hwmon/sysfs).")],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="tegrastats | vcgencmd | battery | thermal | rapl | hwmon | sysfs"),
    ],
    current_unit: Annotated[
        str, typer.Option("--battery-current-unit", help="battery: auto | uA | mA (auto judges by magnitude)")
    ] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Print the channels found in FILE with SI values (handy when bringing up a device)."""
    from harness.telemetry.parse import parse_file

    result = parse_file(fmt, file, current_unit)  # type: ignore[arg-type]
    if as_json:
        print_json(result.to_dict())
    else:
        table = Table("channel", "unit", "n", "last", "min", "max", title=f"{fmt}: {file}")
        for ch, c in sorted(result.channels().items()):
            table.add_row(ch, c["unit"], str(c["n"]), f"{c['last']:.6g}", f"{c['min']:.6g}", f"{c['max']:.6g}")
        console.print(table)
        for ch in result.missing:
            console.print(f"absent: {ch}")
        for k, v in result.meta.items():
            console.print(f"{k}: {v}")
        for p in result.problems:
            err_console.print(f"warning: {p}", markup=False, highlight=False)
    if not result.readings and not result.missing:
        raise typer.Exit(1)  # nothing recognised at all


@app.command("trace")
def trace(
    run_id: Annotated[str, typer.Argument(help="Run id (a folder under the results directory).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Trace-event JSON file to write.")],
    results: Annotated[
        Optional[Path], typer.Option("--results", help="Results folder (default ./results or $HARNESS_RESULTS).")
    ] = None,
) -> None:
    """Write a run as Chrome/Perfetto trace-event JSON (open it in ui.perfetto.dev)."""
    from harness.report.trace import write_trace

    path = write_trace(run_id, output, results)
    typer.echo(str(path))
