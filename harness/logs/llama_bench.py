"""llama.cpp's `llama-bench` output (``-o md|csv|json|jsonl``, 2023 to today) and the
`llama-batched-bench` table, as typed results in SI units.

`parse_llama_bench(text, source=...)` recognises the format itself. Every test becomes a
`LlamaBenchTest`: its kind (``pp``/``tg``/``pp+tg``, at depth ``d``), tokens per second with
its spread, and — from the machine-readable formats — the mean and per-repetition times in
seconds. Fields of every schema era are accepted: 2023's ``cuda``/``metal``/``f16_kv``
flags, today's ``n_depth``/``devices``/``n_cpu_moe``, a fork's ``avg_ttft_ms``/``samples_itl_ns``.
Whatever a tool printed is kept verbatim in `LlamaBenchTest.fields`.

Lines around the results (backend start-up lines on stderr, ``ggml_cuda_init: …``, vendor
messages) are skipped and counted in `LlamaBenchLog.skipped`. A file is refused — one
`LlamaLogError` naming the source, the line and the reason — when a result line is cut or
corrupt (a CSV row whose field count differs from its header, a table row with missing
cells, a JSON line that does not parse) or when no result is found.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.logs.text import Kept as Skipped  # the line keeper every log parser shares
from harness.logs.text import LogFormatError


class LlamaLogError(LogFormatError):
    """A llama.cpp/ExecuTorch log is cut, corrupt, or lacks the figures that define it."""

    def __init__(self, source: str, reason: str, line: int | None = None):
        self.source, self.reason, self.line = source, reason, line
        where = f"{source}: line {line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


class LlamaConfig(BaseModel):
    """The configuration and build a llama.cpp tool reports with its figures (a llama-bench
    test states them; an LLM result keeps them)."""

    n_gpu_layers: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    type_k: str | None = None
    type_v: str | None = None
    flash_attn: str | None = None
    backends: str | None = None
    build_commit: str | None = None
    build_number: int | None = None
    model_type: str | None = Field(None, description="the model as the tool describes it")
    model_n_params: float | None = None
    model_size_bytes: float | None = None  # exact from csv/json; from md's "403.20 MiB" to 2 decimals


class LlamaBenchTest(LlamaConfig):
    """One llama-bench test (one row): SI units; None where the format does not say."""

    model_config = ConfigDict(extra="forbid")

    line: int
    test: str  # as llama-bench names it: pp512, tg128, pp512+tg128, pp512 @ d1024
    n_prompt: int
    n_gen: int
    n_depth: int = 0
    tokens_per_s: float
    tokens_per_s_stddev: float | None = None
    mean_s: float | None = None
    stddev_s: float | None = None
    samples_s: list[float] = Field(default_factory=list, description="one per repetition")
    samples_tokens_per_s: list[float] = Field(default_factory=list)
    # a fork's per-test latency fields (avg_ttft_ms …), when present and measured
    ttft_s: float | None = None
    ttft_stddev_s: float | None = None
    e2e_s: float | None = None
    e2e_stddev_s: float | None = None
    itl_s: float | None = None
    itl_stddev_s: float | None = None
    samples_ttft_s: list[float] = Field(default_factory=list)
    samples_itl_s: list[float] = Field(default_factory=list)
    model_filename: str | None = None
    cpu_info: str | None = None
    gpu_info: str | None = None
    n_threads: int | None = None
    test_time: dt.datetime | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description="every field as printed")

    @property
    def phase(self) -> Literal["prefill", "decode", "prefill+decode"]:
        if self.n_gen == 0:
            return "prefill"
        return "decode" if self.n_prompt == 0 else "prefill+decode"


class BatchedBenchRow(BaseModel):
    """One row of llama-batched-bench: B parallel sequences of PP prompt and TG generated tokens."""

    model_config = ConfigDict(extra="forbid")

    line: int
    n_prompt: int
    n_gen: int
    n_parallel: int
    n_kv: int
    prefill_s: float
    prefill_tokens_per_s: float
    decode_s: float
    decode_tokens_per_s: float
    total_s: float
    tokens_per_s: float


class LlamaBenchLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    tool: Literal["llama-bench", "llama-batched-bench"]
    format: Literal["md", "csv", "json", "jsonl", "table"]
    tests: list[LlamaBenchTest] = Field(default_factory=list)
    batched: list[BatchedBenchRow] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict, description="llama-batched-bench's parameter line")
    build_commit: str | None = None
    build_number: int | None = None
    skipped: Skipped = Field(default_factory=Skipped)


# -- shared field conversion -----------------------------------------------------------------

_INT_FIELDS = ("n_threads", "n_gpu_layers", "n_batch", "n_ubatch")
_STR_FIELDS = ("model_type", "model_filename", "backends", "cpu_info", "gpu_info", "build_commit", "type_k", "type_v")
_NS = 1e-9
_MS = 1e-3


def _to_int(v: Any) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    try:
        return int(float(v)) if not isinstance(v, int) else v
    except (TypeError, ValueError):
        return None


def _to_float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _samples(v: Any, scale: float) -> list[float]:
    if v is None or v == "":
        return []
    if isinstance(v, str):  # csv: "[ 1, 2 ]" or "1;2"
        v = [x for x in re.split(r"[\s,;\[\]]+", v) if x]
    return [float(x) * scale for x in v]


def bench_test_name(n_prompt: int, n_gen: int, n_depth: int) -> str:
    name = f"pp{n_prompt}+tg{n_gen}" if n_prompt and n_gen else (f"tg{n_gen}" if n_gen else f"pp{n_prompt}")
    return f"{name} @ d{n_depth}" if n_depth else name


def _latency(rec: dict[str, Any], key: str) -> tuple[float | None, float | None, list[float]]:
    """A fork's avg_<key>_ms / stddev_<key>_ms / samples_<key>_ns; 0 with no samples = not measured."""
    avg = _to_float(rec.get(f"avg_{key}_ms"))
    sd = _to_float(rec.get(f"stddev_{key}_ms"))
    samples = _samples(rec.get(f"samples_{key}_ns"), _NS)
    if avg is None or (avg == 0 and not samples and f"samples_{key}_ns" in rec):
        return None, None, samples
    return avg * _MS, (sd * _MS if sd is not None else None), samples


