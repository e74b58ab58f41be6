"""Typed runner results: kinds defined anywhere, read back as their type, and what the
summary takes from them (through hooks, never through dicts)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pyarrow as pa

from harness.analysis.summary import derive_summary
from harness.store.record import TABLE_SCHEMAS, DeviceRef, ModelRef, RunConfig, RunManifest, RuntimeInfo, Summary
from harness.store.results import AggregateStats, PhasedResult, RunnerResult, WorkloadPhase


class DecodeTrace(RunnerResult):
    """A result kind defined in a test module: registered by being defined."""

    kind: Literal["decode_trace"] = "decode_trace"
    tokens: list[int]


def _manifest(results: list[RunnerResult]) -> RunManifest:
    return RunManifest(
        run_id="r", status="ok", started_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        device=DeviceRef(id="d", name="d", transport="local"), profile={},
        model=ModelRef(name="m", path="/nowhere/m.gguf", sha256="", format="gguf", size_bytes=1),
        runtime=RuntimeInfo(name="llm"), config=RunConfig(runtime="llm"), harness_version="0", host={},
        results=results,
    )


def _empty() -> dict[str, pa.Table]:
    return {name: schema.empty_table() for name, schema in TABLE_SCHEMAS.items()}


def test_a_multi_phase_result_keeps_each_phase_unit_and_round_trips():
    llm = PhasedResult(source="llama-bench", phases=[
        WorkloadPhase(name="prefill", unit="token", units=512, repetitions=5, rate_per_s=1800.0, rate_std_per_s=12.0,
                      time_s=AggregateStats(count=5, mean_s=512 / 1800.0)),
        WorkloadPhase(name="decode", unit="token", units=128, repetitions=5, rate_per_s=42.0),
    ])
    m = _manifest([llm, DecodeTrace(tokens=[1, 2, 3])])
    again = RunManifest.model_validate_json(m.model_dump_json())
    phased = again.result(PhasedResult)
    assert phased.phase("prefill").unit == "token" and phased.phase("decode").rate_per_s == 42.0
    assert again.result(DecodeTrace).tokens == [1, 2, 3]
    # statistics instead of samples: no "no steady-state samples" warning, and no latency made up
    t = _empty()
    s = derive_summary(again, Summary(), t["samples"], t["telemetry"], t["ops"])
    assert s.latency is None and "no steady-state samples" not in s.warnings and s.roofline is None


def test_a_run_with_neither_samples_nor_statistics_says_so():
    t = _empty()
    s = derive_summary(_manifest([DecodeTrace(tokens=[])]), Summary(), t["samples"], t["telemetry"], t["ops"])
    assert "no steady-state samples" in s.warnings
