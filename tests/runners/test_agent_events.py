"""The agent's JSON-lines stream cannot kill a run (issue 11): every event is checked; a bad
one is a warning, its text kept under raw/, and the run goes on."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runners.agent_events import WARN_FIRST, AgentEvents
from harness.store.record import RuntimeInfo
from harness.store.recorder import Recorder

KINDS = ["hello", "runtime", "phase", "memory", "samples", "mark", "warning", "ops", "stop", "error", "done"]
GOOD = [
    {"event": "hello", "agent": "1", "pid": 7, "python": "3.11", "clock": "CLOCK_MONOTONIC", "t_ns": 5,
     "affinity": [0, 1], "cpu_count": 2},
    {"event": "runtime", "name": "tflite", "library": "ai_edge_litert", "version": "2.3.0", "threads": 1},
    {"event": "phase", "name": "load", "start_ns": 10, "dur_ns": 1000},
    {"event": "memory", "when": "after_init", "peak_rss_bytes": 12345},
    {"event": "samples", "phase": "warmup", "start_ns": [1, 2], "latency_ns": [3, 4]},
    {"event": "mark", "name": "steady_start", "t_ns": 99},
    {"event": "samples", "phase": "steady", "start_ns": [5, 6, 7], "latency_ns": [8, 9, 10]},
    {"event": "samples", "phase": "steady", "start_ns": [11], "latency_ns": [12], "process": 1},  # a worker's
    {"event": "ops", "ops": [{"type": "CONV_2D", "name": "conv", "time_s": 0.001, "count": 3}]},
    {"event": "warning", "message": "warmup did not settle"},
    {"event": "stop", "reason": "fixed_count", "n": 3},
    {"event": "done", "status": "ok"},
]


def _sink() -> tuple[AgentEvents, Recorder]:
    rec = Recorder(runtime=RuntimeInfo(name="tflite"))
    ctx = SimpleNamespace(recorder=rec, progress=lambda *_: None)
    return AgentEvents(ctx), rec


def _every_table_builds(rec: Recorder) -> None:
    for name in ("samples", "telemetry", "ops"):
        rec.table(name)


def test_a_good_stream_is_recorded():
    sink, rec = _sink()
    for ev in GOOD:
        sink.feed(json.dumps(ev))
    assert rec.rows("samples") == 6 and rec.rows("ops") == 1
    assert rec.table("samples")["process"].to_pylist() == [0, 0, 0, 0, 0, 1]
    assert rec.phases.load_s == 1e-6 and rec.stop_reason == "fixed_count" and sink.status == "ok"
    assert rec.warnings == ["warmup did not settle"] and "agent_bad_events" not in rec.raw


def test_a_bad_event_is_a_warning_kept_in_raw_and_the_run_goes_on():
    sink, rec = _sink()
    bad = [
        '{"event": "phase", "start_ns": 1, "dur_ns": 2}',  # the "KeyError: 'name'" of the issue
        '{"event": "samples", "phase": "steady", "start_ns": [1], "latency_ns": "fast"}',
        '{"event": "samples", "phase": "steady", "start_ns": [1, 2], "latency_ns": [1]}',
        '{"event": "samples", "phase": "steady", "start_ns": [1], "latency_ns": [99999999999999999999999]}',
        '{"event": "phase", "name": "__class__", "start_ns": 1, "dur_ns": 2}',
        '{"event": "ops", "ops": [{"type": 1}]}',
        '{"event": "done"}',
        "[" * 100_000 + "]" * 100_000,
    ]
    for line in GOOD[:4] + [{"raw": b} for b in bad] + GOOD[4:]:
        sink.feed(line["raw"] if "raw" in line else json.dumps(line))
    assert rec.rows("samples") == 6 and sink.status == "ok"  # everything good still recorded
    kept = rec.raw["agent_bad_events"]
    assert kept[:7] == bad[:7]
    assert sum("malformed agent event" in w for w in rec.warnings) >= 1
    assert any("raw/agent_bad_events.txt" in w for w in rec.warnings)
    _every_table_builds(rec)


def test_a_flood_of_bad_events_gives_a_bounded_number_of_warnings():
    sink, rec = _sink()
    for i in range(1000):
        sink.feed(json.dumps({"event": "mark", "t_ns": i}))
    sink.finish()
    assert len(rec.raw["agent_bad_events"]) == 1000
    assert len(rec.warnings) == WARN_FIRST + 2 and "1000 malformed agent events" in rec.warnings[-1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(["name", "t_ns", "start_ns", "dur_ns", "latency_ns", "phase", "when", "peak_rss_bytes",
                          "message", "ops", "reason", "status", "stage", "type", "library", "version", "threads", "n"])
events = st.builds(
    lambda kind, body: {"event": kind, **body},
    st.sampled_from(KINDS) | st.text(max_size=6),
    st.dictionaries(fields, json_values, max_size=6),
)
lines = events.map(json.dumps) | json_values.map(json.dumps) | st.text(max_size=40)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, max_size=6))
def test_fuzzed_agent_stream_never_raises(stream):
    sink, rec = _sink()
    for line in stream:
        sink.feed(line)
    _every_table_builds(rec)
    rec.phases.model_dump()