def test_from_record(rec: dict[str, Any], line: int, source: str) -> LlamaBenchTest:
    """One machine-readable llama-bench record (a csv row or a json object) as a test."""
    for key in ("n_prompt", "n_gen"):
        if _to_int(rec.get(key)) is None:
            raise LlamaLogError(source, f"result has no {key}", line)
    avg_ts = _to_float(rec.get("avg_ts"))
    avg_ns = _to_float(rec.get("avg_ns"))
    if avg_ts is None and avg_ns is None:
        raise LlamaLogError(source, "result has neither avg_ts nor avg_ns", line)
    n_prompt, n_gen = _to_int(rec["n_prompt"]), _to_int(rec["n_gen"])
    n_depth = _to_int(rec.get("n_depth")) or 0
    if avg_ts is None:  # tokens over the mean time, as llama-bench computes it
        avg_ts = (n_prompt + n_gen) / (avg_ns * _NS) if avg_ns else 0.0
    ttft, ttft_sd, ttft_samples = _latency(rec, "ttft")
    e2e, e2e_sd, _ = _latency(rec, "e2e")
    itl, itl_sd, itl_samples = _latency(rec, "itl")
    test_time = None
    if rec.get("test_time"):
        try:
            test_time = dt.datetime.fromisoformat(str(rec["test_time"]).replace("Z", "+00:00"))
        except ValueError:
            test_time = None
    fa = rec.get("flash_attn")
    return LlamaBenchTest(
        line=line,
        test=bench_test_name(n_prompt, n_gen, n_depth),
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=n_depth,
        tokens_per_s=avg_ts,
        tokens_per_s_stddev=_to_float(rec.get("stddev_ts")),
        mean_s=avg_ns * _NS if avg_ns is not None else None,
        stddev_s=(_to_float(rec.get("stddev_ns")) or 0.0) * _NS if rec.get("stddev_ns") not in (None, "") else None,
        samples_s=_samples(rec.get("samples_ns"), _NS),
        samples_tokens_per_s=_samples(rec.get("samples_ts"), 1.0),
        ttft_s=ttft, ttft_stddev_s=ttft_sd, samples_ttft_s=ttft_samples,
        e2e_s=e2e, e2e_stddev_s=e2e_sd,
        itl_s=itl, itl_stddev_s=itl_sd, samples_itl_s=itl_samples,
        model_size_bytes=_to_float(rec.get("model_size")),
        model_n_params=_to_float(rec.get("model_n_params")),
        build_number=_to_int(rec.get("build_number")),
        flash_attn=None if fa is None else str(fa).lower(),
        test_time=test_time,
        fields=dict(rec),
        **{k: _to_int(rec.get(k)) for k in _INT_FIELDS},
        **{k: (str(rec[k]) if rec.get(k) is not None else None) for k in _STR_FIELDS},
    )


