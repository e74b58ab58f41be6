"""`harness ingest`: import saved device logs as run records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness import plugins
from harness.cli._output import print_json
from harness.cli.app import app
from harness.cli.measure import TagOpt, parse_pairs
from harness.cli.run_view import brief, run_warnings


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="The saved log.")],
    fmt: Annotated[str, typer.Option("--format", help=f"Log format: {' | '.join(plugins.names('harness.ingest'))}.")],
    device: Annotated[Optional[str], typer.Option("--device", "-d", help="Profile id or YAML path it ran on.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model name, or the model file or zoo id (hashed, and checked against the log's "
                              "model path and size).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="A --model that does not match the log's model is an error, not a warning.")] = False,
    tag: TagOpt = None,
    results: Annotated[Optional[Path], typer.Option(help="Results folder (default ./results or $HARNESS_RESULTS).")] = None,
    profiles: Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the imported run as JSON (an array when the log holds several runs); a "
                       "benchmark_model log adds its memory_mb figures in MiB (bytes / 2**20, what "
                       "benchmark_model calls MB). The record itself stores bytes.")] = False,
) -> None:
    """Import a saved tool log (a pile of benchmark_model outputs, say) as run records."""
    from harness.ingest.files import ingest_file

    runs = ingest_file(fmt, file, device=device, model=model, results=results, profile_dirs=profiles,
                       metadata=parse_pairs(tag or [], "--tag"), strict=strict)
    if as_json:
        out = [{**brief(manifest), **run.json_extra} for manifest, run in runs]
        print_json(out[0] if len(out) == 1 else out)
    else:
        for manifest, _run in runs:
            _print(manifest)
    if any(m.status != "ok" for m, _ in runs):  # as `harness run`: a failed run is a non-zero exit
        raise typer.Exit(1)


def _print(manifest) -> None:
    from harness.store.results import ToolAggregates

    agg = manifest.result(ToolAggregates)
    steady = agg.steady if agg is not None else None
    mean = steady.mean_s if steady is not None else None
    typer.echo(
        f"{manifest.run_id}  {manifest.status}  {manifest.model.name}"
        + (f"  mean {mean * 1e3:.3f} ms over {steady.count} runs (aggregates from the log)" if mean else "")
        + (f"  error: {manifest.error.message}" if manifest.error else "")
    )
    for w in run_warnings(manifest):
        typer.echo(f"{manifest.run_id}: warning: {w}")
