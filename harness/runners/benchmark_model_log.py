"""Parse the log of TFLite's / LiteRT's `benchmark_model` into numbers (a pure function).

`parse_log(text)` accepts the variants seen in real captures:

- modern TFLite (``INFO:``/``WARN:``/``ERROR:``/``VERBOSE:`` prefixes), with or
  without percentiles (``p5= median= p95=``), the one-run warmup form
  (``count=1 curr=...``), stray blank lines anywhere;
- older TFLite without prefixes (``Peak memory footprint (MB): ...``);
- op-profiling tables (``Run Order``, ``Top by Computation Time``, ``Summary by node
  type``), tab-separated with or without a ``[start]`` column, or space-aligned;
- LiteRT 2's ``benchmark_litert_model`` ``BENCHMARK RESULTS`` block;
- the tail of a log (memory lines only) and logs that end in ``ERROR:`` lines: a
  failure is a result (`failed`, `failure`), not an exception;
- logcat output of the benchmark APK or ``adb logcat -s tflite`` (``05-30 15:16:44.857
  3380  3380 I tflite  : …``, Android Studio's ``2023-06-14 10:55:21.084 18088-18088
  tflite  org.tensorflow.lite.benchmark  I  …``);
- TF 1.x/2.0 lines (``Average inference timings in us: Warmup: …, Init: …, no stats:
  …``, ``Running benchmark for at least N iterations and at least S seconds``);
- every wording of the delegate's "Replacing N [out of M] node(s) with delegate (D)
  node, yielding P partitions[ for subgraph K| for the whole graph]." line;
- ``nan`` in op tables, duplicate op indices (XNNPACK's internal nodes);
- a truncated log (no regular-run results): kept, with a parse warning saying what is
  missing (the warmup figures stay).

``Tensorflow Version`` becomes `runtime_version`; ``Use gpu: [1]`` / ``Use NNAPI:
[1]`` / … become `delegate`. A text whose only benchmark_model lines are fewer than
three ``key: [value]`` parameters (and TFLite runtime lines any program prints) is not a
benchmark_model log. Lines not understood are counted (`other_line_count`) and the
first `KEEP_LINES` kept, as are the tool's WARN and ERROR lines. `parse_lines` streams
(the raw text is not kept); `parse_log(text)` keeps it in `raw`.

Units are converted here: times to seconds, memory to bytes. The tool prints
footprints in MiB (kB/1024), the model file size in MB (bytes/1e6) and per-op memory
("mem KB") in kB (bytes/1000).

Text in which nothing is recognisable as benchmark_model output, or a recognised
line whose numbers do not parse, raises `BenchmarkLogError` carrying the raw text.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

MIB = 1024.0 * 1024.0
#: lines of one kind (not understood, WARN, ERROR) kept verbatim; the rest are only counted
KEEP_LINES = 50

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|-?nan(?:\(ind\))?|-?inf"
_PREFIX = re.compile(r"^(INFO|WARN|WARNING|ERROR|VERBOSE|FATAL|DEBUG): ?")
# logcat: threadtime ('05-30 15:16:44.857  3380  3380 I tflite  : '), Android Studio's layout
_LOGCAT = re.compile(r"^\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\s+\d+\s+\d+ ([VDIWEF]) [^:]*?\s*: ?")
_STUDIO = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\s+\d+-\d+\s+\S+\s+\S+\s+([VDIWEF])\s{1,2}")
_LOGCAT_LEVEL = {"V": "VERBOSE", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}
#: parameters that name the delegate a run used (value [1] / a path)
_DELEGATE_PARAMS = {"Use gpu": "gpu", "Use NNAPI": "nnapi", "Use nnapi": "nnapi", "Use xnnpack": "xnnpack",
                    "Use Hexagon": "hexagon", "Use CoreML": "coreml", "External delegate path": "external"}
_LITERT_SOURCE = re.compile(r"^\[[\w./+-]+:\d+\] ?")


class BenchmarkLogError(HarnessError):
    """Not benchmark_model output, or a recognised line that does not parse. `raw` keeps the text."""

    def __init__(self, message: str, raw: str | None):
        super().__init__(message)
        self.raw = raw


@dataclass
class TimingStats:
    """One ``count=...`` line (the tool prints microseconds); seconds here."""

    count: int
    first_s: float | None = None
    curr_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None
    std_s: float | None = None
    p5_s: float | None = None
    median_s: float | None = None
    p95_s: float | None = None
    all_same: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(slots=True)
class OpRow:
    node_type: str
    name: str
    first_s: float | None
    avg_s: float | None
    percent: float | None
    cdf_percent: float | None
    mem_bytes: float | None  # the tool's 'mem KB' column is kB = 1000 bytes
    times_called: int | None
    start_s: float | None = None

    @property
    def index(self) -> int | None:
        m = re.search(r":(\d+)$", self.name)
        return int(m.group(1)) if m else None

    @property
    def delegate_internal(self) -> bool:
        """An XNNPACK/LiteRT node inside a delegate ('Delegate/Fully Connected (NC, F32) GEMM:1'):
        its ':N' counts nodes inside the delegate, not the model's operators."""
        return self.name.startswith("Delegate/")