# -- format detection and the machine-readable formats ---------------------------------------------


def parse_llama_bench(text: str, *, source: str = "<text>") -> LlamaBenchLog:
    """Parse llama-bench (md, csv, json, jsonl) or llama-batched-bench output; see the module docstring."""
    lines = text.splitlines()
    for i, raw in enumerate(lines):
        s = raw.strip()
        if s.startswith("["):
            return _parse_json(lines, i, source)
        if s.startswith("{"):
            return _parse_jsonl(lines, source)
        if s.startswith("build_commit,") or (s.count(",") >= 3 and "avg_ts" in s.split(",")):
            return _parse_csv(lines, i, source)
        if s.startswith("llama_batched_bench:") or re.match(r"^\|\s*PP\s*\|\s*TG\s*\|\s*B\s*\|", s):
            return _parse_batched(lines, source)
        if s.startswith("|"):
            return _parse_md(lines, source)
        if s.upper().startswith(("CREATE TABLE", "INSERT INTO")):
            raise LlamaLogError(source, "llama-bench SQL output (-o sql) is not read: use -o jsonl", i + 1)
    raise LlamaLogError(source, "no llama-bench results (no markdown table, CSV header or JSON)")


def _parse_json(lines: list[str], start: int, source: str) -> LlamaBenchLog:
    log = LlamaBenchLog(source=source, tool="llama-bench", format="json")
    for i in range(start):
        if lines[i].strip():
            log.skipped.add(lines[i], i + 1)
    body = "\n".join(lines[start:])
    try:
        doc, end = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as e:
        raise LlamaLogError(source, f"JSON does not parse ({e.msg}; cut or corrupt?)", start + e.lineno) from None
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise LlamaLogError(source, "JSON output is not an array of test objects", start + 1)
    if not doc:
        raise LlamaLogError(source, "JSON array holds no tests", start + 1)
    # each object's line: where its opening brace is
    starts = [start + i + 1 for i, ln in enumerate(lines[start:]) if ln.strip().startswith("{")]
    for k, rec in enumerate(doc):
        log.tests.append(test_from_record(rec, starts[k] if k < len(starts) else start + 1, source))
    tail_from = start + body[:end].count("\n") + 1
    for i in range(tail_from, len(lines)):
        if lines[i].strip():
            log.skipped.add(lines[i], i + 1)
    return log


def _parse_jsonl(lines: list[str], source: str) -> LlamaBenchLog:
    log = LlamaBenchLog(source=source, tool="llama-bench", format="jsonl")
    for i, raw in enumerate(lines):
        s = raw.strip()
        if not s:
            continue
        if not s.startswith("{"):
            log.skipped.add(raw, i + 1)
            continue
        try:
            rec = json.loads(s)
        except json.JSONDecodeError as e:
            raise LlamaLogError(source, f"JSON line does not parse ({e.msg} at column {e.colno}; cut or corrupt?)",
                                i + 1) from None
        if not isinstance(rec, dict):
            raise LlamaLogError(source, "JSON line is not an object", i + 1)
        log.tests.append(test_from_record(rec, i + 1, source))
    return log


