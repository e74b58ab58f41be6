"""Saved `onnxruntime_perf_test` output: the ``onnxruntime_perf_test`` ingest format.

Parsed by `harness.logs.onnxruntime_perf_test` (every wording since 2019). The tool prints
statistics, not per-request times, so the record holds a ``tool_aggregates`` result (no
samples are made up): request count, mean, min, max and the P50…P999 percentiles (P50 as
the median), in seconds. Session creation is the ``init`` phase, the first inference the
``first`` phase, the peak working set the memory figure. CPU usage (a fraction: 98 % →
0.98; a vendor's summed ``Total CPU usage`` kept apart), throughput (printed, or derived
from requests / run time, said which) and the execution provider go to the result's details.
"""

from __future__ import annotations

from pathlib import Path

from harness.ingest.base import IngestedRun, IngestFormat, read_log, tool_recorder
from harness.logs import onnxruntime_perf_test as ort_log
from harness.store.record import StopRule
from harness.store.results import AggregateStats, ToolAggregates


def _aggregates(r: ort_log.OrtPerfResult) -> AggregateStats | None:
    if r.mean_s is None and not r.percentiles and r.min_s is None:
        return None
    return AggregateStats(count=r.requests or 0, min_s=r.min_s, max_s=r.max_s, mean_s=r.mean_s,
                          median_s=r.percentiles.get("50"),
                          percentiles={f"p{k}": v for k, v in r.percentiles.items()})


class OnnxruntimePerfTestLog(IngestFormat):
    name = "onnxruntime_perf_test"
    description = "saved onnxruntime_perf_test output (2019 to now, vendor builds too)"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        r = read_log(ort_log.parse, text, source)
        rec = tool_recorder("onnxruntime_perf_test", "onnxruntime_perf_test", text)
        if r.session_creation_s is not None:
            rec.phases.init_s = r.session_creation_s
        if r.first_inference_s is not None:
            rec.phases.first_s = r.first_inference_s
        if r.peak_working_set_bytes is not None:
            rec.memory["peak_working_set_bytes"] = float(r.peak_working_set_bytes)
        if r.execution_provider:
            rec.runtime.details["execution_provider"] = r.execution_provider
        details = {k: v for k, v in (
            ("throughput_per_s", r.throughput_per_s), ("throughput_source", r.throughput_source),
            ("total_inference_s", r.total_inference_s), ("total_run_s", r.total_run_s),
            ("mean_kind", r.mean_kind), ("cpu_usage", r.cpu_usage), ("total_cpu_usage", r.total_cpu_usage),
            ("execution_provider", r.execution_provider), ("intra_op_threads", r.intra_op_threads),
            ("inter_op_threads", r.inter_op_threads), ("preamble", r.preamble)) if v not in (None, [])}
        rec.set_result(ToolAggregates(
            source="onnxruntime_perf_test",
            note="statistics printed by onnxruntime_perf_test; it reports no per-request latencies",
            steady=_aggregates(r), inference_mean_s=r.mean_s, details=details))
        if r.requests:
            rec.stop_reason = f"onnxruntime_perf_test: {r.requests} requests"
        rec.warnings.extend(r.warnings)
        if r.unrecognised:
            rec.notes.append(f"{r.unrecognised.count} line(s) not understood, kept in raw/ "
                             f"(first: {r.unrecognised.first[0]!r})")
        return [IngestedRun(
            recorder=rec,
            runtime="onnxruntime_perf_test",
            stop=StopRule(mode="fixed", count=r.requests or 1),
            threads=r.intra_op_threads,
            model_format="onnx",
            json_extra={k: v for k, v in (("mean_s", r.mean_s), ("throughput_per_s", r.throughput_per_s),
                                          ("percentiles_s", r.percentiles)) if v},
        )]