#: OpRow fields read from numeric columns: (field, column header, scale to SI)
_OP_NUMERIC = (("first_s", "first", 1e-3), ("avg_s", "avg ms", 1e-3), ("percent", "%", 1.0),
               ("cdf_percent", "cdf%", 1.0), ("mem_bytes", "mem KB", 1e3), ("start_s", "start", 1e-3))


class OpTable:
    """The rows of one op-profiling table, stored column by column: a profile of 300 000
    operators costs a few arrays, not 300 000 objects. Indexing and iteration give `OpRow`s;
    a column the table does not have reads None, a ``nan`` cell NaN."""

    def __init__(self, columns: list[str]):
        self.node_type: list[str] = []
        self.name: list[str] = []
        self._num = {f: (array("d"), columns.index(col), scale) for f, col, scale in _OP_NUMERIC if col in columns}
        self._times = (array("q"), columns.index("times called")) if "times called" in columns else None
        self._type_at = columns.index("node type") if "node type" in columns else None
        self._name_at = columns.index("Name") if "Name" in columns else None

    def add(self, cells: list[str], line_no: int, raw: str | None) -> None:
        self.node_type.append(sys.intern(cells[self._type_at]) if self._type_at is not None else "")
        self.name.append(cells[self._name_at] if self._name_at is not None else "")
        for values, at, scale in self._num.values():
            values.append(_num(cells[at].rstrip("%"), line_no, raw) * scale)
        if self._times is not None:
            calls = _count(_num(cells[self._times[1]], line_no, raw))
            self._times[0].append(-1 if calls is None else calls)

    def __len__(self) -> int:
        return len(self.name)

    def __bool__(self) -> bool:
        return bool(self.name)

    def __getitem__(self, i: int) -> OpRow:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        num = {f: (self._num[f][0][i] if f in self._num else None) for f, _, _ in _OP_NUMERIC}
        calls = self._times[0][i] if self._times is not None else -1
        return OpRow(node_type=self.node_type[i], name=self.name[i], times_called=None if calls < 0 else calls, **num)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@dataclass
class OpTypeRow:
    node_type: str
    count: int | None
    avg_s: float | None
    percent: float | None
    times_called: int | None


@dataclass
class OpProfile:
    """One profiling section: 'init' (Benchmark Initialization) or 'regular' (benchmark runs)."""

    section: str
    tables: dict[str, OpTable] = field(default_factory=dict)
    by_type: list[OpTypeRow] = field(default_factory=list)
    timings: TimingStats | None = None
    nodes_observed: int | None = None

    @property
    def rows(self) -> OpTable | list[OpRow]:
        """Every node once, in run order when the table is there."""
        return self.tables.get("Run Order") or self.tables.get("Top by Computation Time") or []


