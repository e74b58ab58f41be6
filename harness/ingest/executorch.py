"""Saved ExecuTorch LLM runner output (``--format executorch``): ``PyTorchObserver`` lines
(`harness.logs.executorch`), one record per observer line.

Rows (tokens as the unit, see `harness.llm.results`): ``ttft`` (first token − inference start:
tokenisation included, 1 ms resolution), ``prefill`` (prompt tokens over prompt_eval_end −
inference start), ``decode`` (generated tokens over inference_end − prompt_eval_end, the rate
the runner prints); model load as the cold ``load_s``; the ``RSS after …`` lines' largest as
``memory.peak_rss_bytes``. The observer's stamps are the device's wall clock in ms, not its
monotonic clock, so no energy is aligned to them.
"""

from __future__ import annotations

from pathlib import Path

from harness.ingest.base import IngestedRun, IngestFormat
from harness.ingest.llama_bench import parsed, single_run
from harness.logs.executorch import ExecuTorchRun, parse_executorch


class ExecuTorchIngest(IngestFormat):
    name = "executorch"
    description = "ExecuTorch LLM runner output (PyTorchObserver lines, with its stats block)"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        log = parsed(parse_executorch, text, source)
        lines = text.splitlines()
        return [self._run(r, lines) for r in log.runs]

    @staticmethod
    def _run(run: ExecuTorchRun, lines: list[str]) -> IngestedRun:
        details = {"observer_line": run.line, "resolution_s": run.resolution_s, "observer": run.observer,
                   "rss_bytes": run.rss_bytes}
        if run.sampling_s is not None:
            details["sampling_s"] = run.sampling_s
        if run.stats is not None:
            details["stats"] = run.stats.model_dump()
        ingested = single_run("executorch", "executorch", lines, "executorch", lambda rows: rows.add_executorch(run),
                              source="executorch PyTorchObserver", details=details, load_s=run.model_load_s,
                              model_format="pte", json_extra={"observer_line": run.line})
        if run.peak_rss_bytes is not None:
            ingested.recorder.memory["peak_rss_bytes"] = float(run.peak_rss_bytes)
        return ingested
