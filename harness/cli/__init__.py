"""The `harness` command line: a thin typer layer over the library.

Every command calls one library function and prints its result (a rich table on a
terminal, or JSON with ``--json``). User mistakes (a `HarnessError`, or a usage error
click finds in the arguments) are printed by `harness.cli.usage.HarnessGroup` as one
``error:`` line with a non-zero exit status and no traceback. A plugin that fails to load
is one ``warning:`` line (`harness.plugins`), never a failed command.

The command modules, one per area of the package, are listed once, in `COMMAND_MODULES`;
each adds its commands to `harness.cli.app.app`.
"""

from __future__ import annotations

import importlib
import logging
import sys

from harness.cli.app import app

COMMAND_MODULES = (
    "ab",
    "baseline",
    "ceilings",
    "compare",
    "devices",
    "devices_check",
    "farm",
    "firmware",
    "gate",
    "ingest",
    "measure",
    "regress",
    "report",
    "results",
    "runtimes",
    "telemetry",
    "zoo",
)
for _name in COMMAND_MODULES:
    importlib.import_module(f"harness.cli.{_name}")


def main() -> None:
    # plugin warnings: one plain line on stderr each
    logging.basicConfig(format="%(message)s", level=logging.WARNING, stream=sys.stderr)
    app(prog_name="harness")  # errors: harness.cli.usage.HarnessGroup.main


__all__ = ["COMMAND_MODULES", "app", "main"]