@dataclass
class Delegation:
    kind: str  # replaced | full | partial | none | unsupported | created | kernels | failed | applying
    delegate: str | None
    text: str
    replaced_nodes: int | None = None
    total_nodes: int | None = None
    partitions: int | None = None
    kernels: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class BenchmarkLog:
    raw: str | None = None
    dialect: str = "tflite"  # tflite | tflite-unprefixed | litert2
    params: dict[str, str] = field(default_factory=dict)
    graph: str | None = None
    model_size_bytes: float | None = None
    init_s: float | None = None
    first_s: float | None = None
    warmup_mean_s: float | None = None
    inference_mean_s: float | None = None
    warmup: TimingStats | None = None
    steady: TimingStats | None = None
    run_limits: list[dict[str, float]] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    delegations: list[Delegation] = field(default_factory=list)
    profiles: list[OpProfile] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the tool's ERROR / WARN lines (first `KEEP_LINES`; counts in error_count / warning_count)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    #: lines not understood (first `KEEP_LINES`; all counted)
    other_lines: list[str] = field(default_factory=list)
    other_line_count: int = 0
    #: what the parser noticed: a truncated log, an ambiguous statistics line…
    parse_warnings: list[str] = field(default_factory=list)
    #: ``Tensorflow Version`` / ``TFLite version`` as printed
    runtime_version: str | None = None
    failed: bool = False
    failure: str | None = None

    @property
    def delegate(self) -> str | None:
        """The delegate the parameters asked for (``Use gpu: [1]`` → gpu), else None."""
        for label, name in _DELEGATE_PARAMS.items():
            value = self.params.get(label, "").strip()
            if value and value not in ("0", "false", "False"):
                return name
        return None

    @property
    def ops(self) -> OpTable | list[OpRow]:
        """Per-op times of the regular benchmark runs (empty without op profiling)."""
        for p in self.profiles:
            if p.section == "regular":
                return p.rows
        return []

    @property
    def has_results(self) -> bool:
        return self.steady is not None or self.inference_mean_s is not None


# -- line patterns -----------------------------------------------------------------------

