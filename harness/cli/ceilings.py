"""`harness ceilings`: a device's compute and bandwidth ceilings for the roofline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from harness.cli.app import app
from harness.cli._output import console, err_console, plain, print_json
from harness.cli.progress import StageProgress
from harness.errors import HarnessError
from harness.profiles import load_profile


@app.command("ceilings")
def ceilings(
    device: Annotated[str, typer.Option("--device", "-d", help="Profile id or YAML path.")],
    remeasure: Annotated[bool, typer.Option("--remeasure", help="Measure again even if stored ceilings exist.")] = False,
    show: Annotated[bool, typer.Option("--show", help="Only show stored (or datasheet) ceilings; never measure.")] = False,
    full: Annotated[bool, typer.Option("--full", help="ERT's ×1.1 working-set steps and more trials (about a minute on a PC; quick: ~15 s).")] = False,
    threads: Annotated[Optional[int], typer.Option(help="Threads (default: the profile's cluster, else every CPU).")] = None,
    max_bytes: Annotated[Optional[int], typer.Option(help="Largest total working set of the bandwidth sweep, bytes "
                                                          "(default: 8x the last-level cache, at least 64 MiB).")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="Results folder the ceilings are stored under.")] = None,
    profiles: Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ceilings as JSON.")] = False,
) -> None:
    """Measure a device's peak ops/s (fp32, int8) and bandwidth per cache level and DRAM, ERT-style.

    Stored as <results>/ceilings/<device>.json and reused until re-measured (--remeasure).
    Without a measurement the profile's datasheet numbers are shown, labelled as such.
    """
    # Imported here: the probe and plotting modules are slow to import for every other command.
    from harness.analysis.ceilings import (
        ceilings_for,
        ceilings_path,
        load_ceilings,
        measure_ceilings,
    )
    from harness.store.store import RunStore

    profile = load_profile(device, profiles)
    store = RunStore(results)
    root = store.root
    stored = None if remeasure else load_ceilings(profile.id, root)
    if show or stored is not None:
        result = ceilings_for(profile, root)
        if result is None:
            raise HarnessError(f"no stored ceilings for {profile.id} and its profile has no datasheet numbers: measure them without --show")
        if not as_json and stored is not None:
            err_console.print(f"stored ceilings from {ceilings_path(profile.id, root)} (measure again with --remeasure)")
    else:
        store.check_writable()  # where the result goes, before the device spends time measuring
        mode = "full" if full else "quick"
        with StageProgress(f"{profile.id} ceilings") as progress:
            result = measure_ceilings(profile, root, mode=mode, threads=threads, progress=progress, max_bytes=max_bytes)
        if not as_json:
            err_console.print(f"stored in {ceilings_path(profile.id, root)}")
    if as_json:
        print_json(result.brief())
    else:
        _print(result)


def _print(c) -> None:
    from harness.analysis.ceilings import SANITY_LABELS
    from harness.report.page import si

    when = c.measured_at.strftime("%Y-%m-%d %H:%M UTC") if c.measured_at else "-"
    title = Text(f"{c.device}: {c.method} ({when}, {c.threads or '-'} thread(s))")
    table = Table("ceiling", "value", "method", title=title)
    for dtype, v in c.peak_ops_per_s.items():
        table.add_row(*plain(f"peak {dtype}", si(v, "op/s"), c.sources.get(dtype, c.method).split(":")[0]))
    for level, v in c.bandwidth_bytes_per_s.items():
        table.add_row(*plain(f"bandwidth {level}", si(v, "B/s"), c.sources.get("bandwidth", c.method).split(":")[0]))
    for key, (label, unit) in SANITY_LABELS.items():
        if key in c.sanity:
            table.add_row(*plain(f"sanity: {label}", si(c.sanity[key], unit), "not a ceiling"))
    console.print(table)
    for key, how in c.sources.items():
        console.print(Text(f"{key}: {how}", style="dim"))
    for w in c.warnings:
        err_console.print(Text(f"warning: {w}", style="yellow"))
