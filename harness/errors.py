"""Errors the user can act on.

A `HarnessError` is printed by the CLI as one line (``error: <message>``) with a
non-zero exit status and no traceback. Its message names the file, field or line
and the cause. Anything else escaping to the CLI is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class ProfileError(HarnessError):
    """A device profile is missing, malformed or invalid."""


class ModelError(HarnessError):
    """A model file is missing, truncated, not a model, or of an unsupported format."""


class TransportError(HarnessError):
    """A target could not be reached, or the connection to it was lost."""

    exit_code = 3


class CommandTimeout(TransportError):
    """A command on the target exceeded its timeout and was killed."""


class RunAborted(Exception):
    """The run was stopped by the user (SIGINT/SIGTERM); what was measured is kept."""


def describe_validation_error(err, prefix: str = "") -> str:
    """A pydantic ValidationError as one line: ``<field path>: <reason> (and N more)``.

    `prefix` is prepended to the field path (e.g. ``models[3].``).
    """
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    where = f"{prefix}{loc}: " if loc or prefix else ""  # a whole-object check names no field
    return f"{where}{msg}{more}"
