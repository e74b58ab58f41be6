"""`harness results list|show|recover`: read run records back, finish interrupted ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from harness.cli.app import app
from harness.cli._output import console, id_table, plain, print_json, print_table
from harness.cli.run_view import brief, print_run_summary, run_warnings
from harness.errors import HarnessError
from harness.store.store import RunStore

results_app = typer.Typer(help="Run records: list, show, recover.", no_args_is_help=True)
app.add_typer(results_app, name="results")

ResultsOpt = Annotated[Optional[Path], typer.Option(
    "--results", help="Results folder (default ./results or $HARNESS_RESULTS).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@results_app.command("list")
def list_runs(
    results: ResultsOpt = None,
    device: Annotated[Optional[str], typer.Option(help="Only this device id.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Only this model name.")] = None,
    status: Annotated[Optional[str], typer.Option(help="ok | failed | aborted | incomplete")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="Only runs with this benchmark key (or a prefix of it).")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(
        "--tag", help="Only runs whose metadata has KEY=VALUE (KEY alone: has the key); repeatable.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every run in the results folder, oldest first (runs still measuring, or whose harness was
    killed, as `incomplete`, with what they have measured so far). A record that cannot be read
    is one warning line (the store says it)."""
    from harness.recovery import incomplete_runs
    from harness.store.store import matches

    store = existing_store(results)
    filters = dict(device=device, model=model, status=status, key=key, tags=_tags(tag or []))
    runs = store.select(**filters)
    if status in (None, "incomplete"):
        runs += [r.manifest for r in incomplete_runs(store) if matches(r.manifest, **filters)]
        runs.sort(key=lambda m: (m.started_at, m.run_id))
    if as_json:
        print_json([brief(m) for m in runs])
        return
    table = id_table("run", "started", "device", "model", "runtime", "status", "n", "median ms", "stop", "key",
                     "warnings", ids=("run", "device", "model", "key"))
    for m in runs:
        lat = m.summary.latency
        table.add_row(
            *plain(
                m.run_id,
                m.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                m.device.id,
                m.model.name,
                m.runtime.name,
                m.status,
                lat.n if lat else None,
                f"{lat.median_s * 1e3:.3f}" if lat else None,
                m.summary.stop_reason,
                m.benchmark_key,
                len(run_warnings(m)) or None,
            )
        )
    print_table(table)


def existing_store(results: Path | None) -> RunStore:
    """The results folder, which must exist (a mistyped --results is an error, not an empty list)."""
    store = RunStore(results)
    if not store.root.is_dir():
        raise HarnessError(f"{store.root}: no such results folder (run `harness run` first, or pass --results)")
    return store


def _tags(items: list[str]) -> dict[str, str | None]:
    """``KEY=VALUE`` (that value) or ``KEY`` (any value) filters."""
    out: dict[str, str | None] = {}
    for item in items:
        k, sep, v = item.partition("=")
        out[k] = v if sep else None
    return out


@results_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id, or any unique prefix of it.")],
    results: ResultsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole record (manifest) as JSON.")] = False,
) -> None:
    """One run: identity, status or error, cold start, latency with its CI, energy, roofline,
    warnings and where its files are (--json: the whole record)."""
    run = existing_store(results).load(run_id)
    if as_json:
        data = run.manifest.model_dump(mode="json")
        data["path"] = str(run.path)
        print_json(data)
    else:
        print_run_summary(run.manifest, run.path)


@results_app.command("recover")
def recover(
    run_id: Annotated[Optional[list[str]], typer.Argument(help="Run ids (or unique prefixes); default: every interrupted run.")] = None,
    results: ResultsOpt = None,
    force: Annotated[bool, typer.Option(help="Also finish runs whose harness may still be measuring them.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Finish the records of runs whose harness was killed mid-run (status aborted, error kind
    interrupted, with every sample their journal kept). `harness run` does it too, before measuring."""
    from harness.recovery import recover as finish

    done = finish(existing_store(results), run_id or None, force=force)
    if as_json:
        print_json([brief(m) for m in done])
        return
    for m in done:
        console.print(f"recovered {m.run_id}: {m.tables.get('samples', 0)} samples, "
                      f"{m.tables.get('telemetry', 0)} telemetry points", markup=False)
    if not done:
        console.print("no interrupted runs to recover", markup=False)
