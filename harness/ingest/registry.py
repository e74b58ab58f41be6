"""The registered ingest formats (entry-point group ``harness.ingest``), by name."""

from __future__ import annotations

from functools import cache

from harness import plugins
from harness.errors import HarnessError, did_you_mean
from harness.ingest.base import IngestFormat


def _check(name: str, cls: object) -> None:
    plugins.require_subclass(IngestFormat)(name, cls)
    if getattr(cls, "name", None) != name:
        raise TypeError(f"{cls.__name__}.name is {getattr(cls, 'name', None)!r}, its entry point is named {name!r}")


@cache
def ingest_formats() -> dict[str, type[IngestFormat]]:
    return plugins.valid("harness.ingest", _check)  # type: ignore[return-value]


def get(name: str) -> IngestFormat:
    cls = ingest_formats().get(name)
    if cls is None:
        raise HarnessError(f"--format {name!r} is not supported{did_you_mean(name, ingest_formats())}"
                           f"; supported: {', '.join(ingest_formats()) or 'none'}")
    return cls()
