"""The registered transports (entry-point group ``harness.transports``), by kind.

The entry point's name is the transport kind a profile names (``transport.kind``). A
transport class declares ``kind`` and ``spec``, the pydantic model of its profile section;
the built-in specs live in `harness.profiles`, a plugin's spec subclasses
`harness.profiles.PluginTransportSpec`. Each transport's module is imported on first use
of its kind (paramiko, adb-shell and pyserial load only when needed)."""

from __future__ import annotations

from functools import cache

from harness import plugins
from harness.errors import HarnessError, unknown_name
from harness.transports.base import Transport

GROUP = "harness.transports"


@cache
def transport_class(kind: str) -> type[Transport]:
    cls = plugins.load_one(GROUP, kind)
    if cls is None:
        raise HarnessError(unknown_name("transport kind", kind, plugins.names(GROUP)))
    try:
        plugins.require_subclass(Transport)(kind, cls)
        if getattr(cls, "kind", None) != kind:
            raise TypeError(f"{cls.__name__}.kind is {getattr(cls, 'kind', None)!r}, its entry point is {kind!r}")
    except TypeError as e:
        plugins.warn(f"plugin {kind!r} ({GROUP}) is left out: {e}")
        raise HarnessError(f"transport kind {kind!r} is registered but broken: {e}") from None
    return cls  # type: ignore[return-value]


def transport_classes() -> dict[str, type[Transport]]:
    """Every registered transport that loads, by kind (imports them all)."""
    out = {}
    for kind in plugins.names(GROUP):
        try:
            out[kind] = transport_class(kind)
        except HarnessError:
            continue
    return out
