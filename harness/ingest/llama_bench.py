"""Saved llama-bench output (``--format llama-bench``): markdown, CSV, JSON, JSONL of every
schema since 2023, and llama-batched-bench tables.

Parsed by `harness.logs.llama_bench` (a cut or corrupt file is refused naming the line and
why) and recorded as the ``llama_bench`` runner records a run (`record_bench_log`): a sample
row per repetition where the output has them (JSON, JSONL), the tool's averages otherwise.
One record per configuration the file holds — tests that share the model, backend, threads,
GPU layers, batch sizes, KV types, flash attention and build — so a thread sweep in one table
becomes one record per thread count, as ``harness run --threads N`` makes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.ingest.base import IngestedRun, IngestError, IngestFormat
from harness.llm.record import PhaseRows
from harness.logs.llama_bench import LlamaBenchLog, LlamaBenchTest, LlamaLogError, parse_llama_bench
from harness.runners.llama_bench import record_bench_log
from harness.runners.llama_common import DEFAULT_REPS
from harness.store.record import RuntimeInfo, StopRule
from harness.store.recorder import Recorder

# fields that describe one test, not the configuration it ran under
_PER_TEST = {"test", "t/s", "n_prompt", "n_gen", "n_depth", "test_time"}
_PER_TEST_PREFIXES = ("avg_", "stddev_", "samples_")
T = TypeVar("T")
_FLASH_ATTN = {"1": "on", "true": "on", "on": "on", "0": "off", "false": "off", "off": "off", "-1": "auto",
               "auto": "auto"}


def parsed(parse: Callable[..., T], text: str, source: Path) -> T:
    """A llama.cpp / ExecuTorch parser's result, or its refusal as an `IngestError` naming the
    line and the reason (without the source: ingest names the file)."""
    try:
        return parse(text, source=str(source))
    except LlamaLogError as e:
        raise IngestError(f"line {e.line}: {e.reason}" if e.line is not None else e.reason) from None


def single_run(runtime: str, library: str, lines: list[str], raw: str, fill: Callable[[PhaseRows], None], *,
               source: str, details: dict, load_s: float | None, model_format: str, json_extra: dict) -> IngestedRun:
    """One run a saved llama.cpp / ExecuTorch log describes: the log kept verbatim under `raw`,
    its phase rows (added by `fill`), its result; the tool ran it once."""
    rec = Recorder(runtime=RuntimeInfo(name=runtime, library=library))
    rec.add_raw(raw, lines)
    rows = PhaseRows(rec)
    fill(rows)
    if load_s is not None:
        rec.phases.load_s = load_s
    rec.set_result(rows.result(source, details=details))
    return IngestedRun(recorder=rec, runtime=runtime, stop=StopRule(mode="fixed", count=1, warmup_min=1),
                       model_format=model_format, json_extra=json_extra)


def configuration(t: LlamaBenchTest) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in t.fields.items()
                        if k not in _PER_TEST and not k.startswith(_PER_TEST_PREFIXES)))


class LlamaBenchIngest(IngestFormat):
    name = "llama-bench"
    description = "saved llama-bench output (md, csv, json, jsonl; 2023 to today) or a llama-batched-bench table"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        log = parsed(parse_llama_bench, text, source)
        if log.tool == "llama-batched-bench":
            return [self._batched(log, text)]
        groups: dict[tuple, list[LlamaBenchTest]] = {}
        for t in log.tests:
            groups.setdefault(configuration(t), []).append(t)
        return [self._run(log, tests, text) for tests in groups.values()]

    def _run(self, log: LlamaBenchLog, tests: list[LlamaBenchTest], text: str) -> IngestedRun:
        rec = Recorder(runtime=RuntimeInfo(name="llama_bench", library="llama.cpp"))
        rec.add_raw("llama_bench", text.splitlines())
        part = log.model_copy(update={"tests": tests})
        record_bench_log(rec, part)
        first = tests[0]
        reps = len(first.samples_s)
        if not reps:
            rec.notes.append(f"the {log.format} output gives no repetition count: llama-bench's default "
                             f"{DEFAULT_REPS} assumed for the stopping rule")
        options = {"n_prompt": sorted({t.n_prompt for t in tests}), "n_gen": sorted({t.n_gen for t in tests}),
                   "n_depth": sorted({t.n_depth for t in tests})}
        options.update({k: getattr(first, k) for k in ("n_gpu_layers", "n_batch", "n_ubatch")
                        if getattr(first, k) is not None})
        if first.flash_attn is not None and first.flash_attn.lower() in _FLASH_ATTN:
            options["flash_attn"] = _FLASH_ATTN[first.flash_attn.lower()]
        return IngestedRun(
            recorder=rec, runtime="llama_bench", stop=StopRule(mode="fixed", count=reps or DEFAULT_REPS, warmup_min=1),
            threads=first.n_threads if first.n_threads and first.n_threads > 0 else None,
            model_name=first.model_filename or first.model_type, model_format="gguf",
            model_size_bytes=int(first.model_size_bytes) if first.model_size_bytes else None, options=options,
            json_extra={"llama_bench_format": log.format, "tests": [t.test for t in tests]},
        )

    def _batched(self, log: LlamaBenchLog, text: str) -> IngestedRun:
        rec = Recorder(runtime=RuntimeInfo(name="llama-batched-bench", library="llama.cpp"))
        rec.add_raw("llama_batched_bench", text.splitlines())
        rows = PhaseRows(rec)
        for r in log.batched:
            rows.add_batched(r)
        params = log.params
        rec.set_result(rows.result("llama-batched-bench", threads=params.get("n_threads"),
                                   n_gpu_layers=params.get("n_gpu_layers"), n_batch=params.get("n_batch"),
                                   n_ubatch=params.get("n_ubatch"), details={"params": params}))
        threads = params.get("n_threads")
        return IngestedRun(
            recorder=rec, runtime="llama-batched-bench", stop=StopRule(mode="fixed", count=1, warmup_min=1),
            threads=threads if isinstance(threads, int) and threads > 0 else None, model_format="gguf",
            options={k: v for k, v in params.items() if k in ("n_kv_max", "n_batch", "n_ubatch", "flash_attn",
                                                              "n_gpu_layers", "is_pp_shared")},
            json_extra={"llama_bench_format": "llama-batched-bench table"},
        )
