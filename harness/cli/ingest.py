"""`harness ingest`: import saved device logs as run records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness.cli import app
from harness.cli._output import print_json
from harness.errors import HarnessError

FORMATS = ("benchmark_model",)


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="The saved log.")],
    fmt: Annotated[str, typer.Option("--format", help="Log format: benchmark_model.")],
    device: Annotated[Optional[str], typer.Option("--device", "-d", help="Profile id or YAML path it ran on.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name, or the model file (hashed).")] = None,
    results: Annotated[Optional[Path], typer.Option(help="Results folder (default ./results or $HARNESS_RESULTS).")] = None,
    profiles: Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the imported run as JSON; its memory_mb figures are in MiB (bytes / 2**20, what "
                       "benchmark_model calls MB). The record itself stores bytes.")] = False,
) -> None:
    """Import a saved log (e.g. a pile of benchmark_model outputs) as a run record."""
    if fmt not in FORMATS:
        raise HarnessError(f"--format {fmt!r} is not supported (supported: {', '.join(FORMATS)})")
    from harness.runners.benchmark_model import ingest_json, ingest_log

    manifest, log = ingest_log(file, device=device, model=model, results=results, profile_dirs=profiles)
    if as_json:
        print_json(ingest_json(manifest, log))
    else:
        _print(manifest)
    if manifest.status != "ok":  # as `harness run`: a failed run is a non-zero exit
        raise typer.Exit(1)


def _print(manifest) -> None:
    agg = manifest.summary.aggregates or {}
    steady = agg.get("steady", {})
    mean = steady.get("mean_s")
    typer.echo(
        f"{manifest.run_id}  {manifest.status}  {manifest.model.name}"
        + (f"  mean {mean * 1e3:.3f} ms over {steady.get('count')} runs (aggregates from the log)" if mean else "")
        + (f"  error: {manifest.error.message}" if manifest.error else "")
    )