_P = {
    "start": re.compile(r"^STARTING!$"),
    "param": re.compile(r"^(?P<label>[^:\[\]=]+?): \[(?P<value>.*)\]$"),
    "loaded": re.compile(r"^Loaded model (?P<path>.+)$"),
    "size": re.compile(rf"^The input model file size \(MB\): (?P<mb>{_NUM})$"),
    "session": re.compile(rf"^Initialized session in (?P<ms>{_NUM}) ?ms\.?$"),
    "running": re.compile(
        rf"^Running benchmark for at least (?P<n>\d+) iterations and at least (?P<min>{_NUM}) seconds"
        rf"(?: but terminate if exceeding (?P<max>{_NUM}) seconds)?\.?$"
    ),
    "stats": re.compile(r"^(?:count=\d+|curr=\S+ count=\d+)"),
    "timings": re.compile(
        rf"^Inference timings in us: Init: (?P<init>{_NUM}), First inference: (?P<first>{_NUM}), "
        rf"Warmup \(avg\): (?P<warm>{_NUM}), Inference \(avg\): (?P<inf>{_NUM})$"
    ),
    "old_timings": re.compile(
        rf"^Average inference timings in us: Warmup: (?P<warm>{_NUM}), Init: (?P<init>{_NUM}), "
        rf"no stats: (?P<inf>{_NUM})$"
    ),
    "version": re.compile(r"^(?:Tensorflow|TensorFlow|TFLite|LiteRT) [Vv]ersion ?: ?\[?(?P<v>[^\]\s]+)\]?$"),
    "args": re.compile(r"^Running TensorFlow Lite benchmark with args: (?P<args>.*)$"),
    "info": re.compile(r"^(resolved reporter|Restored original execution plan after delegate application failure\.|"
                       r"\w+ accelerator registered\.|Flatbuffer model initialized .*|=+)$"),
    "note": re.compile(r"^Note: as the benchmark tool itself affects memory footprint"),
    "footprint": re.compile(
        rf"^(?P<kind>Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
        rf"init=(?P<init>{_NUM}) overall=(?P<overall>{_NUM})$"
    ),
    "peak": re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<mb>{_NUM})$"),
    "status_hdr": re.compile(r"^Memory status at the end of exe\w*ution:$"),
    "status": re.compile(rf"^[-+] (?P<what>VmRSS|RssAnnon|RssFile \+ RssShmem)\s*: (?P<mb>{_NUM}) MB$"),
    "replacing": re.compile(
        r"^Replacing (?P<n>\d+)(?: out of (?P<total>\d+))? node\(s\) with delegate \((?P<d>[^)]+)\) node, "
        r"yielding (?P<parts>\d+) partitions?(?: for (?:subgraph \d+|the whole graph))?\.?$"
    ),
    "gpu_kernels": re.compile(r"^Created (?P<k>\d+) GPU delegate kernels\.$"),
    "full": re.compile(r"^Explicitly applied (?P<d>\S+) delegate, and the model graph will be completely executed"),
    "partial": re.compile(
        r"^Explicitly applied (?P<d>\S+) delegate, and the model graph will be partially executed "
        r"by the delegate w/ (?P<k>\d+) delegate kernels\.$"
    ),
    "none": re.compile(r"^Though (?P<d>\S+) delegate is explicitly applied, the model graph will not be executed"),
    "unsupported": re.compile(r"^(?P<d>\S+) acceleration is unsupported on this platform\.$"),
    "created": re.compile(r"^(?:Created TensorFlow Lite (?P<x>\S+ )?delegate for (?P<d>\S+)\.|(?P<e>\S+) delegate created\.)$"),
    "applying": re.compile(r"^Going to apply (?P<n>\d+) delegates one after another\.$"),
    "apply_failed": re.compile(r"^Failed to apply (?P<d>\S+) delegate\.$"),
    "runtime": re.compile(r"^Initialized TensorFlow Lite runtime\.$"),
    "section": re.compile(
        r"^(?P<s>Profiling Info for Benchmark Initialization|Operator-wise Profiling Info for Regular Benchmark Runs):$"
    ),
    "table": re.compile(r"^={5,} (?P<t>.+?) ={5,}$"),
    "nodes_exec": re.compile(r"^Number of nodes executed: (?P<n>\d+)$"),
    "prof_timings": re.compile(r"^Timings \(microseconds\): (?P<s>.+)$"),
    "prof_memory": re.compile(r"^Memory \(bytes\): "),
    "observed": re.compile(r"^(?P<n>\d+) nodes observed$"),
    # LiteRT 2 (benchmark_litert_model)
    "l2_banner": re.compile(r"^=+ BENCHMARK RESULTS =+$"),
    "l2_kv": re.compile(r"^(?P<k>[A-Z][\w ()]*?):\s+(?P<v>.+)$"),
    "l2_mem_hdr": re.compile(r"^Memory Usage:$"),
    "l2_nopeak": re.compile(r"^Peak memory usage not available"),
}

# Lines whose start is unmistakable: if the rest does not parse, the log is damaged.
_STRICT = (
    ("Inference timings in us:", "timings"),
    ("Memory footprint delta from the start of the tool", "footprint"),
    ("Peak memory footprint (MB):", "footprint"),
    ("Initialized session in", "session"),
    ("The input model file size (MB):", "size"),
    ("Running benchmark for at least", "running"),
    ("Average inference timings in us:", "old_timings"),
    ("Replacing ", "replacing"),
)

_STAT_KEYS = {"first": "first_s", "curr": "curr_s", "min": "min_s", "max": "max_s", "avg": "mean_s",
              "std": "std_s", "p5": "p5_s", "median": "median_s", "p95": "p95_s"}


def _num(text: str, line_no: int, raw: str) -> float:
    try:
        return float(text.replace("(ind)", ""))
    except ValueError:
        raise BenchmarkLogError(f"line {line_no}: cannot read number {text!r}", raw) from None


def parse_stats(text: str, line_no: int = 0, raw: str = "") -> TimingStats:
    """A ``count=N first=... p95=...`` line (microseconds) as seconds."""
    pairs: dict[str, float] = {}
    for token in text.replace("(all same)", " ").split():
        key, eq, value = token.partition("=")
        if not eq:
            raise BenchmarkLogError(f"line {line_no}: unexpected {token!r} in statistics line {text!r}", raw or text)
        pairs[key] = _num(value, line_no, raw or text)
    if "count" not in pairs:
        raise BenchmarkLogError(f"line {line_no}: no count= in statistics line {text!r}", raw or text)
    stats = TimingStats(count=int(pairs.pop("count")), all_same="(all same)" in text)
    for key, attr in _STAT_KEYS.items():
        if key in pairs:
            setattr(stats, attr, pairs[key] / 1e6)
    if stats.count >= 1 and stats.min_s is None and stats.curr_s is not None and (stats.count == 1 or stats.all_same):
        # all runs took the same time: the tool prints only curr=
        stats.min_s = stats.max_s = stats.mean_s = stats.curr_s
        stats.std_s = 0.0
        if stats.first_s is None:
            stats.first_s = stats.curr_s
    return stats


