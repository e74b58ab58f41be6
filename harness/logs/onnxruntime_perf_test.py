"""`onnxruntime_perf_test` console output → typed figures in SI units.

`parse(text_or_lines, source)` / `parse_file(path)` → `OrtPerfResult`. Every wording
the tool printed over the years is read, with or without a space after the colon:

- 2019 and earlier: ``Total time cost:58.8`` (seconds, often without unit),
  ``Total iterations:1000``, ``Average time cost:58.8 ms``, ``Total run time:58.8 s``,
  ``Min Latency is 0.0559 sec`` … ``P999 Latency is … sec``;
- 2020 on: ``Session creation time cost: 0.12 s`` (without the space in early 2020),
  ``First inference time cost: 20 ms``, ``Total inference time cost: 0.14 s`` (the
  sum of the per-request times), ``Total inference requests: 8``, ``Average
  inference time cost: 17.7 ms`` or ``Average inference time cost total: 98.96 ms``,
  ``Total inference run time: 0.14 s`` (wall time), ``Number of inferences per
  second: 56.3``, ``Avg CPU usage: 98 %`` or a vendor build's ``Total CPU usage:
  382 %`` (summed over cores), ``Peak working set size: 35299328 bytes``;
- the summary the tool repeats without spaces (``Avg CPU usage:98``, ``Peak working set
  size:35299328``, ``Runs:8``) — checked against the first one;
- ``Min Latency: 0.016 s``, ``Max Latency``, ``P50``/``P90``/``P95``/``P99``/``P999
  Latency``; preamble lines such as ``Setting intra_op_num_threads to 1`` or a vendor's
  ``using SpaceMITExecutionProvider``.

The format is defined by the mean inference time (or the total time and the request
count it comes from) or the latency percentiles: a text with none of them is refused,
naming them. Percentages become fractions (98 % → 0.98), times seconds, sizes bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from harness.logs.text import NUMBER, Kept, LogFormatError, feed_lines, first_line_hint, number, open_lines, seconds

_UNIT = r"(s|sec|ms|us)"
_LINES: list[tuple[str, re.Pattern[str]]] = [
    ("session_creation", re.compile(rf"^Session creation time cost:\s*({NUMBER})\s*{_UNIT}?$")),
    ("first_inference", re.compile(rf"^First inference time cost:\s*({NUMBER})\s*{_UNIT}?$")),
    ("total_inference", re.compile(rf"^Total (?:inference )?time cost:\s*({NUMBER})\s*{_UNIT}?$")),
    ("requests", re.compile(r"^Total (?:inference requests|iterations):\s*(\d+)$")),
    ("mean", re.compile(rf"^Average (?:inference )?time cost(?: (\w+))?:\s*({NUMBER})\s*{_UNIT}?$")),
    ("total_run", re.compile(rf"^Total (?:inference )?run time:\s*({NUMBER})\s*{_UNIT}?$")),
    ("throughput", re.compile(rf"^Number of inferences per second:\s*({NUMBER})$")),
    ("cpu", re.compile(rf"^(Avg|Total) CPU usage:\s*({NUMBER})\s*%?$")),
    ("peak", re.compile(r"^Peak working set size:\s*(\d+)(?:\s*bytes)?$")),
    ("runs", re.compile(r"^Runs:\s*(\d+)$")),
    ("latency", re.compile(rf"^(Min|Max|P\d+) Latency(?::| is)\s*({NUMBER})\s*{_UNIT}?$")),
    ("threads", re.compile(r"^Setting (intra|inter)_op_num_threads to (\d+)$")),
    ("provider", re.compile(r"^using (\w+ExecutionProvider)$", re.IGNORECASE)),
]
#: the unit a figure has when the line prints none (old builds: 'Total time cost:58.8')
_DEFAULT_UNIT = {"session_creation": "s", "first_inference": "ms", "total_inference": "s", "mean": "ms",
                 "total_run": "s", "latency": "s"}


class OrtPerfResult(BaseModel):
    source: str = "<text>"
    session_creation_s: float | None = None
    first_inference_s: float | None = None
    #: sum of the per-request times (``Total inference time cost``)
    total_inference_s: float | None = None
    requests: int | None = None
    mean_s: float | None = None
    #: the qualifier of the mean line when there is one (``total`` in 'Average inference time cost total')
    mean_kind: str | None = None
    #: wall time of the whole run (``Total inference run time``); less than the sum with concurrent runs
    total_run_s: float | None = None
    throughput_per_s: float | None = None
    #: ``printed``, or ``derived`` (requests / total run time) when the tool printed none
    throughput_source: str | None = None
    #: ``Avg CPU usage`` as a fraction of one… of all cores (98 % → 0.98)
    cpu_usage: float | None = None
    #: a vendor build's ``Total CPU usage`` (summed over cores: 382 % → 3.82)
    total_cpu_usage: float | None = None
    peak_working_set_bytes: int | None = None
    min_s: float | None = None
    max_s: float | None = None
    #: latency percentiles keyed by percent: ``{"50": …, "99.9": …}``
    percentiles: dict[str, float] = Field(default_factory=dict)
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    execution_provider: str | None = None
    #: lines before the figures that the tool or a vendor build printed (kept verbatim)
    preamble: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    unrecognised: Kept = Field(default_factory=Kept)
    lines: int = 0


def _percent_key(label: str) -> str:
    digits = label[1:]
    return digits if len(digits) <= 2 else f"{digits[:2]}.{digits[2:]}"  # P999 → 99.9


class _Parser:
    def __init__(self, source: str):
        self.r = OrtPerfResult(source=source)
        self.repeat: dict[str, float] = {}

    def feed(self, n: int, line: str) -> None:
        s = line.strip()
        if not s:
            return
        for kind, pattern in _LINES:
            if m := pattern.match(s):
                self.figure(kind, m, n, s)
                return
        if self.r.mean_s is None and self.r.total_inference_s is None and len(self.r.preamble) < 20:
            self.r.preamble.append(s)  # before the figures: vendor and option chatter
        else:
            self.r.unrecognised.add(s, n)

    def figure(self, kind: str, m: re.Match[str], n: int, s: str) -> None:
        r = self.r

        def secs(value: str, unit: str | None) -> float:
            return seconds(value, unit or _DEFAULT_UNIT[kind])

        if kind == "session_creation":
            r.session_creation_s = secs(m.group(1), m.group(2))
        elif kind == "first_inference":
            r.first_inference_s = secs(m.group(1), m.group(2))
        elif kind == "total_inference":
            r.total_inference_s = secs(m.group(1), m.group(2))
        elif kind == "requests":
            r.requests = int(m.group(1))
        elif kind == "mean":
            r.mean_kind, r.mean_s = m.group(1), secs(m.group(2), m.group(3))
        elif kind == "total_run":
            r.total_run_s = secs(m.group(1), m.group(2))
        elif kind == "throughput":
            r.throughput_per_s, r.throughput_source = number(m.group(1)), "printed"
        elif kind == "cpu":
            value = number(m.group(2)) / 100
            if m.group(1) == "Total":
                r.total_cpu_usage = value
            elif "%" in s or r.cpu_usage is None:
                r.cpu_usage = value
            else:
                self.repeat["cpu_usage"] = value
        elif kind == "peak":
            if "bytes" in s or r.peak_working_set_bytes is None:
                r.peak_working_set_bytes = int(m.group(1))
            else:
                self.repeat["peak_working_set_bytes"] = int(m.group(1))
        elif kind == "runs":
            self.repeat["requests"] = int(m.group(1))
        elif kind == "latency":
            value = secs(m.group(2), m.group(3))
            label = m.group(1)
            if label == "Min":
                r.min_s = value
            elif label == "Max":
                r.max_s = value
            else:
                r.percentiles[_percent_key(label)] = value
        elif kind == "threads":
            setattr(r, f"{m.group(1)}_op_threads", int(m.group(2)))
        elif kind == "provider":
            r.execution_provider = m.group(1)

    def finish(self) -> OrtPerfResult:
        r = self.r
        for key, value in self.repeat.items():
            first = getattr(r, key)
            if first is None:
                setattr(r, key, value)
            elif first != value:
                r.warnings.append(f"the repeated summary says {key} = {value}, the first one {first}")
        if r.mean_s is None and r.total_inference_s is not None and r.requests:
            r.mean_s = r.total_inference_s / r.requests
            r.warnings.append("no average line: mean = total inference time / requests")
        if r.throughput_per_s is None and r.requests and r.total_run_s:
            r.throughput_per_s, r.throughput_source = r.requests / r.total_run_s, "derived"
        if r.requests is not None and r.requests < 100 and r.percentiles:
            r.warnings.append(f"only {r.requests} requests: the high percentiles are the maximum")
        return r


def parse(text_or_lines: str | Iterable[str], source: str = "<text>") -> OrtPerfResult:
    """Parse onnxruntime_perf_test's output. See the module docstring."""
    p = _Parser(source)
    p.r.lines = feed_lines(text_or_lines, p.feed, source)
    r = p.finish()
    if r.mean_s is None and not r.percentiles and r.min_s is None:
        raise LogFormatError(
            f"{source}: not onnxruntime_perf_test output: no 'Average inference time cost', no 'Total inference "
            "time cost' with 'Total inference requests', and no latency percentiles"
            + first_line_hint(r.preamble + r.unrecognised.first))
    return r


def parse_file(path: Path) -> OrtPerfResult:
    return parse(open_lines(path), str(path))
