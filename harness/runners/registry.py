"""The registered runners (entry-point group ``harness.runners``) and what is derived from
their declarations: the runtime names, the default runtime for a format on a device, the
plan-time checks, and the listing of ``harness runtimes``. See `harness.runners.base`."""

from __future__ import annotations

from functools import cache
from typing import Any

from harness import plugins
from harness.errors import HarnessError, ModelError, unknown_name
from harness.profiles import DeviceProfile
from harness.runners.base import Runner, RunnerOptions
from harness.store.record import RunConfig, StopRule
from harness.transports.base import Transport

_STOP_MODES = set(StopRule.model_fields["mode"].annotation.__args__)


def _check(name: str, cls: object) -> None:
    plugins.require_subclass(Runner)(name, cls)
    for attr in ("runtimes", "formats", "stop_modes", "delegates"):
        value = getattr(cls, attr, None)
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{cls.__name__}.{attr} must be a tuple of strings")
    if getattr(cls, "name", None) != name:
        raise TypeError(f"{cls.__name__}.name is {getattr(cls, 'name', None)!r}, its entry point is named {name!r}")
    if not (isinstance(cls.transport, type) and issubclass(cls.transport, Transport)):
        raise TypeError(f"{cls.__name__}.transport must be a Transport class (CommandTransport or LineTransport)")
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, RunnerOptions)):
        raise TypeError(f"{cls.__name__}.Options must subclass RunnerOptions")
    if set(cls.stop_modes) - _STOP_MODES or (cls.runtimes and not cls.stop_modes):
        raise TypeError(f"{cls.__name__}.stop_modes must name stop modes among {sorted(_STOP_MODES)}")


@cache
def runners() -> dict[str, type[Runner]]:
    """Every valid registered runner class, by name."""
    return plugins.valid("harness.runners", _check)  # type: ignore[return-value]


@cache
def runtimes() -> dict[str, type[Runner]]:
    """runtime name -> the runner class serving it (the first by runner name on a clash)."""
    out: dict[str, type[Runner]] = {}
    for cls in runners().values():
        for rt in cls.runtimes:
            if rt in out:
                plugins.warn(f"runtime {rt!r} is served by {out[rt].name} and {cls.name}: {cls.name} left out for it")
                continue
            out[rt] = cls
    return out


def runner_for(runtime: str) -> Runner:
    """The runner serving a runtime; a `HarnessError` listing the known ones otherwise."""
    cls = runtimes().get(runtime)
    if cls is None:
        raise HarnessError(unknown_name("runtime", runtime, runtimes()))
    return cls()


def transport_satisfies(profile: DeviceProfile, runner: type[Runner]) -> bool:
    from harness.transports.registry import transport_class

    return issubclass(transport_class(profile.transport.kind), runner.transport)


def default_runtime(profile: DeviceProfile, fmt: str) -> str:
    """The runtime for a model format on a device: the profile's default when it takes the
    format, else the first of the profile's runtimes whose runner takes it."""
    def takes(rt: str) -> bool:
        cls = runtimes().get(rt)
        return cls is not None and cls.accepts(rt, fmt) and transport_satisfies(profile, cls)

    if profile.defaults.runtime in profile.runtimes and takes(profile.defaults.runtime):
        return profile.defaults.runtime
    for rt in profile.runtimes:
        if takes(rt):
            return rt
    raise HarnessError(
        f"device {profile.id!r} has no runtime for {fmt} models (its runtimes: {', '.join(profile.runtimes)})"
    )


def check_plan(runner: Runner, profile: DeviceProfile, fmt: str, model_path: str, config: RunConfig) -> None:
    """Everything the declarations say about one planned run; a `HarnessError` otherwise."""
    cls = type(runner)
    if not cls.accepts(config.runtime, fmt):
        takes = cls.runtime_formats.get(config.runtime, cls.formats)
        raise ModelError(
            f"{model_path}: a {fmt} model cannot run with runtime {config.runtime!r} "
            f"(it takes: {', '.join(takes) or 'no model'})"
        )
    if config.runtime not in profile.runtimes:
        raise HarnessError(
            f"device {profile.id!r} does not have runtime {config.runtime!r} (its runtimes: {', '.join(profile.runtimes)})"
        )
    if not transport_satisfies(profile, cls):
        raise HarnessError(
            f"runtime {config.runtime!r} needs a {cls.transport.__name__}; device {profile.id!r} is reached over "
            f"{profile.transport.kind!r}, which is not one"
        )
    if config.stop.mode not in cls.stop_modes:
        raise HarnessError(
            f"runner {cls.name} cannot honour --stop {config.stop.mode} (it supports: {', '.join(cls.stop_modes)})"
        )
    if config.delegate is not None and config.delegate not in cls.delegates:
        supported = ", ".join(cls.delegates) if cls.delegates else "none: it runs the runtime's default kernels"
        raise HarnessError(
            f"runner {cls.name} cannot apply --delegate {config.delegate} (delegates it applies: {supported})"
        )
    runner.options_for(config)
    runner.check(profile, config)


def describe() -> list[dict[str, Any]]:
    """Every runner with its declarations, for ``harness runtimes``."""
    from harness.transports.registry import transport_classes

    out = []
    for cls in runners().values():
        schema = cls.Options.model_json_schema()
        options = {
            name: {
                "type": _type_name(prop),
                "default": prop.get("default"),
                "description": prop.get("description"),
            }
            for name, prop in schema.get("properties", {}).items()
        }
        out.append({
            "runner": cls.name,
            "runtimes": list(cls.runtimes),
            "formats": list(cls.formats),
            "runtime_formats": {rt: list(cls.runtime_formats.get(rt, cls.formats)) for rt in cls.runtimes},
            "transport": cls.transport.__name__,
            "transport_kinds": [k for k, t in transport_classes().items() if issubclass(t, cls.transport)],
            "stop_modes": list(cls.stop_modes),
            "delegates": list(cls.delegates),
            "options": options,
            "description": cls.description,
            "module": cls.__module__,
        })
    return out


def _type_name(prop: dict) -> str:
    if "type" in prop:
        return prop["type"]
    if "enum" in prop:
        return " | ".join(map(str, prop["enum"]))
    if "anyOf" in prop:
        return " | ".join(_type_name(p) for p in prop["anyOf"])
    if "const" in prop:
        return repr(prop["const"])
    return "any"