def _split_row(line: str) -> list[str]:
    if "\t" in line:
        return [c for c in (x.strip() for x in line.split("\t")) if c]
    return [c.strip() for c in re.split(r"\s{2,}", line.strip()) if c.strip()]


def _cell(cells: dict[str, str], key: str, line_no: int, raw: str | None, scale: float = 1.0) -> float | None:
    v = cells.get(key)
    if v is None or v == "":
        return None
    return _num(v.rstrip("%"), line_no, raw) * scale


def _count(value: float | None) -> int | None:
    """An integer column ('times called', 'count'); None when the tool printed nan."""
    return int(value) if value is not None and value == value and abs(value) != float("inf") else None


#: lines only benchmark_model prints (what defines the format); TFLite runtime lines any program prints don't count
_DEFINING = frozenset({"start", "loaded", "size", "session", "running", "stats", "timings", "old_timings",
                       "footprint", "peak", "status", "section", "args", "litert2", "table"})


class _Parser:
    def __init__(self, raw: str | None):
        self.raw = raw
        self.log = BenchmarkLog(raw=raw)
        self.recognised = 0
        self.defining = 0
        self.params = 0
        self.prefixed = 0
        self.runs_seen = 0
        self.stats: list[tuple[int, TimingStats]] = []  # (Running lines seen before it, stats)
        self.profile: OpProfile | None = None
        self.table: str | None = None
        self.columns: list[str] | None = None
        self.litert2 = False
        self.first_line = ""

    def parse(self, lines: Iterable[str]) -> BenchmarkLog:
        for i, original in enumerate(lines, start=1):
            text = original.rstrip("\r\n")
            if not self.first_line and text.strip():
                self.first_line = text.strip()
            self.line(i, text)
        return self.finish()

    def finish(self) -> BenchmarkLog:
        log = self.log
        if self.defining == 0 and self.params < 3:
            found = (f"only {self.params} 'key: [value]' parameter line(s)" if self.params else
                     "no line of it is recognisable" if self.recognised == 0 else "only TFLite runtime lines")
            errors = f"; its errors: {log.errors[0][:120]!r}" if log.errors else ""
            raise BenchmarkLogError(
                "not benchmark_model output: no 'STARTING!' or parameter block, no run statistics (count=…), "
                f"'Inference timings', memory footprint or profiling tables ({found}{errors})"
                + (f" (first line: {self.first_line[:80]!r})" if self.first_line else " (the text is empty)"),
                self.raw,
            )
        self.assign_stats()
        if self.litert2:
            log.dialect = "litert2"
        elif self.prefixed == 0:
            log.dialect = "tflite-unprefixed"
        fatal = [e for e in log.errors if re.search(r"fail|not true|error|abort|unable|cannot", e, re.I)]
        if fatal and not log.has_results or any("Benchmarking failed" in e for e in log.errors):
            log.failed = True
            log.failure = " | ".join(log.errors)[:500]
        elif not log.has_results:
            kept = [what for what, there in (("the warmup statistics", log.warmup is not None),
                                             ("the init time", log.init_s is not None),
                                             ("the memory figures", bool(log.memory)),
                                             ("the parameters", bool(log.params))) if there]
            log.parse_warnings.append(
                "truncated log: no statistics of the regular benchmark runs (their count= line) and no "
                "'Inference timings' line; " + (", ".join(kept) + " are kept" if kept else "nothing was measured"))
        return log

    def assign_stats(self) -> None:
        """Which count= line is the warmup and which the benchmark runs."""
        log, stats = self.log, self.stats
        if self.runs_seen:
            for runs_before, st in stats:  # the Running line before each tells
                if runs_before <= 1 and log.warmup is None:
                    log.warmup = st
                else:
                    log.steady = st
        elif len(stats) >= 2:
            log.warmup, log.steady = stats[0][1], stats[-1][1]
        elif stats:
            st = stats[0][1]
            warm, steady = log.warmup_mean_s, log.inference_mean_s
            if st.mean_s is not None and steady is not None and (
                    warm is None or abs(st.mean_s - steady) <= abs(st.mean_s - warm)):
                log.steady = st
            elif st.mean_s is not None and warm is not None:
                log.warmup = st
            else:
                log.steady = st
                log.parse_warnings.append("one statistics line and nothing saying whether it is the warmup or "
                                          "the benchmark runs: taken as the benchmark runs")

    def keep(self, kind: str, text: str) -> None:
        log = self.log
        lst = {"error": log.errors, "warning": log.warnings, "other": log.other_lines}[kind]
        attr = {"error": "error_count", "warning": "warning_count", "other": "other_line_count"}[kind]
        setattr(log, attr, getattr(log, attr) + 1)
        if len(lst) < KEEP_LINES:
            lst.append(text)

    def line(self, i: int, text: str) -> None:
        level = None
        if (m := _LOGCAT.match(text)) or (m := _STUDIO.match(text)):
            level, text = _LOGCAT_LEVEL[m.group(1)], text[m.end():]
            self.prefixed += 1
        m = _PREFIX.match(text)
        if m:
            level, text = m.group(1), text[m.end():]
            self.prefixed += 1
            lm = _LITERT_SOURCE.match(text)
            if lm:
                text = text[lm.end():]
                self.litert2 = True
        stripped = text.strip()
        if self.profile is None and _P["table"].match(stripped):
            # TF 1.x and LiteRT print the tables without the 'Operator-wise Profiling Info' heading
            self.profile = OpProfile(section="regular")
            self.log.profiles.append(self.profile)
            self.defining += 1
        if self.profile is not None and self.table_line(i, text, stripped):
            return
        if not stripped:
            return
        if level == "ERROR" or level == "FATAL":
            self.keep("error", stripped)
            self.recognised += 1
            self.delegation(stripped, i)  # "Failed to apply X delegate." is both
            return
        if self.known(i, stripped):
            self.recognised += 1
            return
        if level in ("WARN", "WARNING"):
            self.keep("warning", stripped)
            self.recognised += 1
            return
        self.keep("other", text)

    # -- the kinds of line --------------------------------------------------------------

    def known(self, i: int, s: str) -> bool:
        kind = self.kind_of(i, s)
        if kind is None:
            return False
        if kind in _DEFINING:
            self.defining += 1
        elif kind == "param":
            self.params += 1
        return True

    def kind_of(self, i: int, s: str) -> str | None:
        log, raw = self.log, self.raw
        for prefix, kind in _STRICT:
            if s.startswith(prefix) and not _P[kind].match(s):
                raise BenchmarkLogError(f"line {i}: cannot read {s[:160]!r}", raw)
        if _P["start"].match(s):
            return "start"
        if _P["note"].match(s) or _P["runtime"].match(s) or _P["info"].match(s):
            return "info"
        if _P["status_hdr"].match(s):
            return "status"
        if m := _P["timings"].match(s):
            log.init_s = _num(m["init"], i, raw) / 1e6
            log.first_s = _num(m["first"], i, raw) / 1e6
            log.warmup_mean_s = _num(m["warm"], i, raw) / 1e6
            log.inference_mean_s = _num(m["inf"], i, raw) / 1e6
            return "timings"
        if m := _P["old_timings"].match(s):
            # TF 1.x/2.0: 'no stats' is the mean of the regular runs
            log.warmup_mean_s = _num(m["warm"], i, raw) / 1e6
            log.init_s = _num(m["init"], i, raw) / 1e6
            log.inference_mean_s = _num(m["inf"], i, raw) / 1e6
            return "old_timings"
        if m := _P["running"].match(s):
            self.runs_seen += 1
            limit = {"min_runs": int(m["n"]), "min_s": _num(m["min"], i, raw)}
            if m["max"] is not None:
                limit["max_s"] = _num(m["max"], i, raw)
            log.run_limits.append(limit)
            return "running"
        if _P["stats"].match(s):
            self.stats.append((self.runs_seen, parse_stats(s, i, raw)))
            return "stats"
        if m := _P["loaded"].match(s):
            log.graph = log.graph or m["path"].strip()
            return "loaded"
        if m := _P["size"].match(s):
            log.model_size_bytes = _num(m["mb"], i, raw) * 1e6
            return "size"
        if m := _P["session"].match(s):
            if log.init_s is None:
                log.init_s = _num(m["ms"], i, raw) / 1e3
            return "session"
        if m := _P["footprint"].match(s):
            kind = "footprint_delta" if m["kind"].startswith("Memory") else "peak_footprint"
            log.memory[f"{kind}_init_bytes"] = _num(m["init"], i, raw) * MIB
            log.memory[f"{kind}_overall_bytes"] = _num(m["overall"], i, raw) * MIB
            return "footprint"
        if m := _P["peak"].match(s):
            log.memory["peak_footprint_monitored_bytes"] = _num(m["mb"], i, raw) * MIB
            return "peak"
        if m := _P["status"].match(s):
            key = {"VmRSS": "vmrss_end_bytes", "RssAnnon": "rss_anon_end_bytes"}.get(m["what"], "rss_file_shmem_end_bytes")
            log.memory[key] = _num(m["mb"], i, raw) * MIB
            return "status"
        if m := _P["section"].match(s):
            self.profile = OpProfile(section="init" if "Initialization" in m["s"] else "regular")
            log.profiles.append(self.profile)
            self.table = self.columns = None
            return "section"
        if m := _P["version"].match(s):
            log.runtime_version = m["v"]
            return "param"
        if m := _P["args"].match(s):
            log.extra["args"] = " ".join(m["args"].split())
            graph = re.search(r"--graph=(\S+)", m["args"])
            if graph:
                log.graph = log.graph or graph.group(1)
            return "args"
        if self.delegation(s, i):
            return "delegation"
        if m := _P["param"].match(s):
            label, value = m["label"].strip(), m["value"]
            log.params[label] = value
            if label == "Graph":
                log.graph = value
            return "param"
        return "litert2" if self.litert2_line(i, s) else None

    def delegation(self, s: str, i: int) -> bool:
        d = self.log.delegations
        if m := _P["replacing"].match(s):
            d.append(Delegation("replaced", m["d"], s, replaced_nodes=int(m["n"]),
                                total_nodes=int(m["total"]) if m["total"] else None, partitions=int(m["parts"])))
        elif m := _P["full"].match(s):
            d.append(Delegation("full", m["d"], s))
        elif m := _P["partial"].match(s):
            d.append(Delegation("partial", m["d"], s, kernels=int(m["k"])))
        elif m := _P["none"].match(s):
            d.append(Delegation("none", m["d"], s))
        elif m := _P["unsupported"].match(s):
            d.append(Delegation("unsupported", m["d"], s))
        elif m := _P["created"].match(s):
            d.append(Delegation("created", (m["x"] or "").strip() or m["d"] or m["e"], s))
        elif m := _P["gpu_kernels"].match(s):
            d.append(Delegation("kernels", "GPU", s, kernels=int(m["k"])))
        elif m := _P["apply_failed"].match(s):
            d.append(Delegation("failed", m["d"], s))
        elif m := _P["applying"].match(s):
            d.append(Delegation("applying", None, s))
            self.log.extra["delegates_to_apply"] = int(m["n"])
        else:
            return False
        return True

    def litert2_line(self, i: int, s: str) -> bool:
        log, raw = self.log, self.raw
        if _P["l2_banner"].match(s):
            self.litert2 = True
            return True
        if _P["l2_mem_hdr"].match(s) or _P["l2_nopeak"].match(s):
            return self.litert2
        m = _P["l2_kv"].match(s)
        if not m or not self.litert2:
            return False
        key, value = m["k"].strip(), m["v"].strip()
        num = re.match(rf"^({_NUM})\s*(ms|MB/s|MB)?(?:\s*\((\d+) runs\))?$", value)
        if key == "Signature name":
            log.extra["signature"] = value
            return True
        if not num:
            return False
        x, unit, runs = _num(num.group(1), i, raw), num.group(2), num.group(3)
        seconds = x / 1e3
        if key == "Model initialization":
            log.init_s = seconds
        elif key == "Warmup (first)":
            log.first_s = seconds
        elif key == "Warmup (avg)":
            log.warmup_mean_s = seconds
            log.warmup = log.warmup or TimingStats(count=int(runs) if runs else 0)
            log.warmup.mean_s = seconds
        elif key == "Inference (avg)":
            log.inference_mean_s = seconds
            log.steady = log.steady or TimingStats(count=int(runs) if runs else 0)
            log.steady.mean_s = seconds
        elif key in ("Inference (min)", "Inference (max)", "Inference (std)"):
            log.steady = log.steady or TimingStats(count=0)
            # std is printed without a unit; it is in the same milliseconds as the others
            setattr(log.steady, {"Inference (min)": "min_s", "Inference (max)": "max_s"}.get(key, "std_s"), seconds)
        elif key == "Throughput" and unit == "MB/s":
            log.extra["throughput_bytes_per_s"] = x * 1e6
        elif key in ("Init footprint", "Overall footprint", "Peak memory usage"):
            name = {"Init footprint": "footprint_init_bytes", "Overall footprint": "footprint_overall_bytes"}
            log.memory[name.get(key, "peak_memory_bytes")] = x * MIB
        else:
            return False
        return True

    # -- op-profiling tables ------------------------------------------------------------

    def table_line(self, i: int, text: str, s: str) -> bool:
        prof = self.profile
        assert prof is not None
        if m := _P["table"].match(s):
            self.table, self.columns = m["t"], None
            self.recognised += 1
            return True
        if not s:
            self.columns = None  # a blank line ends a table
            return True
        if self.table and self.columns is None and s.startswith("["):
            self.columns = [c.strip() for c in re.findall(r"\[([^\]]+)\]", s)]
            if self.table != "Summary by node type":
                prof.tables[self.table] = OpTable(self.columns)
            self.recognised += 1
            return True
        if self.table and self.columns:
            self.row(i, text)
            self.recognised += 1
            return True
        if m := _P["nodes_exec"].match(s):
            return True
        if m := _P["prof_timings"].match(s):
            prof.timings = parse_stats(m["s"], i, self.raw)
            return True
        if _P["prof_memory"].match(s):
            return True
        if m := _P["observed"].match(s):
            prof.nodes_observed = int(m["n"])
            self.profile = self.table = None  # end of this section
            return True
        return False

    def row(self, i: int, text: str) -> None:
        assert self.columns is not None and self.profile is not None
        cells_list = _split_row(text)
        cols = self.columns
        if len(cells_list) != len(cols):
            raise BenchmarkLogError(
                f"line {i}: {len(cells_list)} cells in a {self.table!r} row with {len(cols)} columns: {text.strip()[:120]!r}",
                self.raw,
            )
        raw = self.raw
        if self.table == "Summary by node type":
            cells = dict(zip(cols, cells_list))
            times = _cell(cells, "times called", i, raw)
            count = _cell(cells, "count", i, raw)
            self.profile.by_type.append(OpTypeRow(
                node_type=cells.get("Node type", ""),
                count=_count(count),
                avg_s=_cell(cells, "avg ms", i, raw, 1e-3),
                percent=_cell(cells, "avg %", i, raw),
                times_called=_count(times),
            ))
            return
        self.profile.tables[self.table].add(cells_list, i, raw)


def parse_log(text: str) -> BenchmarkLog:
    """Parse a whole benchmark_model log (kept in `raw`). See the module docstring."""
    return _Parser(text).parse(text.splitlines())


def parse_lines(lines: Iterable[str]) -> BenchmarkLog:
    """Parse a log line by line without keeping its text (`raw` is None): a 50 MB op profile
    costs its parsed rows, not the text."""
    return _Parser(None).parse(lines)


def parse_file(path: Path) -> BenchmarkLog:
    from harness.logs.text import open_lines

    return parse_lines(open_lines(path))
