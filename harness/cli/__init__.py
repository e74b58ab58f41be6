"""The `harness` command line: a thin typer layer over the library.

Every command calls one library function and prints its result (a rich table on a
terminal, or JSON with ``--json``). User mistakes raise `HarnessError`, printed here as
one line with a non-zero exit status and no traceback.
"""

from __future__ import annotations

import sys

import typer

from harness.errors import HarnessError

app = typer.Typer(
    name="harness",
    help="Benchmark compiled ML models on real devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Each module adds its commands to `app`; one module per area of the package.
    from harness.cli import (  # noqa: F401
        ceilings,
        devices,
        firmware,
        ingest,
        measure,
        report,
        results,
        telemetry,
        zoo,
    )


_register()


def main() -> None:
    try:
        app()
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