def _parse_csv(lines: list[str], header_at: int, source: str) -> LlamaBenchLog:
    log = LlamaBenchLog(source=source, tool="llama-bench", format="csv")
    for i in range(header_at):
        if lines[i].strip():
            log.skipped.add(lines[i], i + 1)
    header = next(csv.reader([lines[header_at].strip()]))
    for i in range(header_at + 1, len(lines)):
        raw = lines[i].strip()
        if not raw:
            continue
        if not raw.startswith('"') and raw.count(",") < len(header) // 2:
            log.skipped.add(lines[i], i + 1)  # a stderr line after the rows
            continue
        try:
            row = next(csv.reader([raw], strict=True))
        except csv.Error as e:
            raise LlamaLogError(source, f"CSV row does not parse ({e})", i + 1) from None
        if len(row) != len(header):
            raise LlamaLogError(
                source,
                f"CSV row has {len(row)} fields but the header (line {header_at + 1}) names {len(header)}"
                + (" (cut short?)" if len(row) < len(header) else ""),
                i + 1,
            )
        log.tests.append(test_from_record(dict(zip(header, row)), i + 1, source))
    if not log.tests:
        raise LlamaLogError(source, "CSV header but no result rows", header_at + 1)
    return log


# -- markdown tables ----------------------------------------------------------------------

_BUILD = re.compile(r"^build:\s*([0-9a-f]+)\s*\((\d+)\)\s*$")
_TEST = re.compile(r"^(?:pp\s*(\d+))?\s*\+?\s*(?:tg\s*(\d+))?(?:\s*@\s*d\s*(\d+))?$")
_SIZE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_COUNT_UNITS = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_MD_COLUMNS = {"model": "model_type", "size": "model_size", "params": "model_n_params", "backend": "backends",
               "threads": "n_threads", "ngl": "n_gpu_layers", "fa": "flash_attn", "n_batch": "n_batch",
               "n_ubatch": "n_ubatch", "type_k": "type_k", "type_v": "type_v", "dev": "devices",
               "mmap": "use_mmap", "sm": "split_mode", "mg": "main_gpu", "nkvo": "no_kv_offload",
               "embd": "embeddings", "ts": "tensor_split", "cpu_mask": "cpu_mask", "strict": "cpu_strict",
               "poll": "poll", "ot": "tensor_buft_overrides", "n_cpu_moe": "n_cpu_moe"}


def _cells(line: str) -> list[str]:
    s = line.strip()
    return [c.strip() for c in s.strip("|").split("|")]


def _md_size(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)\s*(B|KiB|MiB|GiB|TiB)", text)
    return float(m.group(1)) * _SIZE_UNITS[m.group(2)] if m else None


def _md_count(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)\s*([KMBGT]?)", text)
    return float(m.group(1)) * _COUNT_UNITS[m.group(2)] if m else None


