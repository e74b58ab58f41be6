"""Reading a run manifest of any version: migrate older ones, tolerate a newer minor one.

- Version 1 (the integer ``1``, before record v2): ``summary.aggregates`` and the
  windows, score and accuracy report in ``runtime.details`` become typed ``results``
  (`harness.store.results`); everything else reads as it was.
- ``"2.x"`` with x above this harness' minor: fields this harness does not know are
  dropped on read (a minor version only adds optional fields), never refused.
- A newer major version is refused in one line saying to upgrade harness.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError, describe_validation_error
from harness.store.record import SCHEMA_VERSION, RunManifest
from harness.store.results import AggregateStats, drop_unknown_fields

_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def parse_version(version: Any) -> tuple[int, int] | None:
    """(major, minor) of a ``schema_version``: the integer 1 of v1 records, or "major.minor"."""
    if isinstance(version, int) and not isinstance(version, bool):
        return version, 0
    m = _VERSION.match(version) if isinstance(version, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


def read_manifest(data: Any, where: str) -> RunManifest:
    """A `RunManifest` from a manifest's JSON data; `HarnessError` naming `where` otherwise."""
    if not isinstance(data, dict):
        raise HarnessError(f"{where}: a run manifest is a JSON object")
    version = parse_version(data.get("schema_version"))
    ours = parse_version(SCHEMA_VERSION)
    if version is None:
        raise HarnessError(f"{where}: schema_version {data.get('schema_version')!r} is not a record version")
    if version[0] > ours[0]:
        raise HarnessError(
            f"{where}: schema_version {data['schema_version']!r} is newer than this harness reads "
            f"({ours[0]}.x); upgrade harness"
        )
    if version[0] == 1:
        data = migrate_v1(data)
    try:
        return RunManifest.model_validate(data)
    except ValidationError as e:
        if version > ours and drop_unknown_fields(data, e):
            return read_manifest({**data, "schema_version": SCHEMA_VERSION}, where)
        raise HarnessError(f"{where}: {describe_validation_error(e)}") from None


# -- version 1 -------------------------------------------------------------------------------


def migrate_v1(data: dict) -> dict:
    """A v1 manifest's data as version 2.0 (a new dict; `data` is left as it was)."""
    out = {**data, "schema_version": SCHEMA_VERSION}
    summary = dict(out.get("summary") or {})
    runtime = dict(out.get("runtime") or {})
    details = dict(runtime.get("details") or {})
    aggregates = summary.pop("aggregates", None) or {}
    results: list[dict] = []

    energy = aggregates.pop("energy", None)
    if aggregates:  # a tool's printed statistics (benchmark_model)
        results.append(tool_aggregates(aggregates))
    if "mlperf_tiny" in details or "windows" in details:
        score = details.pop("mlperf_tiny", {}) or {}
        results.append({
            "kind": "mlperf_tiny",
            "mode": details.get("mode", "performance"),
            "windows": details.pop("windows", []),
            **{k: score.get(k) for k in ("median_throughput_per_s", "latency_s", "median_energy_j_per_inference",
                                         "window_rule", "valid") if score.get(k) is not None},
        })
    if energy:
        monitor = details.pop("energy", {}) or {}
        results.append({
            "kind": "monitor_energy",
            "source": energy.get("source") or "monitor",
            "j_per_inference_median": energy.get("j_per_inference_median"),
            "power_w_mean": energy.get("power_w_mean"),
            "windows": energy.get("windows", []),
            "monitor": monitor.get("monitor", {}),
            "clock": monitor.get("clock"),
        })
    if "accuracy" in details:
        results.append({"kind": "accuracy", **details.pop("accuracy")})
    runtime["details"] = details
    out.update(summary=summary, runtime=runtime, results=results)
    return out


def tool_aggregates(agg: dict) -> dict:
    """A ``tool_aggregates`` result from a tool's statistics dict (v1 ``summary.aggregates``)."""
    agg = dict(agg)
    out: dict[str, Any] = {"kind": "tool_aggregates", "source": agg.pop("source", "unknown"),
                           "note": agg.pop("note", None)}
    agg.pop("per_iteration_samples", None)
    for key in ("warmup", "steady"):
        if agg.get(key) is not None:
            out[key] = AggregateStats.from_tool(agg.pop(key)).model_dump()
    for key in ("warmup_mean_s", "inference_mean_s"):
        if key in agg:
            out[key] = agg.pop(key)
    out["details"] = agg
    return out
