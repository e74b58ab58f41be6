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
  failure is a result (`failed`, `failure`), not an exception.

Units are converted here: times to seconds, memory to bytes. The tool prints
footprints in MiB (kB/1024), the model file size in MB (bytes/1e6) and per-op memory
("mem KB") in kB (bytes/1000).

Text in which nothing is recognisable as benchmark_model output, or a recognised
line whose numbers do not parse, raises `BenchmarkLogError` carrying the raw text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

MIB = 1024.0 * 1024.0

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf"
_PREFIX = re.compile(r"^(INFO|WARN|WARNING|ERROR|VERBOSE|FATAL|DEBUG): ?")
_LITERT_SOURCE = re.compile(r"^\[[\w./+-]+:\d+\] ?")


class BenchmarkLogError(HarnessError):
    """Not benchmark_model output, or a recognised line that does not parse. `raw` keeps the text."""

    def __init__(self, message: str, raw: str):
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


@dataclass
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
    tables: dict[str, list[OpRow]] = field(default_factory=dict)
    by_type: list[OpTypeRow] = field(default_factory=list)
    timings: TimingStats | None = None
    nodes_observed: int | None = None

    @property
    def rows(self) -> list[OpRow]:
        """Every node once, in run order when the table is there."""
        return self.tables.get("Run Order") or self.tables.get("Top by Computation Time") or []


@dataclass
class Delegation:
    kind: str  # replaced | full | partial | none | unsupported | created | failed | applying
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
    raw: str
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
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    other_lines: list[str] = field(default_factory=list)
    failed: bool = False
    failure: str | None = None

    @property
    def ops(self) -> list[OpRow]:
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
        rf"^Running benchmark for at least (?P<n>\d+) iterations and at least (?P<min>{_NUM}) seconds "
        rf"but terminate if exceeding (?P<max>{_NUM}) seconds\.$"
    ),
    "stats": re.compile(r"^(?:count=\d+|curr=\S+ count=\d+)"),
    "timings": re.compile(
        rf"^Inference timings in us: Init: (?P<init>{_NUM}), First inference: (?P<first>{_NUM}), "
        rf"Warmup \(avg\): (?P<warm>{_NUM}), Inference \(avg\): (?P<inf>{_NUM})$"
    ),
    "note": re.compile(r"^Note: as the benchmark tool itself affects memory footprint"),
    "footprint": re.compile(
        rf"^(?P<kind>Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
        rf"init=(?P<init>{_NUM}) overall=(?P<overall>{_NUM})$"
    ),
    "peak": re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<mb>{_NUM})$"),
    "status_hdr": re.compile(r"^Memory status at the end of exe\w*ution:$"),
    "status": re.compile(rf"^[-+] (?P<what>VmRSS|RssAnnon|RssFile \+ RssShmem)\s*: (?P<mb>{_NUM}) MB$"),
    "replacing": re.compile(
        r"^Replacing (?P<n>\d+) out of (?P<total>\d+) node\(s\) with delegate \((?P<d>[^)]+)\) node, "
        r"yielding (?P<parts>\d+) partitions?(?: for subgraph \d+)?\.$"
    ),
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
    ("Replacing ", "replacing"),
)

_STAT_KEYS = {"first": "first_s", "curr": "curr_s", "min": "min_s", "max": "max_s", "avg": "mean_s",
              "std": "std_s", "p5": "p5_s", "median": "median_s", "p95": "p95_s"}


def _num(text: str, line_no: int, raw: str) -> float:
    try:
        return float(text)
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
        return [c.strip() for c in line.split("\t") if c.strip() != ""]
    return [c.strip() for c in re.split(r"\s{2,}", line.strip()) if c.strip()]


def _cell(cells: dict[str, str], key: str, line_no: int, raw: str, scale: float = 1.0) -> float | None:
    v = cells.get(key)
    if v is None or v == "":
        return None
    return _num(v.rstrip("%"), line_no, raw) * scale


