"""Errors the user can act on, and what kind of failure each one is.

A `HarnessError` is printed by the CLI as one line (``error: <message>``) with a
non-zero exit status and no traceback. Its message names the file, field or line
and the cause. Anything else escaping to the CLI is a bug and keeps its traceback.

Every failure has a stable `kind` and says whether it is `transient` (a retry, on this
or an equivalent device, could help). The record stores both (``ErrorInfo.kind`` and
``ErrorInfo.transient``); a device farm retries transient failures only. Kinds:

==================  =========  ==============================================================
kind                transient  raised as
==================  =========  ==============================================================
link_lost           yes        `TransportError` (the connection dropped mid-way)
timeout             yes        `CommandTimeout` (a command or tool overran its deadline)
device_offline      yes        `DeviceOffline` (refused, unreachable, no reply to connect)
target_disk_full    yes        `TargetDiskFull` (no space left on the target)
thermal_limit       yes        the thermal watchdog stopped the run (session)
node_lost           yes        the farm lost the Ray node (or actor) running the job (harness.farm)
device_busy         yes        `DeviceBusy` (another session holds the device's lock)
interrupted         yes        harness stopped mid-run (killed, crashed, host down): the record
                               was finished from its journal (`harness.recovery`)
model_invalid       no         `ModelError` (missing, truncated, not the format it claims)
unsupported_op      no         `UnsupportedOp` (the runtime cannot run an op of the model)
runtime_error       no         `RuntimeFailure` (the runtime or tool failed on the device),
                               `TargetCommandFailed` (a command or file operation failed)
config_invalid      no         `HarnessError`, `ProfileError`, `TransportConfigError`
aborted             no         `RunAborted`, SIGINT/SIGTERM (the user stopped it)
internal            no         any other exception: a bug in harness
==================  =========  ==============================================================

Raise the typed exception where the cause is known. Where only a device's text says what
went wrong (a tool's log, a shell's stderr), `error_from_device_text` is the one place
that reads it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: every failure kind and whether a retry could help
FAILURE_KINDS: dict[str, bool] = {
    "link_lost": True,
    "timeout": True,
    "device_offline": True,
    "target_disk_full": True,
    "thermal_limit": True,
    "node_lost": True,
    "device_busy": True,
    "interrupted": True,
    "model_invalid": False,
    "unsupported_op": False,
    "runtime_error": False,
    "config_invalid": False,
    "aborted": False,
    "internal": False,
}


class HarnessError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2
    kind = "config_invalid"

    @property
    def transient(self) -> bool:
        return FAILURE_KINDS[self.kind]


class ProfileError(HarnessError):
    """A device profile is missing, malformed or invalid."""


class ModelError(HarnessError):
    """A model file is missing, truncated, not a model, or of an unsupported format."""

    kind = "model_invalid"


class UnsupportedOp(HarnessError):
    """The runtime on the target cannot run an operator of the model."""

    kind = "unsupported_op"


class RuntimeFailure(HarnessError):
    """The runtime or tool on the target failed (its output is in the record's raw/)."""

    kind = "runtime_error"


class TransportError(HarnessError):
    """A target could not be reached, or the connection to it was lost."""

    exit_code = 3
    kind = "link_lost"


class DeviceOffline(TransportError):
    """The target did not answer a connection attempt (refused, unreachable, timed out)."""

    kind = "device_offline"


class TransportConfigError(TransportError):
    """The target answered but refused us for a reason only a person can fix
    (unknown or changed host key, failed authentication, a bad address)."""

    kind = "config_invalid"


class CommandTimeout(TransportError):
    """A command on the target exceeded its timeout and was killed."""

    kind = "timeout"


class TargetCommandFailed(TransportError):
    """A command or file operation on the target failed, and the target said why (not a
    link problem: the same request would fail again)."""

    kind = "runtime_error"


class TargetDiskFull(TransportError):
    """The target has no space left for a file the run needs. The message always starts
    with "no space left on the target: ", whichever transport or device text found it."""

    kind = "target_disk_full"
    PREFIX = "no space left on the target: "

    def __init__(self, message: str = ""):
        super().__init__(message if message.startswith(self.PREFIX) else self.PREFIX + message)


class DeviceBusy(HarnessError):
    """Another session holds the device's lock (`harness.device_lock`) and did not let go in time."""

    kind = "device_busy"


class RunAborted(Exception):
    """The run was stopped by the user (SIGINT/SIGTERM); what was measured is kept."""

    kind = "aborted"
    transient = False


def failure_kind(exc: BaseException) -> tuple[str, bool]:
    """(kind, transient) of any exception: its own when it declares one, else ``internal``."""
    kind = getattr(exc, "kind", None)
    if isinstance(exc, KeyboardInterrupt):
        kind = "aborted"
    if kind not in FAILURE_KINDS:
        kind = "internal"
    return kind, FAILURE_KINDS[kind]


# What a device's own text says, checked in order: (needle, exception class). Lower case.
_DEVICE_TEXT: tuple[tuple[str, type[HarnessError]], ...] = (
    ("no space left on device", TargetDiskFull),
    ("disk quota exceeded", TargetDiskFull),
    ("didn't find op for builtin opcode", UnsupportedOp),  # LiteRT / TFLite
    ("encountered unresolved custom op", UnsupportedOp),
    ("could not find an implementation for", UnsupportedOp),  # onnxruntime NOT_IMPLEMENTED
    ("not_implemented", UnsupportedOp),
    ("unsupported data type", UnsupportedOp),
    ("model provided has model identifier", ModelError),  # LiteRT: not a flatbuffer model
    ("not a valid flatbuffer", ModelError),
    ("invalid_protobuf", ModelError),  # onnxruntime
    ("invalid_graph", ModelError),
    ("failed to mmap model", ModelError),
    # TensorRT (trtexec): the ONNX parser has no importer for an op, a layer DLA cannot run
    # with GPU fallback off, an engine from another TensorRT version / GPU, not an engine
    ("no importer registered for op", UnsupportedOp),
    ("unsupported_node", UnsupportedOp),
    ("unsupported on dla", UnsupportedOp),
    ("not supported on dla", UnsupportedOp),
    ("magic tag does not match", ModelError),
    ("magic_tag failed", ModelError),  # 'magicTagRead == kMAGIC_TAG failed', '… == rt::kPLAN_MAGIC_TAG failed'.
    ("version tag does not match", ModelError),
    ("engine plan file is not compatible", ModelError),
    ("engine plan file is generated on an incompatible device", ModelError),
)


def error_from_device_text(text: str, message: str, default: type[HarnessError] = RuntimeFailure) -> HarnessError:
    """The typed error for a failure a device described in `text` (stderr, a tool's log),
    with `message`; `default` when the text names no cause this module knows."""
    low = text.lower()
    for needle, cls in _DEVICE_TEXT:
        if needle in low:
            return cls(message)
    return default(message)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known names closest to a mistyped one, else ``""``."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:  # a part of a longer id (e.g. an architecture without its suffixes)
        low = name.lower()
        close = [k for k in known if low and low in k.lower()][:3]
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def unknown_name(what: str, name: str, known: Iterable[str], hint: str = "") -> str:
    """The one-line message for an id nobody has: ``unknown device 'locl' (did you mean
    'local'?); known: a, b`` (`hint` replaces the list when it is long, e.g. a command)."""
    known = sorted(set(known))
    listing = hint or ("known: " + (", ".join(known) or "none"))
    return f"unknown {what} {name!r}{did_you_mean(name, known)}; {listing}"


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
