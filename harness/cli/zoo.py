"""`harness zoo list|show|analyze|build`: the reference workloads and static analysis."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from harness.cli.app import app
from harness.cli._output import console, id_table, plain, print_json, print_table

zoo_app = typer.Typer(help="Reference models and static analysis (MACs, FLOPs, bytes).",
                      no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@zoo_app.command("list")
def list_models(as_json: JsonOpt = False) -> None:
    """Every zoo entry: id, format, precision, MACs, params, and whether its file is there."""
    from harness import zoo
    from harness.report.page import si

    rows = [{"id": e.id, "format": e.format, "precision": e.precision, "path": str(e.path),
             "sha256": e.sha256, "macs": e.macs, "params": e.params, "built": e.built}
            for e in zoo.entries()]
    if as_json:
        print_json(rows)
        return
    table = id_table("id", "format", "precision", "MACs", "params", "size", "file", ids=("id",))
    for e in zoo.entries():
        where = "committed" if e.storage == "repo" else ("built" if e.built else "build on demand")
        table.add_row(*plain(e.id, e.format, e.precision, si(e.macs), si(e.params), si(e.size_bytes, "B"), where))
    print_table(table)


@zoo_app.command("show")
def show(model_id: Annotated[str, typer.Argument(metavar="ID", help="Entry id or architecture.")],
         as_json: JsonOpt = False) -> None:
    """One zoo entry: shapes, file, sha256, measured and published MACs/params."""
    from harness import zoo
    from harness.report.page import si

    e = zoo.get(model_id)
    data = e.model_dump() | {"path": str(e.path), "built": e.built}
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False)
    for key in ("id", "arch", "task", "format", "precision", "input_shape", "input_dtype",
                "output_shape", "output_dtype", "path", "storage", "built", "size_bytes", "sha256"):
        table.add_row(key, str(data[key]))
    table.add_row("macs", f"{e.macs} (published {si(e.expected.macs)})")
    table.add_row("params", f"{e.params} (published {si(e.expected.params)})")
    table.add_row("reference", e.expected.reference)
    console.print(table)


@zoo_app.command("analyze")
def analyze(
    model: Annotated[str, typer.Argument(help="Zoo id/arch or a .tflite/.onnx file.")],
    as_json: JsonOpt = False,
    ops: Annotated[bool, typer.Option("--ops/--no-ops", help="Show the per-op table.")] = True,
    mcu: Annotated[bool, typer.Option("--mcu/--no-mcu", help="Measure the TFLM arena (int8 TFLite).")] = True,
) -> None:
    """Per-op and total MACs, FLOPs, params and bytes; MCU arena/flash for int8 TFLite."""
    from harness.analysis.static import analyze as run_analysis
    from harness.report.page import si

    a = run_analysis(model, mcu=mcu)
    if as_json:
        print_json(a)
        return
    if ops:
        table = Table("#", "type", "name", "output", "MACs", "FLOPs", "params", "read", "written")
        for o in a.ops:
            out = "x".join(str(d) for d in o.output_shapes[0]) if o.output_shapes and o.output_shapes[0] else "?"
            kind = f"{o.type} (unknown)" if o.unknown else o.type
            table.add_row(str(o.index), kind, o.name[-48:], out, si(o.macs), si(o.flops),
                          si(o.params), si(o.bytes_read, "B"), si(o.bytes_written, "B"))
        console.print(table)
    totals = Table(show_header=False, title=f"{a.path} ({a.format}, {a.precision})")
    totals.add_row("MACs", f"{a.macs:,}")
    totals.add_row("FLOPs", f"{a.flops:,}")
    totals.add_row("params", f"{a.params:,}")
    totals.add_row("weight bytes", f"{a.weight_bytes:,}")
    totals.add_row("activation bytes", f"peak live {a.activation_bytes.peak_live:,}, total {a.activation_bytes.total:,}")
    totals.add_row("bytes moved", f"{a.bytes_moved:,} (read {a.bytes_read:,}, written {a.bytes_written:,})")
    ai = a.arithmetic_intensity
    totals.add_row("arithmetic intensity", f"{ai:.2f} FLOP/byte" if ai is not None else "-")
    if a.mcu is not None:
        arena = f"{a.mcu.arena_bytes:,}" if a.mcu.arena_bytes is not None else f"- ({a.mcu.note})"
        totals.add_row("MCU arena bytes", arena)
        totals.add_row("MCU flash bytes", f"{a.mcu.flash_bytes:,} (model only)")
    for note in a.notes:
        totals.add_row("note", note)
    console.print(totals)


@zoo_app.command("build")
def build(
    model_id: Annotated[str, typer.Argument(metavar="ID", help="Entry id or architecture.")],
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the file exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build an on-demand entry into the cache (needs the `build` extra)."""
    from harness import zoo

    result = zoo.build(model_id, force=force)
    if as_json:
        print_json(result)
        return
    state = "built" if result.built_now else "already there"
    match = "sha256 matches the manifest" if result.matches_manifest else (
        "sha256 differs from the manifest (other TensorFlow version or CPU?)")
    console.print(f"{result.id}: {state}: {result.path}\n{match}", soft_wrap=True)
