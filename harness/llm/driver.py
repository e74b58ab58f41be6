"""harness-llm-driver (C++, ``harness/llm/driver/``): its command line and its JSON-line events.

Why a driver of our own for TTFT and per-token latency: llama-bench reports one average per
test (no first token, no spread between tokens, no memory); llama-server's per-request
timings would need an HTTP server on the device and time what the server chooses to. The
driver runs what a chat app runs — load, prefill, sample the first token, decode token by
token — against llama.cpp's C API, stamps each step with the device's CLOCK_MONOTONIC, keeps
the stamps in memory during the timed loop and prints them after each repetition (so pipe or
ssh back-pressure never enters a timing). It is built from the same cmake tree as
llama-bench (`harness.llm.build`), so both measure the same llama.cpp.

Events (schema 1), one JSON object per line, times in ns of CLOCK_MONOTONIC, memory in bytes:

``hello``    schema, clock, t_ns, pid, llama_commit, system_info, model_path, n_prompt, n_gen,
             n_depth, reps, warmup_reps, n_threads, n_gpu_layers, n_batch, n_ubatch, n_ctx,
             flash_attn, seed
``load``     t_start_ns, t_model_ns (weights loaded), t_end_ns (context ready), model_desc,
             model_size_bytes, model_n_params, n_vocab, n_ctx_train, n_ctx, rss_bytes, peak_rss_bytes
``depth``    rep, warmup, n_depth, t_start_ns, t_end_ns (cache pre-filled; not timed as prefill)
``prefill``  rep, warmup, n_prompt, n_depth, t_start_ns, t_end_ns (prompt decoded)
``token``    rep, warmup, index (0 = the token sampled from the prefill), id, t_ns (sampled)
``rep``      rep, warmup, n_prompt, n_gen, n_depth, t_start_ns, t_prefill_end_ns,
             t_first_token_ns, t_end_ns, llama_perf {t_p_eval_ms, n_p_eval, t_eval_ms, n_eval},
             rss_bytes, peak_rss_bytes
``done``     t_ns, rss_bytes, peak_rss_bytes (VmHWM: the process's peak resident memory)
``error``    stage (args|load|context|depth|prefill|decode), message, t_ns; exit status 1 (2: args)

Warm-up repetitions have negative ``rep`` numbers and ``warmup: true``. Definitions used by
`DriverRep`: TTFT = first token − start (prefill + first sample; tokenisation is not timed,
the prompt is random token ids), prefill rate = n_prompt / (prefill end − start), decode
rate = (n_gen − 1) / (last token − first token), inter-token latencies = differences of
consecutive token stamps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.logs.llama_bench import LlamaLogError, Skipped
from harness.stats import summarize
from harness.store.record import LatencySummary

SCHEMA = 1


class DriverOptions(BaseModel):
    """What one driver invocation measures (mirrors llama-bench's -p/-n/-d/-r/-t/-ngl/-b/-ub/-fa)."""

    model_config = ConfigDict(extra="forbid")

    n_prompt: int = Field(32, ge=1)
    n_gen: int = Field(16, ge=1)
    n_depth: int = Field(0, ge=0)
    reps: int = Field(3, ge=1)
    warmup: int = Field(1, ge=0)
    threads: int | None = Field(None, ge=1)
    n_gpu_layers: int = 99
    n_batch: int = Field(2048, ge=1)
    n_ubatch: int = Field(512, ge=1)
    n_ctx: int | None = Field(None, ge=1)
    flash_attn: int = Field(-1, ge=-1, le=1)
    seed: int = Field(42, ge=0)

    def argv(self, binary: str | Path, model: str | Path) -> list[str]:
        out = [str(binary), "-m", str(model), "-p", str(self.n_prompt), "-n", str(self.n_gen), "-d", str(self.n_depth),
               "-r", str(self.reps), "-w", str(self.warmup), "-ngl", str(self.n_gpu_layers), "-b", str(self.n_batch),
               "-ub", str(self.n_ubatch), "-fa", str(self.flash_attn), "-s", str(self.seed)]
        if self.threads:
            out += ["-t", str(self.threads)]
        if self.n_ctx:
            out += ["-c", str(self.n_ctx)]
        return out


def llama_bench_argv(binary: str | Path, model: str | Path, *, n_prompt: int = 512, n_gen: int = 128,
                     n_depth: int = 0, reps: int = 5, threads: int | None = None, n_gpu_layers: int | None = None,
                     output: str = "jsonl", extra: Iterable[str] = ()) -> list[str]:
    """A llama-bench command line for one pp test and one tg test (``-p 0`` or ``-n 0`` drops one)."""
    out = [str(binary), "-m", str(model), "-p", str(n_prompt), "-n", str(n_gen), "-r", str(reps), "-o", output]
    if n_depth:
        out += ["-d", str(n_depth)]
    if threads:
        out += ["-t", str(threads)]
    if n_gpu_layers is not None:
        out += ["-ngl", str(n_gpu_layers)]
    return out + list(extra)


class DriverRep(BaseModel):
    """One repetition: prefill, first token and every decoded token on the device clock."""

    model_config = ConfigDict(extra="forbid")

    rep: int
    warmup: bool
    n_prompt: int
    n_gen: int
    n_depth: int
    t_start_ns: int
    t_prefill_end_ns: int
    t_first_token_ns: int
    t_end_ns: int
    token_t_ns: list[int]
    rss_bytes: int | None = None
    peak_rss_bytes: int | None = None
    llama_perf: dict[str, float] = Field(default_factory=dict)

    @property
    def ttft_s(self) -> float:
        return (self.t_first_token_ns - self.t_start_ns) / 1e9

    @property
    def prefill_s(self) -> float:
        return (self.t_prefill_end_ns - self.t_start_ns) / 1e9

    @property
    def prefill_tokens_per_s(self) -> float | None:
        return self.n_prompt / self.prefill_s if self.prefill_s > 0 else None

    @property
    def decode_s(self) -> float:
        return (self.t_end_ns - self.t_first_token_ns) / 1e9

    @property
    def decode_tokens_per_s(self) -> float | None:
        return (self.n_gen - 1) / self.decode_s if self.n_gen > 1 and self.decode_s > 0 else None

    @property
    def inter_token_s(self) -> list[float]:
        t = self.token_t_ns
        return [(b - a) / 1e9 for a, b in zip(t, t[1:])]


class DriverResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    hello: dict = Field(default_factory=dict)
    load: dict = Field(default_factory=dict)
    reps: list[DriverRep] = Field(default_factory=list, description="warm-up repetitions included, flagged")
    peak_rss_bytes: int | None = None
    complete: bool = False  # the done event was seen
    error: dict | None = None
    warnings: list[str] = Field(default_factory=list)
    skipped: Skipped = Field(default_factory=Skipped)

    @property
    def load_s(self) -> float | None:
        """Model load + context creation."""
        if "t_start_ns" in self.load and "t_end_ns" in self.load:
            return (self.load["t_end_ns"] - self.load["t_start_ns"]) / 1e9
        return None

    @property
    def measured(self) -> list[DriverRep]:
        return [r for r in self.reps if not r.warmup]

    def ttft(self) -> LatencySummary | None:
        return summarize([r.ttft_s for r in self.measured])

    def inter_token(self) -> LatencySummary | None:
        """Every inter-token latency of the measured repetitions (p50 = median_s, p99 = p99_s)."""
        return summarize([x for r in self.measured for x in r.inter_token_s])

    def prefill_tokens_per_s(self) -> list[float]:
        return [x for r in self.measured if (x := r.prefill_tokens_per_s) is not None]

    def decode_tokens_per_s(self) -> list[float]:
        return [x for r in self.measured if (x := r.decode_tokens_per_s) is not None]


def parse_driver_events(lines: Iterable[str], *, source: str = "harness-llm-driver") -> DriverResult:
    """The driver's stdout as a `DriverResult`. What was measured before a failure or a cut
    is kept (`complete` False, `error` set); a non-JSON line is skipped and counted."""
    res = DriverResult(source=source)
    tokens: dict[int, list[tuple[int, int]]] = {}
    for i, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s:
            continue
        try:
            ev = json.loads(s)
        except json.JSONDecodeError:
            res.skipped.add(raw, i)
            continue
        kind = ev.get("event") if isinstance(ev, dict) else None
        if kind == "hello":
            if ev.get("schema") != SCHEMA:
                raise LlamaLogError(source, f"driver event schema {ev.get('schema')!r}, this harness reads {SCHEMA}", i)
            res.hello = ev
        elif kind == "load":
            res.load = ev
        elif kind == "token":
            tokens.setdefault(int(ev["rep"]), []).append((int(ev["index"]), int(ev["t_ns"])))
        elif kind == "rep":
            stamps = [t for _, t in sorted(tokens.pop(int(ev["rep"]), []))]
            if len(stamps) != ev["n_gen"]:
                res.warnings.append(f"rep {ev['rep']}: {len(stamps)} token stamps for {ev['n_gen']} tokens")
            if any(b < a for a, b in zip(stamps, stamps[1:])):
                res.warnings.append(f"rep {ev['rep']}: token stamps go backwards")
            res.reps.append(DriverRep(
                rep=ev["rep"], warmup=bool(ev["warmup"]), n_prompt=ev["n_prompt"], n_gen=ev["n_gen"],
                n_depth=ev.get("n_depth", 0), t_start_ns=ev["t_start_ns"], t_prefill_end_ns=ev["t_prefill_end_ns"],
                t_first_token_ns=ev["t_first_token_ns"], t_end_ns=ev["t_end_ns"], token_t_ns=stamps,
                rss_bytes=_mem(ev.get("rss_bytes")), peak_rss_bytes=_mem(ev.get("peak_rss_bytes")),
                llama_perf=ev.get("llama_perf") or {},
            ))
        elif kind == "done":
            res.complete = True
            res.peak_rss_bytes = _mem(ev.get("peak_rss_bytes"))
        elif kind == "error":
            res.error = ev
        elif kind in ("depth", "prefill"):
            pass  # the rep event repeats what these say
        else:
            res.skipped.add(raw, i)
    for rep in tokens:
        res.warnings.append(f"rep {rep}: cut before its end (tokens without a rep event); not used")
    # the largest of every reading: a cut run has no done event, and VmHWM may lag VmRSS
    seen = [res.peak_rss_bytes, _mem(res.load.get("peak_rss_bytes")), _mem(res.load.get("rss_bytes"))]
    seen += [m for r in res.reps for m in (r.peak_rss_bytes, r.rss_bytes)]
    res.peak_rss_bytes = max((m for m in seen if m), default=None)
    if not res.complete and res.error is None:
        res.warnings.append("the driver's output ends before its done event (killed or cut)")
    return res


def _mem(v) -> int | None:
    return int(v) if isinstance(v, (int, float)) and v >= 0 else None
