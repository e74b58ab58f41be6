"""Saved TFLite ``benchmark_model`` logs (the ``benchmark_model`` ingest format).

Parsed with `harness.runners.benchmark_model_log.parse_log` and put into the recorder as
the runner does it (`harness.runners.benchmark_model.record_log`): cold phases, a
``tool_aggregates`` result (no per-iteration samples are made up), memory, delegation, op
profiles. ``harness ingest --json`` adds the log's own ``init_s``, ``first_s``,
``warmup_mean_s``, ``memory_mb`` (MiB, bytes / 2**20: what benchmark_model prints as "MB";
the record keeps bytes) and per-op ``ops``.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import RuntimeFailure
from harness.ingest.base import IngestedRun, IngestError, IngestFormat
from harness.runners.benchmark_model import BENCHMARK_MODEL_DEFAULT_RUNS, failure_error, record_log
from harness.runners.benchmark_model_log import MIB, BenchmarkLog, BenchmarkLogError, parse_log
from harness.store.record import RuntimeInfo, StopRule
from harness.store.recorder import Recorder


class BenchmarkModelLog(IngestFormat):
    name = "benchmark_model"
    description = "a saved TFLite benchmark_model log (any of its dialects)"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        try:
            log = parse_log(text)
        except BenchmarkLogError as e:
            raise IngestError(str(e)) from None
        rec = Recorder(runtime=RuntimeInfo(name="benchmark_model", library="tflite benchmark_model"))
        rec.add_raw("benchmark_model", text.splitlines())
        record_log(rec, log)
        threads = log.params.get("Num threads") or log.params.get("#threads used for CPU inference")
        # The rule the log ran under: the runs it counted, else those it asked for, else the tool's default.
        asked = log.params.get("Min num runs", "")
        runs = (log.steady.count if log.steady and log.steady.count else None) or (
            int(asked) if asked.isdigit() and int(asked) > 0 else BENCHMARK_MODEL_DEFAULT_RUNS
        )
        failure = None
        if log.failed:
            failure = f"benchmark_model failed: {log.failure}"
        return [IngestedRun(
            recorder=rec,
            runtime="benchmark_model",
            stop=StopRule(mode="fixed", count=runs),
            threads=int(threads) if threads and threads.lstrip("-").isdigit() and int(threads) > 0 else None,
            delegate=log.delegate,
            model_name=log.graph,
            model_format="tflite",
            model_size_bytes=round(log.model_size_bytes or 0),  # MB × 1e6: round, never truncate
            failure=failure,
            failure_class=type(failure_error(log, "")) if log.failed else RuntimeFailure,
            json_extra=_json_extra(log),
        )]


def _json_extra(log: BenchmarkLog) -> dict:
    out: dict = {}
    for key in ("init_s", "first_s", "warmup_mean_s"):
        if getattr(log, key) is not None:
            out[key] = getattr(log, key)
    mb = {k.removesuffix("_bytes"): v / MIB for k, v in log.memory.items()}
    if mb:
        out["memory_mb"] = mb
    if log.ops:
        out["ops"] = [
            {"index": op.index, "type": op.node_type, "name": op.name, "time_s": op.avg_s,
             "times_called": op.times_called}
            for op in log.ops
        ]
    return out
