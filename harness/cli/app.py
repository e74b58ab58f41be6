"""The typer application every command module adds its commands to (a leaf: the command
modules import it, and `harness.cli` imports the command modules)."""

from __future__ import annotations

from typing import Annotated

import typer

from harness.cli.usage import HarnessGroup

app = typer.Typer(
    name="harness",
    cls=HarnessGroup,
    help="Benchmark compiled ML models on real devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        import harness

        typer.echo(f"harness {harness.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print harness's version and exit.")] = False,
) -> None:
    """Benchmark compiled ML models on real devices."""
