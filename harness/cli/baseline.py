"""`harness baseline set|list|clear`: the runs the gate judges a benchmark key against."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from harness.cli.app import app
from harness.cli._output import console, plain, print_json

baseline_app = typer.Typer(help="Pinned baselines (kept in the results store) for `harness gate`.",
                           no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")

ResultsOpt = Annotated[Optional[Path], typer.Option(help="Results folder (default ./results or $HARNESS_RESULTS).")]


@baseline_app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="Benchmark key (or a unique prefix of one).")],
    runs: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes) to pin; two or more allow a "
                                                   "test on run medians.")],
    note: Annotated[Optional[str], typer.Option(help="Why this baseline.")] = None,
    results: ResultsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the pin as JSON.")] = False,
) -> None:
    """Pin runs as KEY's baseline (replacing an earlier pin)."""
    from harness.analysis.baselines import set_baseline
    from harness.store.store import RunStore

    pin = set_baseline(RunStore(results), key, runs, note)
    if as_json:
        print_json(pin)
        return
    console.print(f"{pin.key}: baseline {', '.join(pin.runs)}", markup=False, highlight=False)
    other = sorted({k for k in pin.run_keys if k != pin.key}, key=str)
    if other:
        console.print(f"note: pinned run(s) of another benchmark key ({', '.join(map(str, other))}): measures are "
                      "paired by model, device and phase", markup=False, highlight=False)


@baseline_app.command("list")
def list_(results: ResultsOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every pinned baseline."""
    from harness.analysis.baselines import load
    from harness.store.store import RunStore

    pins = load(RunStore(results))
    if as_json:
        print_json([p.model_dump(mode="json") for p in pins.values()])
        return
    table = Table("key", "runs", "set", "by", "note")
    for p in pins.values():
        table.add_row(*plain(p.key, ", ".join(p.runs), f"{p.set_at:%Y-%m-%d %H:%M}", p.by, p.note))
    console.print(table)


@baseline_app.command("clear")
def clear(key: Annotated[str, typer.Argument(help="Pinned benchmark key (or a unique prefix).")],
          results: ResultsOpt = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print the pin cleared as JSON.")] = False) -> None:
    """Unpin KEY: the gate judges it by its history alone."""
    from harness.analysis.baselines import clear_baseline
    from harness.errors import HarnessError
    from harness.store.store import RunStore

    gone = clear_baseline(RunStore(results), key)
    if gone is None:
        raise HarnessError(f"no baseline is pinned for a key starting with {key!r} (`harness baseline list`)")
    if as_json:
        print_json(gone)
        return
    console.print(f"{gone.key}: baseline cleared", markup=False, highlight=False)
