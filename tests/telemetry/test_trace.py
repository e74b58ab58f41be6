"""Trace export: valid trace-event JSON whose inference slices match the samples one to one."""

import datetime as dt
import json

from harness.report.trace import INFERENCES_TID, to_trace_events
from harness.store.record import DeviceRef, ModelRef, Phases, RunConfig, RunManifest, RuntimeInfo
from harness.store.recorder import Recorder
from harness.store.store import RunStore
from tests.conftest import assert_one_line_error

T0 = 5_000_000_000_000  # a device monotonic time (ns)


def _record(tmp_path):
    store = RunStore(tmp_path / "results")
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
    m = RunManifest(
        run_id=store.new_run_id(now, "dev", "mobilenet"), status="ok", started_at=now,
        device=DeviceRef(id="dev", name="Dev", transport="local"), profile={},
        model=ModelRef(name="mobilenet", path="/m.tflite", sha256="0" * 64, format="tflite", size_bytes=1),
        runtime=RuntimeInfo(name="tflite"), config=RunConfig(runtime="tflite"), harness_version="t",
        host={"hostname": "h"},
        phases=Phases(load_s=0.012, init_s=0.003, first_s=0.0041),
        timeline={"baseline_start_ns": T0 - 2_000_000_000, "workload_start_ns": T0, "load_start_ns": T0,
                  "init_start_ns": T0 + 12_000_000, "first_start_ns": T0 + 15_000_000,
                  "steady_start_ns": T0 + 40_000_000, "steady_end_ns": T0 + 140_000_000},
    )
    rec = Recorder(runtime=RuntimeInfo(name="tflite"))
    rec.add_sample(0, "warmup", T0 + 20_000_000, 4_000_000)
    rec.add_sample(1, "warmup", T0 + 30_000_000, 3_500_000)
    for i in range(10):
        rec.add_sample(2 + i, "steady", T0 + 40_000_000 + i * 10_000_000, 3_000_000 + i)
    rec.add_sample(12, "steady", T0 + 140_000_000, 1_000_000, inferences=5)
    for k in range(30):
        t = T0 - 1_000_000_000 + k * 50_000_000
        rec.add_telemetry(t, "thermal/cpu", 40.0 + k / 10, "C")
        rec.add_telemetry(t, "power/VDD_IN", 5.0, "W")
    store.write(m, rec)
    return store, m


def test_trace_is_valid_json_and_slices_match_samples(tmp_path):
    store, m = _record(tmp_path)
    run = store.load(m.run_id)
    trace = json.loads(json.dumps(to_trace_events(run.manifest, run.samples, run.telemetry), allow_nan=False))
    events = trace["traceEvents"]
    for e in events:
        assert e["ph"] in {"M", "X", "C"} and isinstance(e["name"], str) and e["pid"] == 1
        if e["ph"] != "M":
            assert isinstance(e["ts"], (int, float))
        if e["ph"] == "X":
            assert e["dur"] >= 0 and "tid" in e
    origin = trace["otherData"]["clock_origin_ns"]
    assert origin == T0 - 2_000_000_000  # the earliest mark

    slices = [e for e in events if e["ph"] == "X" and e.get("tid") == INFERENCES_TID]
    samples = run.samples.to_pylist()
    assert len(slices) == len(samples) == 13
    for s, e in zip(sorted(samples, key=lambda r: r["start_ns"]), slices):
        assert e["args"]["iteration"] == s["iteration"]
        assert e["ts"] * 1000 + origin == s["start_ns"]
        assert e["dur"] * 1000 == s["latency_ns"] * s["inferences"]
        assert e["cat"] == s["phase"]
    assert slices[-1]["name"] == "steady 12 (5 inferences)"

    cold = {e["name"]: e for e in events if e.get("cat") == "cold"}
    assert cold["load"]["dur"] == 12_000.0 and cold["first"]["ts"] == 2_015_000.0
    windows = {e["name"]: e for e in events if e.get("cat") == "window"}
    assert windows["steady state"]["dur"] == 100_000.0
    assert windows["baseline (before)"]["dur"] == 2_000_000.0
    counters = [e for e in events if e["ph"] == "C"]
    assert len(counters) == 60
    assert {tuple(e["args"]) for e in counters if e["name"] == "thermal/cpu"} == {("C",)}
    ts = [e["ts"] for e in events if e["ph"] != "M"]
    assert ts == sorted(ts)


def test_harness_trace_command(tmp_path, cli):
    store, m = _record(tmp_path)
    out = tmp_path / "run.json"
    p = cli("trace", m.run_id, "-o", str(out), "--results", str(store.root))
    assert p.returncode == 0, p.stderr
    trace = json.loads(out.read_text())
    assert sum(1 for e in trace["traceEvents"] if e.get("tid") == INFERENCES_TID and e["ph"] == "X") == 13
    p = cli("trace", "no-such-run", "-o", str(out), "--results", str(store.root))
    assert_one_line_error(p, "no-such-run")
