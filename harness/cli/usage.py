"""The root command group: one place where every mistake becomes one ``error:`` line.

typer (with its vendored click) prints its own usage errors as a boxed panel and raises
`HarnessError` as a traceback. `HarnessGroup.main` runs the command tree in click's
non-standalone mode and turns what escapes into one line on stderr and an exit status:

- a click usage error (unknown option, bad value, missing option, unknown command) →
  ``error: <what> (see 'harness <cmd> --help')``, exit 2, with "did you mean" where click
  knows the candidates;
- a `HarnessError` → ``error: <message>``, its own `exit_code`;
- Ctrl-C → ``error: interrupted``, exit 130.

Help is click's plain layout (what other command-line tools print): typer's rich panels
show boolean flags as taking a ``<bool>`` value, and wrap badly on narrow terminals.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from typer import _click as click
from typer.core import TyperGroup
from typer.exceptions import Abort

from harness.errors import HarnessError

INTERRUPTED = 130


def error_line(message: str) -> None:
    """Print one ``error:`` line on stderr (newlines inside the message folded)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def usage_message(e: click.exceptions.ClickException) -> str:
    """A click error as one line, with the command's help hint."""
    if isinstance(e, click.exceptions.NoSuchOption) and e.possibilities:
        message = f"{e.message} (did you mean {' or '.join(sorted(e.possibilities))}?)"
    else:
        message = e.format_message()
    # typer's own suggestion for a mistyped command, in the same words as ours
    message = re.sub(r"\. Did you mean (.+)\?$", r" (did you mean \1?)", message.strip().removesuffix("."))
    errors = getattr(e.__cause__, "errors", None)  # typer converts values with pydantic: name the value
    if isinstance(e, click.exceptions.BadParameter) and callable(errors) and errors() and "input" in errors()[0]:
        message += f" (got {errors()[0]['input']!r})"
    message = _lower_first(message.strip().removesuffix("."))
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def plain_help(command: click.Command) -> None:
    """Click's plain help for a command and everything under it (see the module docstring)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


class HarnessGroup(TyperGroup):
    """The `harness` group (``typer.Typer(cls=HarnessGroup)``); see the module docstring."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        plain_help(self)
        code: Any = 0
        try:
            code = super().main(args, prog_name or "harness", complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # `harness devices`: its help, as click prints it
            e.show()
            code = e.exit_code
        except click.exceptions.ClickException as e:
            error_line(usage_message(e))
            code = e.exit_code
        except Abort:
            error_line("aborted")
            code = 1
        except HarnessError as e:
            error_line(str(e))
            code = e.exit_code
        except KeyboardInterrupt:
            code = INTERRUPTED
        if code == INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130
            error_line("interrupted")
        sys.exit(code if isinstance(code, int) else 0)
