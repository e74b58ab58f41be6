"""trtexec's JSON exports → per-iteration samples and per-layer rows, in seconds.

- ``--exportTimes=FILE``: one object per query: ``startEnqMs``/``endEnqMs``,
  ``startH2dMs`` … ``endD2hMs`` and the derived ``h2dMs``, ``computeMs``, ``d2hMs``,
  ``latencyMs``, ``endToEndMs`` (TensorRT 7 names the transfers ``In``/``Out``:
  ``startInMs``, ``inMs``, ``outMs``…). `parse_times` → `TrtTimes`, one array per
  metric. trtexec writes one object per line, so the file is read line by line (a
  100 000-query export never becomes 100 000 dicts at once); other layouts fall back
  to one ``json.loads``. Some versions include the warmup queries: pass the log's
  ``Warmup completed N queries`` (`warmup_queries`) and ``Timing trace has M queries``
  (`queries`) and the first N are marked as warmup when the file holds N + M.
- ``--exportProfile=FILE``: ``[{"count": N}, {"name", "timeMs", "averageMs",
  ["medianMs",] "percentage"}, …]`` → `TrtProfile` (layers as in the console table).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from harness.logs.text import LogFormatError, lines_of, open_lines, require_text
from harness.logs.trtexec import TrtLayer

#: our field → trtexec's keys (TensorRT 8+ first, then TensorRT 7's)
_KEYS = {
    "start_ms": ("startComputeMs",),
    "h2d_start_ms": ("startH2dMs", "startInMs"),
    "enqueue_ms": (),  # endEnqMs - startEnqMs
    "h2d_ms": ("h2dMs", "inMs"),
    "compute_ms": ("computeMs",),
    "d2h_ms": ("d2hMs", "outMs"),
    "latency_ms": ("latencyMs",),
    "end_to_end_ms": ("endToEndMs",),
}


class TrtTimes(BaseModel):
    """Per-query times from ``--exportTimes``, in seconds; index i is query i of the file."""

    source: str = "<text>"
    #: compute start of each query, seconds since trtexec's time origin
    start_s: list[float] = Field(default_factory=list)
    #: start of each query's host-to-device copy (its first work on the device), same origin
    h2d_start_s: list[float] = Field(default_factory=list)
    enqueue_s: list[float] = Field(default_factory=list)
    h2d_s: list[float] = Field(default_factory=list)
    gpu_compute_s: list[float] = Field(default_factory=list)
    d2h_s: list[float] = Field(default_factory=list)
    latency_s: list[float] = Field(default_factory=list)
    end_to_end_s: list[float] = Field(default_factory=list)
    #: the first `warmup_count` queries are warmup (0 when the file holds only timed queries)
    warmup_count: int = 0
    warnings: list[str] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.gpu_compute_s)


class TrtProfile(BaseModel):
    source: str = "<text>"
    iterations: int | None = None
    layers: list[TrtLayer] = Field(default_factory=list)


def _objects(lines: Iterable[str], source: str):
    """The JSON objects of a trtexec export, one per line when the file is laid out as trtexec writes it."""
    buffered: list[str] = []
    for line in lines:
        s = line.strip().lstrip("[").rstrip("]").strip().lstrip(",").strip()
        if not s:
            continue
        if buffered or not (s.startswith("{") and s.endswith("}")):
            buffered.append(line)
            continue
        try:
            yield json.loads(s)
        except json.JSONDecodeError:
            buffered.append(line)
    if buffered:  # not one object per line: read the rest as one document
        try:
            doc = json.loads("\n".join(buffered))
        except json.JSONDecodeError as e:
            raise LogFormatError(f"{source}: not a trtexec JSON export: {e.msg} at line {e.lineno}") from None
        yield from (doc if isinstance(doc, list) else [doc])


def parse_times(text_or_lines: str | Iterable[str], source: str = "<text>", warmup_queries: int | None = None,
                queries: int | None = None) -> TrtTimes:
    cols = {k: array("d") for k in _KEYS}
    n = 0
    seen = False
    for obj in _objects(lines_of(text_or_lines), source):
        seen = True
        if not isinstance(obj, dict):
            raise LogFormatError(f"{source}: entry {n + 1} of the export is not an object")
        try:
            for key, names in _KEYS.items():
                if key == "enqueue_ms":
                    value = obj["endEnqMs"] - obj["startEnqMs"] if "endEnqMs" in obj else float("nan")
                else:
                    value = next((obj[k] for k in names if k in obj), float("nan"))
                cols[key].append(float(value))
        except (TypeError, ValueError):
            raise LogFormatError(f"{source}: entry {n + 1} has a value that is not a number") from None
        n += 1
    require_text(seen, source)
    if n and all(v != v for v in cols["compute_ms"]):
        raise LogFormatError(f"{source}: not a --exportTimes file: no 'computeMs' in any of its {n} entries")
    times = TrtTimes.model_construct(source=source, warmup_count=0, warnings=[],
                                     **{k.replace("_ms", "_s").replace("compute_s", "gpu_compute_s"):
                                        [v / 1e3 for v in col] for k, col in cols.items()})
    if warmup_queries and queries and n == warmup_queries + queries:
        times.warmup_count = warmup_queries
    elif queries and n != queries:
        times.warnings.append(f"the export holds {n} queries, the log's timing trace {queries}"
                              + (f" (+ {warmup_queries} warmup)" if warmup_queries else ""))
    return times


def parse_times_file(path: Path, warmup_queries: int | None = None, queries: int | None = None) -> TrtTimes:
    return parse_times(open_lines(path), str(path), warmup_queries, queries)


def parse_profile(text_or_lines: str | Iterable[str], source: str = "<text>") -> TrtProfile:
    profile = TrtProfile(source=source)
    seen = False
    for obj in _objects(lines_of(text_or_lines), source):
        seen = True
        if not isinstance(obj, dict):
            raise LogFormatError(f"{source}: an entry of the profile is not an object")
        if "count" in obj and "name" not in obj:
            profile.iterations = int(obj["count"])
            continue
        if "name" not in obj:
            raise LogFormatError(f"{source}: a profile entry has no 'name' ({sorted(obj)[:5]})")
        ms = {k: float(obj[k]) / 1e3 for k in ("timeMs", "averageMs", "medianMs") if obj.get(k) is not None}
        profile.layers.append(TrtLayer(name=str(obj["name"]), total_s=ms.get("timeMs"), mean_s=ms.get("averageMs"),
                                       median_s=ms.get("medianMs"), percent=obj.get("percentage")))
    require_text(seen, source)
    if not profile.layers:
        raise LogFormatError(f"{source}: not a --exportProfile file: no layer entries (name, timeMs, averageMs)")
    return profile


def parse_profile_file(path: Path) -> TrtProfile:
    return parse_profile(open_lines(path), str(path))
