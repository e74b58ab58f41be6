"""`harness runtimes`: every runner with what it declares (runtimes, formats, transport,
stop modes, delegates, options)."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli._output import id_table, plain, print_json, print_table
from harness.cli.app import app


@app.command("runtimes")
def runtimes(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The runners harness has (built in and from plugins) and what each one declares."""
    from harness.formats import registry as formats
    from harness.ingest.registry import ingest_formats
    from harness.runners import registry

    runners = registry.describe()
    ingest = [{"format": name, "description": cls.description} for name, cls in ingest_formats().items()]
    if as_json:
        print_json({
            "runners": runners,
            "formats": [{"format": f.name, "extensions": list(f.extensions), "static_analysis": f.has_analysis,
                         "description": f.description} for f in formats.formats().values()],
            "ingest_formats": ingest,
        })
        return
    table = id_table("runner", "runtimes", "formats", "transport", "stop modes", "delegates", "options", ids=("runner",))
    for r in runners:
        table.add_row(*plain(
            r["runner"], ", ".join(r["runtimes"]) or "(none: not for harness run)", ", ".join(r["formats"]) or "-",
            f"{r['transport']} ({', '.join(r['transport_kinds'])})", ", ".join(r["stop_modes"]) or "-",
            ", ".join(r["delegates"]) or "-", ", ".join(r["options"]) or "-",
        ))
    print_table(table)
    saved = id_table("ingest format (harness ingest --format)", "reads",
                     ids=("ingest format (harness ingest --format)",))
    for f in ingest:
        saved.add_row(*plain(f["format"], f["description"]))
    print_table(saved)
