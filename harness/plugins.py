"""Plugins: runners, transports, model formats and ingest formats found through entry points.

Every one of them, the built-ins included, is an entry point of the installed
distributions (``importlib.metadata``), in one of four groups:

=====================  ===========================================  ============================
group                  the entry point names                        it loads
=====================  ===========================================  ============================
``harness.runners``    the runner's `name`                          a `harness.runners.base.Runner` subclass
``harness.transports`` the transport kind (profile ``transport.kind``)  a `harness.transports.base.Transport` subclass
``harness.formats``    the format name (``ModelRef.format``)        a `harness.formats.base.ModelFormat` subclass
``harness.ingest``     the ``harness ingest --format`` value         a `harness.ingest.base.IngestFormat` subclass
=====================  ===========================================  ============================

A package outside this repository adds one with a line in its own ``pyproject.toml``::

    [project.entry-points."harness.runners"]
    my_runner = "my_package.my_module:MyRunner"

A plugin that fails to import, or is not what its group expects, never breaks harness:
it is left out with one warning on stderr naming the entry point and the reason. Each
group is loaded once per process, on first use (by its registry: `harness.runners.registry`,
`harness.transports.registry`, `harness.formats.registry`, `harness.ingest.registry`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

GROUPS = ("harness.runners", "harness.transports", "harness.formats", "harness.ingest")

log = logging.getLogger("harness.plugins")

#: what went wrong loading plugins, one line each (also logged once as a warning)
problems: list[str] = []


@cache
def load(group: str) -> dict[str, object]:
    """The loaded objects of an entry-point group, by entry point name (sorted). Imported
    once per process; one that fails to import is left out with a warning."""
    found: dict[str, object] = {}
    for name in names(group):
        obj = load_one(group, name)
        if obj is not None:
            found[name] = obj
    return found


def names(group: str) -> list[str]:
    """The entry point names of a group, sorted, without importing anything."""
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}")
    return sorted({ep.name for ep in entry_points(group=group)})


@cache
def load_one(group: str, name: str) -> object | None:
    """One entry point's object (None, with a warning, when it is missing or broken):
    loads only that plugin's module, not the whole group."""
    eps = sorted(entry_points(group=group, name=name), key=lambda e: e.value)
    if not eps:
        return None
    if len(eps) > 1:
        warn(f"plugin {name!r} ({group}) is registered {len(eps)} times ({', '.join(e.value for e in eps)}): "
              f"using {eps[0].value}")
    try:
        return eps[0].load()
    except Exception as e:  # noqa: BLE001 - a broken third-party plugin must not break harness
        warn(f"plugin {name!r} ({group} = {eps[0].value}) is left out: {type(e).__name__}: {e}")
        return None


def valid(group: str, check: Callable[[str, object], None]) -> dict[str, object]:
    """`load(group)` without the plugins `check(name, obj)` rejects (it raises, anything):
    each one left out with a warning. Call it once per group (the registries cache it)."""
    kept: dict[str, object] = {}
    for name, obj in load(group).items():
        try:
            check(name, obj)
        except Exception as e:  # noqa: BLE001 - a broken third-party plugin must not break harness
            warn(f"plugin {name!r} ({group}) is left out: {e}")
            continue
        kept[name] = obj
    return kept


def warn(message: str) -> None:
    problems.append(message)
    log.warning("warning: %s", message)


def require_subclass(base: type) -> Callable[[str, object], None]:
    """A `check` for `load`: the entry point must be a concrete subclass of `base`."""

    def check(name: str, obj: object) -> None:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise TypeError(f"{obj!r} is not a {base.__name__} subclass")
        abstract = getattr(obj, "__abstractmethods__", ())
        if abstract:
            raise TypeError(f"{obj.__name__} does not implement {', '.join(sorted(abstract))}")

    return check
