"""The typer application every command module adds its commands to (a leaf: the command
modules import it, and `harness.cli` imports the command modules)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="harness",
    help="Benchmark compiled ML models on real devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