class _Parser:
    def __init__(self, text: str):
        self.raw = text
        self.log = BenchmarkLog(raw=text)
        self.recognised = 0
        self.prefixed = 0
        self.runs_seen = 0
        self.stats_seen = 0
        self.profile: OpProfile | None = None
        self.table: str | None = None
        self.columns: list[str] | None = None
        self.litert2 = False

    def parse(self) -> BenchmarkLog:
        for i, original in enumerate(self.raw.splitlines(), start=1):
            self.line(i, original.rstrip("\r\n"))
        log = self.log
        if self.recognised == 0:
            first = next((ln.strip() for ln in self.raw.splitlines() if ln.strip()), "")
            raise BenchmarkLogError(
                "not benchmark_model output: no line of it is recognisable"
                + (f" (first line: {first[:80]!r})" if first else " (the text is empty)"),
                self.raw,
            )
        if self.litert2:
            log.dialect = "litert2"
        elif self.prefixed == 0:
            log.dialect = "tflite-unprefixed"
        fatal = [e for e in log.errors if re.search(r"fail|not true|error|abort|unable|cannot", e, re.I)]
        if fatal and not log.has_results or any("Benchmarking failed" in e for e in log.errors):
            log.failed = True
            log.failure = " | ".join(log.errors)[:500]
        return log

    def line(self, i: int, text: str) -> None:
        level = None
        m = _PREFIX.match(text)
        if m:
            level, text = m.group(1), text[m.end():]
            self.prefixed += 1
            lm = _LITERT_SOURCE.match(text)
            if lm:
                text = text[lm.end():]
                self.litert2 = True
        stripped = text.strip()
        if self.profile is not None and self.table_line(i, text, stripped):
            return
        if not stripped:
            return
        if level == "ERROR" or level == "FATAL":
            self.log.errors.append(stripped)
            self.recognised += 1
            self.delegation(stripped, i)  # "Failed to apply X delegate." is both
            return
        if self.known(i, stripped):
            self.recognised += 1
            return
        if level in ("WARN", "WARNING"):
            self.log.warnings.append(stripped)
            self.recognised += 1
            return
        self.log.other_lines.append(text)

    # -- the kinds of line --------------------------------------------------------------

    def known(self, i: int, s: str) -> bool:
        log, raw = self.log, self.raw
        for prefix, kind in _STRICT:
            if s.startswith(prefix) and not _P[kind].match(s):
                raise BenchmarkLogError(f"line {i}: cannot read {s[:160]!r}", raw)
        if _P["start"].match(s) or _P["note"].match(s) or _P["runtime"].match(s) or _P["status_hdr"].match(s):
            return True
        if m := _P["timings"].match(s):
            log.init_s = _num(m["init"], i, raw) / 1e6
            log.first_s = _num(m["first"], i, raw) / 1e6
            log.warmup_mean_s = _num(m["warm"], i, raw) / 1e6
            log.inference_mean_s = _num(m["inf"], i, raw) / 1e6
            return True
        if m := _P["running"].match(s):
            self.runs_seen += 1
            log.run_limits.append({"min_runs": int(m["n"]), "min_s": _num(m["min"], i, raw), "max_s": _num(m["max"], i, raw)})
            return True
        if _P["stats"].match(s):
            stats = parse_stats(s, i, raw)
            # the first statistics line is the warmup, the second the regular runs
            slot = self.runs_seen if self.runs_seen else self.stats_seen + 1
            self.stats_seen += 1
            if slot <= 1 and log.warmup is None:
                log.warmup = stats
            else:
                log.steady = stats
            return True
        if m := _P["loaded"].match(s):
            log.graph = log.graph or m["path"].strip()
            return True
        if m := _P["size"].match(s):
            log.model_size_bytes = _num(m["mb"], i, raw) * 1e6
            return True
        if m := _P["session"].match(s):
            if log.init_s is None:
                log.init_s = _num(m["ms"], i, raw) / 1e3
            return True
        if m := _P["footprint"].match(s):
            kind = "footprint_delta" if m["kind"].startswith("Memory") else "peak_footprint"
            log.memory[f"{kind}_init_bytes"] = _num(m["init"], i, raw) * MIB
            log.memory[f"{kind}_overall_bytes"] = _num(m["overall"], i, raw) * MIB
            return True
        if m := _P["peak"].match(s):
            log.memory["peak_footprint_monitored_bytes"] = _num(m["mb"], i, raw) * MIB
            return True
        if m := _P["status"].match(s):
            key = {"VmRSS": "vmrss_end_bytes", "RssAnnon": "rss_anon_end_bytes"}.get(m["what"], "rss_file_shmem_end_bytes")
            log.memory[key] = _num(m["mb"], i, raw) * MIB
            return True
        if m := _P["section"].match(s):
            self.profile = OpProfile(section="init" if "Initialization" in m["s"] else "regular")
            log.profiles.append(self.profile)
            self.table = self.columns = None
            return True
        if self.delegation(s, i):
            return True
        if m := _P["param"].match(s):
            label, value = m["label"].strip(), m["value"]
            log.params[label] = value
            if label == "Graph":
                log.graph = value
            return True
        return self.litert2_line(i, s)

    def delegation(self, s: str, i: int) -> bool:
        d = self.log.delegations
        if m := _P["replacing"].match(s):
            d.append(Delegation("replaced", m["d"], s, replaced_nodes=int(m["n"]), total_nodes=int(m["total"]),
                                partitions=int(m["parts"])))
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
        cells = dict(zip(cols, cells_list))
        raw = self.raw
        if self.table == "Summary by node type":
            times = _cell(cells, "times called", i, raw)
            count = _cell(cells, "count", i, raw)
            self.profile.by_type.append(OpTypeRow(
                node_type=cells.get("Node type", ""),
                count=int(count) if count is not None else None,
                avg_s=_cell(cells, "avg ms", i, raw, 1e-3),
                percent=_cell(cells, "avg %", i, raw),
                times_called=int(times) if times is not None else None,
            ))
            return
        times = _cell(cells, "times called", i, raw)
        self.profile.tables.setdefault(self.table, []).append(OpRow(
            node_type=cells.get("node type", ""),
            name=cells.get("Name", ""),
            first_s=_cell(cells, "first", i, raw, 1e-3),
            avg_s=_cell(cells, "avg ms", i, raw, 1e-3),
            percent=_cell(cells, "%", i, raw),
            cdf_percent=_cell(cells, "cdf%", i, raw),
            mem_bytes=_cell(cells, "mem KB", i, raw, 1e3),
            times_called=int(times) if times is not None else None,
            start_s=_cell(cells, "start", i, raw, 1e-3),
        ))


def parse_log(text: str) -> BenchmarkLog:
    """Parse a whole benchmark_model log. See the module docstring for what is accepted."""
    return _Parser(text).parse()
