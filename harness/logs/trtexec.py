"""TensorRT's `trtexec` console output → typed figures in seconds (TensorRT 7 to 10).

`parse(text_or_lines, source)` / `parse_file(path)` → `TrtexecLog`. Read line by line
(streaming); each line may carry a ``[MM/DD/YYYY-HH:MM:SS]`` stamp, a ``[I]``/``[W]``/
``[E]``/``[V]`` level and a ``[TRT]`` tag, any indentation, or none of them (excerpts
whose prefixes were stripped). Recognised:

- the option and device blocks (``=== Build Options ===`` …) as key/value pairs, and the
  command of the ``&&&& RUNNING|PASSED|FAILED TensorRT.trtexec [TensorRT vNNNN] # …`` lines;
- the performance summary (TensorRT 8+): ``Throughput: N qps``, one ``min = … ms, max =
  …, mean = …, median = …, percentile(P%) = …`` line per metric. The metrics are kept
  apart, never mixed: ``latency`` (host latency = H2D + GPU compute + D2H),
  ``end_to_end`` (TensorRT 8.0's End-to-End Host Latency), ``enqueue``, ``h2d``,
  ``gpu_compute``, ``d2h``;
- TensorRT 7's multi-line blocks (``Host Latency`` / ``Enqueue Time`` / ``GPU Compute``
  headings, then ``min: X ms (end to end Y ms)`` … ``percentile: X ms at 99%``,
  ``throughput: 0 qps``, ``walltime: T s``, ``total compute time: T s``). TensorRT 7
  prints ``throughput: 0 qps`` (an integer division): the throughput is derived from the
  query count and the walltime instead, and the log says so (``throughput_source``);
- ``--noDataTransfers``: the H2D/D2H lines are all zeros; they are kept as *not
  measured* (``h2d``/``d2h`` None, listed in ``not_measured``), never as 0 s;
- ``Warmup completed N queries over X ms`` / ``Timing trace has N queries over X s``,
  the ``Average on N runs`` trace lines, engine load/build times and size;
- the ``--dumpProfile`` table (with or without the Median column, the layer name first
  or last) as `TrtLayer` rows plus its Total row.

A file is refused (`LogFormatError`) only when it holds none of trtexec's figures
(summary, TensorRT 7 blocks, profile table, trace averages) and none of its markers
(``&&&&`` lines, option headings); an empty file gets its own message. Lines that are not
understood are counted and the first few kept (`unrecognised`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from harness.logs.text import NUMBER, Kept, LogFormatError, feed_lines, first_line_hint, number, open_lines, seconds

_PREFIX = re.compile(r"^\s*(?:\[\d{2}/\d{2}/\d{4}-\d{2}:\d{2}:\d{2}\]\s*)?(?:\[([IWEVF])\]\s?)?(\[TRT\]\s*)?")
_AMP = re.compile(r"^&&&& (RUNNING|PASSED|FAILED) TensorRT\.trtexec(?: \[TensorRT v(\d+)\])?(?: # (.*))?$")
_SECTION = re.compile(r"^=== (.+?) ===$")
_KV = re.compile(r"^([A-Za-z][\w ()/.,+-]*?):\s*(.*)$")
_STATS = re.compile(r"^(Latency|End-to-End Host Latency|Enqueue Time|H2D Latency|GPU Compute Time|D2H Latency): (min = .*)$")
_STAT_ITEM = re.compile(rf"(min|max|mean|median|percentile\(({NUMBER})%\)) = ({NUMBER}) ms")
_THROUGHPUT = re.compile(rf"^Throughput: ({NUMBER}) qps$")
_TOTAL = re.compile(rf"^Total (Host Walltime|GPU Compute Time): ({NUMBER}) s$")
_WARMUP = re.compile(rf"^Warmup completed (\d+) queries over ({NUMBER}) ms$")
_TRACE = re.compile(rf"^Timing trace has (\d+) queries over ({NUMBER}) s$")
_AVERAGE = re.compile(
    rf"^Average on (\d+) runs - GPU latency: ({NUMBER}) ms - Host latency: ({NUMBER}) ms "
    rf"\((?:end to end ({NUMBER}) ms, )?enqueue ({NUMBER}) ms\)$")
_PROFILE = re.compile(r"^=== Profile \((\d+) iterations ?\) ===$")
_ENGINE_TIME = re.compile(rf"^Engine (loaded|deserialized|built) in ({NUMBER}) sec\.?$")
_ENGINE_SIZE = re.compile(rf"^Loaded engine size: ({NUMBER}) (MiB|MB|KiB|kB|GiB|GB|B)$")
_VERSION = re.compile(r"^TensorRT version: ([\d.]+)$")
# TensorRT 7 blocks
_T7_HEAD = re.compile(r"^(Host Latency|Enqueue Time|GPU Compute)$")
_T7_STAT = re.compile(rf"^(min|max|mean|median): ({NUMBER}) ms(?: \(end to end ({NUMBER}) ms\))?$")
_T7_PCT = re.compile(rf"^percentile: ({NUMBER}) ms at ({NUMBER})%(?: \(end to end ({NUMBER}) ms at ({NUMBER})%\))?$")
_T7_THROUGHPUT = re.compile(rf"^throughput: ({NUMBER}) qps$")
_T7_TOTAL = re.compile(rf"^(walltime|total compute time): ({NUMBER}) s$")
_INFO = re.compile(
    r"^(Starting inference|Created (input|output) binding|Using random values|Setting persistentCacheLimit|"
    r"The e2e network timing is not reported|To show e2e network timing report|Explanations of the performance|"
    r"Trace averages of \d+ runs|Using enqueueV3|Skipped setting|Set shape of input|Input binding for|"
    r"Output binding for|Engine has|Memory Pools|Inputs:|Plugins:)")
_CRASH = re.compile(r"Segmentation fault|core dumped|段错误|Aborted|Killed")

_METRIC = {"Latency": "latency", "End-to-End Host Latency": "end_to_end", "Enqueue Time": "enqueue",
           "H2D Latency": "h2d", "GPU Compute Time": "gpu_compute", "D2H Latency": "d2h"}
_BYTES = {"B": 1, "kB": 1e3, "KiB": 1024, "MB": 1e6, "MiB": 1024**2, "GB": 1e9, "GiB": 1024**3}


class TimingStats(BaseModel):
    """One trtexec metric over the timed queries, in seconds; percentiles keyed by percent ("99")."""

    min_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None
    median_s: float | None = None
    percentiles: dict[str, float] = Field(default_factory=dict)

    def all_zero(self) -> bool:
        vals = [v for v in (self.min_s, self.max_s, self.mean_s, self.median_s, *self.percentiles.values())
                if v is not None]
        return bool(vals) and all(v == 0 for v in vals)


class TrtLayer(BaseModel):
    """One row of the per-layer profile: time summed over the profiled iterations, and per iteration."""

    name: str
    total_s: float | None = None
    mean_s: float | None = None
    median_s: float | None = None
    percent: float | None = None


class TrtTraceAverage(BaseModel):
    """One ``Average on N runs`` line."""

    runs: int
    gpu_compute_s: float
    latency_s: float
    end_to_end_s: float | None = None
    enqueue_s: float


class TrtexecLog(BaseModel):
    source: str = "<text>"
    tensorrt_version: str | None = None
    command: str | None = None
    #: flags of the command line: ``{"fp16": True, "useDLACore": "0", ...}``
    flags: dict[str, str | bool] = Field(default_factory=dict)
    status: Literal["passed", "failed"] | None = None
    #: the ``=== … Options ===`` blocks, flattened: ``{"Precision": "FP32+FP16", ...}``
    options: dict[str, str] = Field(default_factory=dict)
    device: dict[str, str] = Field(default_factory=dict)
    warmup_queries: int | None = None
    warmup_s: float | None = None
    queries: int | None = None
    trace_s: float | None = None
    throughput_qps: float | None = None
    #: ``printed`` (the tool's figure) or ``walltime`` (queries / walltime, TensorRT 7's 0 qps)
    throughput_source: Literal["printed", "walltime"] | None = None
    latency: TimingStats | None = None
    end_to_end: TimingStats | None = None
    enqueue: TimingStats | None = None
    h2d: TimingStats | None = None
    gpu_compute: TimingStats | None = None
    d2h: TimingStats | None = None
    #: metrics the run did not measure (``h2d``, ``d2h`` under --noDataTransfers)
    not_measured: list[str] = Field(default_factory=list)
    total_host_walltime_s: float | None = None
    total_gpu_compute_s: float | None = None
    trace_averages: list[TrtTraceAverage] = Field(default_factory=list)
    profile_iterations: int | None = None
    layers: list[TrtLayer] = Field(default_factory=list)
    profile_total: TrtLayer | None = None
    engine_load_s: float | None = None
    engine_deserialize_s: float | None = None
    engine_build_s: float | None = None
    engine_size_bytes: float | None = None
    tool_warnings: Kept = Field(default_factory=Kept)
    tool_errors: Kept = Field(default_factory=Kept)
    tensorrt_messages: int = 0
    verbose_lines: int = 0
    #: what the parser noticed (derived figures, missing parts, a crash after the run)
    warnings: list[str] = Field(default_factory=list)
    unrecognised: Kept = Field(default_factory=Kept)
    lines: int = 0

    @property
    def has_figures(self) -> bool:
        return bool(self.throughput_qps is not None or self.layers or self.trace_averages
                    or any(getattr(self, m) is not None for m in _METRIC.values()))

    @property
    def dla_core(self) -> int | None:
        v = self.flags.get("useDLACore", self.options.get("DLACore", ""))
        return int(v) if isinstance(v, str) and v.strip().isdigit() else None

    @property
    def precision(self) -> str | None:
        flags = [f for f in ("best", "int8", "fp16", "bf16", "fp8", "tf32", "noTF32") if self.flags.get(f) is True]
        return "+".join(flags) if flags else self.options.get("Precision")


def decode_version(code: str) -> str:
    """``8001`` → 8.0.1, ``8502`` → 8.5.2, ``100300`` → 10.3.0 (TensorRT's integer version)."""
    n = int(code)
    if n >= 100000:
        return f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    return f"{n // 1000}.{n // 100 % 10}.{n % 100}"


def _profile_column(header: str) -> str:
    if header.startswith("Layer"):
        return "name"
    if "%" in header:
        return "percent"
    return "mean" if header.startswith("Avg") else "median" if header.startswith("Median") else "total"


def _flags(command: str) -> dict[str, str | bool]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    out: dict[str, str | bool] = {}
    for w in words[1:]:
        if w.startswith("--"):
            key, eq, value = w[2:].partition("=")
            out[key] = value if eq else True
    return out


class _Parser:
    def __init__(self, source: str):
        self.log = TrtexecLog(source=source)
        self.section: str | None = None
        self.t7: str | None = None  # current TensorRT 7 block
        self.t7_stats: dict[str, TimingStats] = {}
        self.t7_throughput: float | None = None
        self.profile_cols: list[str] | None = None
        self.markers = 0
        self.last_level: str | None = None

    def feed(self, n: int, raw: str) -> None:
        log = self.log
        m = _PREFIX.match(raw)
        level, trt = m.group(1), m.group(2)
        text = raw[m.end():].rstrip()
        if level == "V":
            log.verbose_lines += 1
            return
        if not text.strip():
            self.t7 = self.section = None  # a blank line ends a block, a table, an option section
            return
        if level == "W":
            if text.startswith("  ") and self.last_level == "W" and log.tool_warnings.first:
                log.tool_warnings.first[-1] += " " + text.strip()  # a warning's second line
            else:
                log.tool_warnings.add(text.strip(), n)
            self.last_level = level
            return
        self.last_level = level
        if level in ("E", "F"):
            log.tool_errors.add(text.strip(), n)
            return
        if trt:
            log.tensorrt_messages += 1
            if mm := _ENGINE_SIZE.match(text.strip()):
                log.engine_size_bytes = number(mm.group(1)) * _BYTES[mm.group(2)]
            return
        self.line(n, text.strip(), raw)

    def line(self, n: int, s: str, raw: str) -> None:
        log = self.log
        if m := _AMP.match(s):
            self.markers += 1
            if m.group(2):
                log.tensorrt_version = log.tensorrt_version or decode_version(m.group(2))
            if m.group(3):
                log.command = m.group(3).strip()
                log.flags = _flags(log.command)
            if m.group(1) != "RUNNING":
                log.status = "passed" if m.group(1) == "PASSED" else "failed"
            return
        if m := _PROFILE.match(s):
            self.markers += 1
            log.profile_iterations = int(m.group(1))
            self.section, self.profile_cols, self.t7 = "Profile", None, None
            return
        if m := _SECTION.match(s):
            self.markers += 1
            self.section, self.t7 = m.group(1), None
            return
        if self.section == "Profile" and self.profile_row(n, s):
            return
        if self.t7_line(s) or self.summary_line(s):
            return
        if self.section and (self.section.endswith("Options") or self.section == "Device Information"):
            if m := _KV.match(s):
                target = log.device if self.section == "Device Information" else log.options
                target[m.group(1).strip()] = m.group(2).strip()
                return
        if _CRASH.search(s) and not raw.lstrip().startswith("["):
            log.warnings.append(f"line {n}: the process crashed after trtexec's last line: {s!r}")
            return
        if _INFO.match(s):
            return
        log.unrecognised.add(s, n)

    def summary_line(self, s: str) -> bool:
        log = self.log
        if m := _STATS.match(s):
            stats = TimingStats()
            for item in _STAT_ITEM.finditer(m.group(2)):
                v = seconds(item.group(3), "ms")
                if item.group(2) is not None:
                    stats.percentiles[f"{number(item.group(2)):g}"] = v
                else:
                    setattr(stats, f"{item.group(1)}_s", v)
            setattr(log, _METRIC[m.group(1)], stats)
        elif m := _THROUGHPUT.match(s):
            log.throughput_qps, log.throughput_source = number(m.group(1)), "printed"
        elif m := _TOTAL.match(s):
            if m.group(1) == "Host Walltime":
                log.total_host_walltime_s = number(m.group(2))
            else:
                log.total_gpu_compute_s = number(m.group(2))
        elif m := _WARMUP.match(s):
            log.warmup_queries, log.warmup_s = int(m.group(1)), seconds(m.group(2), "ms")
        elif m := _TRACE.match(s):
            log.queries, log.trace_s = int(m.group(1)), number(m.group(2))
        elif m := _AVERAGE.match(s):
            log.trace_averages.append(TrtTraceAverage(
                runs=int(m.group(1)), gpu_compute_s=seconds(m.group(2), "ms"), latency_s=seconds(m.group(3), "ms"),
                end_to_end_s=seconds(m.group(4), "ms") if m.group(4) else None, enqueue_s=seconds(m.group(5), "ms")))
        elif m := _ENGINE_TIME.match(s):
            setattr(log, {"loaded": "engine_load_s", "deserialized": "engine_deserialize_s",
                          "built": "engine_build_s"}[m.group(1)], number(m.group(2)))
        elif m := _ENGINE_SIZE.match(s):
            log.engine_size_bytes = number(m.group(1)) * _BYTES[m.group(2)]
        elif m := _VERSION.match(s):
            v = m.group(1)
            log.tensorrt_version = log.tensorrt_version or (decode_version(v) if v.isdigit() else v)
        else:
            return False
        return True

    # -- TensorRT 7 -----------------------------------------------------------------------

    def t7_line(self, s: str) -> bool:
        if m := _T7_HEAD.match(s):
            self.t7 = m.group(1)
            self.markers += 1
            return True
        if self.t7 is None:
            return False
        block = {"Host Latency": "latency", "Enqueue Time": "enqueue", "GPU Compute": "gpu_compute"}[self.t7]
        stats = self.t7_stats.setdefault(block, TimingStats())
        if m := _T7_STAT.match(s):
            setattr(stats, f"{m.group(1)}_s", seconds(m.group(2), "ms"))
            if m.group(3) is not None:
                e2e = self.t7_stats.setdefault("end_to_end", TimingStats())
                setattr(e2e, f"{m.group(1)}_s", seconds(m.group(3), "ms"))
        elif m := _T7_PCT.match(s):
            stats.percentiles[f"{number(m.group(2)):g}"] = seconds(m.group(1), "ms")
            if m.group(3) is not None:
                e2e = self.t7_stats.setdefault("end_to_end", TimingStats())
                e2e.percentiles[f"{number(m.group(4)):g}"] = seconds(m.group(3), "ms")
        elif m := _T7_THROUGHPUT.match(s):
            self.t7_throughput = number(m.group(1))
        elif m := _T7_TOTAL.match(s):
            if m.group(1) == "walltime":
                self.log.total_host_walltime_s = number(m.group(2))
            else:
                self.log.total_gpu_compute_s = number(m.group(2))
        else:
            self.t7 = None
            return False
        return True

    # -- --dumpProfile table ----------------------------------------------------------------

    def profile_row(self, n: int, s: str) -> bool:
        if self.profile_cols is None:
            if "Time" in s and "Layer" in s:
                # 'Layer   Time (ms)   Avg. Time (ms)   [Median Time (ms)]   Time %' (name first), or
                # 'Time(ms)   Avg.(ms)   Median(ms)   Time(%)   Layer' (name last)
                self.profile_cols = [_profile_column(h) for h in re.split(r"\s{2,}", s.strip())]
                return True
            return False
        k = len(self.profile_cols) - 1
        name_first = self.profile_cols[0] == "name"
        parts = s.rsplit(None, k) if name_first else s.split(None, k)
        if len(parts) != k + 1:
            return False
        name, nums = (parts[0], parts[1:]) if name_first else (parts[-1], parts[:-1])
        try:
            values = dict(zip([c for c in self.profile_cols if c != "name"], (number(w) for w in nums)))
        except ValueError:
            return False
        ms = {c: values[c] / 1e3 for c in ("total", "mean", "median") if c in values}
        layer = TrtLayer(name=name.strip(), total_s=ms.get("total"), mean_s=ms.get("mean"),
                         median_s=ms.get("median"), percent=values.get("percent"))
        if layer.name == "Total":
            self.log.profile_total = layer
            self.section = None
        else:
            self.log.layers.append(layer)
        return True

    # -- the end ----------------------------------------------------------------------------

    def finish(self) -> TrtexecLog:
        log = self.log
        for block, stats in self.t7_stats.items():
            if getattr(log, block) is None:
                setattr(log, block, stats)
        if self.t7_throughput is not None:
            if self.t7_throughput > 0:
                log.throughput_qps, log.throughput_source = self.t7_throughput, "printed"
            elif log.queries and log.total_host_walltime_s:
                log.throughput_qps = log.queries / log.total_host_walltime_s
                log.throughput_source = "walltime"
                log.warnings.append(
                    f"TensorRT 7 printed 'throughput: 0 qps' (its integer-division bug): throughput derived as "
                    f"{log.queries} queries / {log.total_host_walltime_s:g} s walltime")
            else:
                log.warnings.append("TensorRT 7 printed 'throughput: 0 qps' (its integer-division bug) and the log "
                                    "has no query count to derive it from: throughput not reported")
        no_transfers = log.flags.get("noDataTransfers") is True or log.options.get("Data transfers") == "Disabled"
        for name in ("h2d", "d2h"):
            stats = getattr(log, name)
            if stats is not None and (no_transfers or stats.all_zero()):
                setattr(log, name, None)
                log.not_measured.append(name)
        if log.not_measured:
            log.warnings.append(f"{' and '.join(m.upper() for m in log.not_measured)} not measured (the run had no "
                                "data transfers, --noDataTransfers): their 0 ms lines are not kept as figures")
        if (log.total_host_walltime_s and log.total_gpu_compute_s
                and log.total_host_walltime_s < log.total_gpu_compute_s):
            log.warnings.append(f"total GPU compute time ({log.total_gpu_compute_s:g} s) exceeds the host walltime "
                                f"({log.total_host_walltime_s:g} s): queries overlapped (several streams)")
        if log.status is None and log.has_figures and self.markers:
            log.warnings.append("no '&&&& PASSED' or '&&&& FAILED' line: the log is an excerpt or was cut")
        return log


def parse(source_text: str | Iterable[str], source: str = "<text>") -> TrtexecLog:
    """Parse trtexec's console output (a text or an iterable of lines). See the module docstring."""
    p = _Parser(source)
    p.log.lines = feed_lines(source_text, p.feed, source)
    log = p.finish()
    if not log.has_figures and not p.markers:
        raise LogFormatError(
            f"{source}: not trtexec output: none of its figures (a '=== Performance summary ===' block, "
            "TensorRT 7's 'GPU Compute' block, a '=== Profile' table, 'Average on N runs' lines) and no "
            "'&&&& RUNNING TensorRT.trtexec' line" + first_line_hint(log.unrecognised.first))
    if not log.has_figures:
        log.warnings.append("no performance figures: the run " + ("failed" if log.status == "failed" else
                            "stopped before its performance summary (the log may be cut)"))
    return log


def parse_file(path: Path) -> TrtexecLog:
    return parse(open_lines(path), str(path))