def _table_rows(lines: list[str], log: LlamaBenchLog, required: tuple[str, ...],
                other: Callable[[str], bool]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, cells by column) of the one markdown table in `lines`.

    Lines outside the table go to `other` (True: it used the line) or are skipped and
    counted; a header without the `required` columns or a row whose cells do not match
    the header (a cut line) is refused."""
    header: list[str] | None = None
    for i, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s or other(s):
            continue
        if not s.startswith("|"):
            log.skipped.add(raw, i)
            continue
        if header is None:
            header = _cells(s)
            missing = [c for c in required if c not in header]
            if missing:
                raise LlamaLogError(log.source, f"table header lacks the {missing} column(s): {header}", i)
            continue
        if set(s) <= set("|-: "):  # the separator row, however its cells are padded
            continue
        cells = _cells(s)
        if len(cells) != len(header) or not s.endswith("|"):
            cut = " (cut short?)" if len(cells) < len(header) or not s.endswith("|") else ""
            raise LlamaLogError(log.source, f"table row has {len(cells)} cells but the header names {len(header)}{cut}",
                                i)
        yield i, dict(zip(header, cells))


def _parse_md(lines: list[str], source: str) -> LlamaBenchLog:
    log = LlamaBenchLog(source=source, tool="llama-bench", format="md")

    def build_line(s: str) -> bool:
        if m := _BUILD.match(s):
            log.build_commit, log.build_number = m.group(1), int(m.group(2))
        return m is not None

    for line, row in _table_rows(lines, log, ("test", "t/s"), build_line):
        log.tests.append(_md_test(row, line, source))
    if not log.tests:
        raise LlamaLogError(source, "markdown table has no result rows")
    for t in log.tests:
        t.build_commit = t.build_commit or log.build_commit
        t.build_number = t.build_number if t.build_number is not None else log.build_number
    return log


def _md_test(row: dict[str, str], line: int, source: str) -> LlamaBenchTest:
    m = _TEST.match(row["test"])
    if not m or not (m.group(1) or m.group(2)):
        raise LlamaLogError(source, f"test {row['test']!r} is not ppN, tgN, ppN+tgN or '… @ dN'", line)
    n_prompt, n_gen, n_depth = (int(g) if g else 0 for g in m.groups())
    rate = re.fullmatch(r"([\d.]+|inf|nan)\s*(?:±\s*([\d.]+|nan))?", row["t/s"])
    if not rate:
        raise LlamaLogError(source, f"t/s cell {row['t/s']!r} is not 'rate ± stddev'", line)
    fields = {_MD_COLUMNS.get(k, k): v for k, v in row.items()}
    return LlamaBenchTest(
        line=line,
        test=row["test"],
        n_prompt=n_prompt,
        n_gen=n_gen,
        n_depth=n_depth,
        tokens_per_s=float(rate.group(1)),
        tokens_per_s_stddev=float(rate.group(2)) if rate.group(2) else None,
        model_type=row.get("model"),
        model_size_bytes=_md_size(row.get("size", "")),
        model_n_params=_md_count(row.get("params", "")),
        backends=row.get("backend"),
        n_threads=_to_int(row.get("threads")),
        n_gpu_layers=_to_int(row.get("ngl")),
        n_batch=_to_int(row.get("n_batch")),
        n_ubatch=_to_int(row.get("n_ubatch")),
        type_k=row.get("type_k"),
        type_v=row.get("type_v"),
        flash_attn=row.get("fa"),
        fields=fields,
    )


# -- llama-batched-bench ------------------------------------------------------------------

_BATCHED_COLUMNS = {"PP": "n_prompt", "TG": "n_gen", "B": "n_parallel", "N_KV": "n_kv", "T_PP s": "prefill_s",
                    "S_PP t/s": "prefill_tokens_per_s", "T_TG s": "decode_s", "S_TG t/s": "decode_tokens_per_s",
                    "T s": "total_s", "S t/s": "tokens_per_s"}


def _parse_batched(lines: list[str], source: str) -> LlamaBenchLog:
    log = LlamaBenchLog(source=source, tool="llama-batched-bench", format="table")

    def params_line(s: str) -> bool:
        if not s.startswith("llama_batched_bench:"):
            return False
        for k, v in re.findall(r"(\w+)\s*=\s*(-?[\w.]+)", s):
            log.params[k] = _to_int(v) if re.fullmatch(r"-?\d+", v) else v
        return True

    for line, row in _table_rows(lines, log, tuple(_BATCHED_COLUMNS), params_line):
        try:
            values = {f: float(row[c]) for c, f in _BATCHED_COLUMNS.items()}
        except ValueError as e:
            raise LlamaLogError(source, f"table cell is not a number ({e})", line) from None
        for k in ("n_prompt", "n_gen", "n_parallel", "n_kv"):
            values[k] = int(values[k])
        log.batched.append(BatchedBenchRow(line=line, **values))
    if not log.batched:
        raise LlamaLogError(source, "llama-batched-bench output has no result rows")
    return log
