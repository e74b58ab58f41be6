"""Saved llama.cpp timing blocks (``--format llama-timings``): ``llama_perf_context_print``,
``llama_print_timings``, March 2023's ``main: … time`` lines and llama-server's
``print_timing``, every era (`harness.logs.llama_timings`).

One record per block (one generation): its prompt eval as the prefill (one row: prompt tokens
over the prompt eval time), its eval as the decode after the first token (one row: n_eval
tokens), March 2023's prompt-and-generation ``predict`` line as one ``prefill+decode`` row;
the load time as the cold ``load_s``. The rates are recomputed from times and counts (the
printed ones are rounded). These logs time no first token: no TTFT is made up.
"""

from __future__ import annotations

from pathlib import Path

from harness.ingest.base import IngestedRun, IngestFormat
from harness.ingest.llama_bench import parsed, single_run
from harness.logs.llama_timings import LlamaTimings, parse_llama_timings

_SOURCE = {"llama_perf": "llama_perf_context_print", "llama_print_timings": "llama_print_timings",
           "main": "main (2023)", "server": "llama-server print_timing"}


class LlamaTimingsIngest(IngestFormat):
    name = "llama-timings"
    description = "llama.cpp's end-of-run timings (llama_perf_context_print, llama_print_timings, main, llama-server)"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        log = parsed(parse_llama_timings, text, source)
        lines = text.splitlines()
        return [self._run(b, lines) for b in log.blocks]

    @staticmethod
    def _run(b: LlamaTimings, lines: list[str]) -> IngestedRun:
        details = {k: v for k, v in (("block_line", b.line), ("total_s", b.total_s), ("total_tokens", b.total_tokens),
                                     ("mem_per_token_bytes", b.mem_per_token_bytes),
                                     ("graphs_reused", b.graphs_reused), ("slot_id", b.slot_id),
                                     ("task_id", b.task_id)) if v is not None}
        if b.sample is not None:
            details["sample"] = b.sample.model_dump()
        if b.memory_breakdown:
            details["memory_breakdown_bytes"] = [m.model_dump() for m in b.memory_breakdown]
        return single_run("llama-server" if b.family == "server" else "llama.cpp", "llama.cpp", lines, "llama_timings",
                          lambda rows: rows.add_timings(b), source=_SOURCE[b.family], details=details,
                          load_s=b.load_s, model_format="gguf", json_extra={"timings_block_line": b.line})
