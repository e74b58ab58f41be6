"""The benchmark_model runner end to end on the emulated phone: push, taskset, run, parse, record.

The phone's benchmark_model is the stand-in (tests/adb_emulator/benchmark_model.py):
it really runs the model with LiteRT and prints the real tool's log format.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harness import session
from harness.errors import HarnessError
from harness.runners.benchmark_model import BenchmarkModelRunner, benchmark_binary, benchmark_flags
from harness.store.results import ToolAggregates
from harness.store.record import RunConfig, StopRule
from harness.store.store import RunStore
from tests.adb_emulator.tiny_models import mlp_model

pytestmark = pytest.mark.timeout(120)

HOSTILE = "a b;touch pwned$(id).tflite"


def _run(phone, model: Path, store: RunStore, progress=None, cancel=None, **opts):
    opts.setdefault("runtime", "benchmark_model")
    opts.setdefault("threads", 1)
    opts.setdefault("stop", StopRule(mode="fixed", count=30, warmup_min=2))
    opts.setdefault("telemetry", False)
    opts.setdefault("thermal_gate", False)
    (job,) = session.plan_runs([str(phone.profile_path)], [str(model)], session.RunOptions(**opts))
    return session.run_planned(job, store, cancel=cancel, progress=progress)


def _no_leftovers(emulator, within_s: float = 3.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while (left := emulator.leftover_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_hostile_model_name_runs_under_taskset_and_records_aggregates_and_ops(adb_phone, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = mlp_model(tmp_path / HOSTILE, [256, 512, 256, 10])  # big enough for op times over 1 µs
    store = RunStore(tmp_path / "results")
    m = _run(adb_phone, model, store, cluster="big", options={"op_profile": 1})
    assert m.status == "ok", m.error
    assert (m.device.transport, m.runtime.name, m.model.name) == ("adb", "benchmark_model", "a b;touch pwned$(id)")

    # it ran, pinned: the command line the phone received has taskset with the big cluster's mask
    mask = adb_phone.profile.hardware.cluster("big").affinity_mask
    assert any(e.startswith("OPEN shell:") and f" taskset {mask} " in e for e in adb_phone.emulator.events)
    exe = adb_phone.device_path("/data/local/tmp/harness/benchmark_model")
    assert exe.is_file() and exe.stat().st_mode & 0o111

    # cold phases and aggregates come from the log; no per-iteration sample is made up
    assert 0 < m.phases.init_s < 30 and 0 < m.phases.first_s < 5
    agg = m.result(ToolAggregates)
    assert agg.source == "benchmark_model" and agg.stands_for_samples
    assert agg.steady.count == 30
    assert 0 < agg.steady.min_s <= agg.steady.median_s <= agg.steady.max_s
    assert m.summary.latency is None
    run = store.load(m.run_id)
    assert run.samples.num_rows == 0
    assert m.summary.memory["footprint_delta_overall_bytes"] > 0
    assert {d["kind"] for d in agg.details["delegation"]} >= {"replaced"}

    ops = run.ops.to_pylist()
    assert [o["type"] for o in ops] == ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]
    assert [o["index"] for o in ops] == [0, 1, 2, 3]
    assert all(o["count"] == 30 for o in ops)
    assert all(o["time_s"] > 0 for o in ops[:2])  # the table prints ms to 3 decimals
    raw = run.raw("benchmark_model")
    assert "Inference timings in us: Init:" in raw and "Operator-wise Profiling Info" in raw

    # the hostile name was only ever an argument
    for where in (adb_phone.sandbox, tmp_path, Path.cwd()):
        assert [p for p in where.rglob("pwned*") if p.name != HOSTILE] == []
    assert adb_phone.device_path(f"/data/local/tmp/harness/models/{m.model.sha256[:16]}/{HOSTILE}").is_file()


def test_second_run_pushes_nothing(adb_phone, tiny_model, tmp_path):
    store = RunStore(tmp_path / "results")
    first = _run(adb_phone, tiny_model, store)
    second = _run(adb_phone, tiny_model, store)
    assert first.status == second.status == "ok"
    assert first.runtime.details["pushed"] == {"benchmark_model": True, "model": True}
    assert second.runtime.details["pushed"] == {"benchmark_model": False, "model": False}


def test_prepare_failure_is_a_failed_run_with_its_log(adb_phone, tmp_path):
    model = mlp_model(tmp_path / "broken.tflite", [64, 128, 10], broken=True)
    store = RunStore(tmp_path / "results")
    m = _run(adb_phone, model, store)
    assert m.status == "failed"
    assert "failed to prepare" in m.error.message and "exit status 1" in m.error.message
    assert m.error.raw_output
    raw = store.load(m.run_id).raw("benchmark_model")
    assert "ERROR: Failed to allocate tensors!" in raw and "ERROR: Benchmarking failed." in raw


def test_gpu_request_on_a_phone_without_one_is_recorded(adb_phone, tiny_model, tmp_path):
    m = _run(adb_phone, tiny_model, RunStore(tmp_path / "results"), delegate="gpu")
    assert m.status == "ok"
    assert "delegate not applied: GPU acceleration is unsupported on this platform." in m.summary.warnings
    assert any(d["kind"] == "unsupported" and d["delegate"] == "GPU" for d in m.result(ToolAggregates).details["delegation"])


def test_dropped_connection_mid_run_fails_promptly_keeps_output_and_the_next_run_works(adb_phone, tiny_model, tmp_path):
    emu = adb_phone.emulator
    store = RunStore(tmp_path / "results")
    warm = threading.Event()

    def progress(what, fields):
        if what == "benchmark_model":
            warm.set()  # the warmup statistics are out: the steady runs are going

    result = {}
    long_run = StopRule(mode="fixed", count=10, time_s=60.0, warmup_min=2)
    worker = threading.Thread(
        target=lambda: result.update(m=_run(adb_phone, tiny_model, store, progress=progress, stop=long_run))
    )
    worker.start()
    assert warm.wait(30)
    emu.drop_connections()
    t_drop = time.monotonic()
    worker.join(30)
    assert not worker.is_alive()
    assert time.monotonic() - t_drop < 10  # close() may reconnect once to kill what it left behind
    m = result["m"]
    assert m.status == "failed" and m.error.stage == "run"
    assert "connection lost" in m.error.message
    raw = store.load(m.run_id).raw("benchmark_model")
    assert "INFO: STARTING!" in raw and "count=" in raw  # what it printed before the drop is kept
    assert m.result(ToolAggregates).warmup.count >= 2  # and parsed
    assert m.error.kind == "link_lost" and m.error.transient is True
    assert _no_leftovers(emu) == []

    again = _run(adb_phone, tiny_model, store)
    assert again.status == "ok"


def test_hung_run_is_killed_at_its_deadline_and_leaves_nothing(adb_phone, tiny_model, tmp_path):
    store = RunStore(tmp_path / "results")
    t0 = time.monotonic()
    m = _run(adb_phone, tiny_model, store, stop=StopRule(mode="fixed", count=10, time_s=60.0, warmup_min=1),
             options={"timeout_s": 3})
    assert time.monotonic() - t0 < 20
    assert m.status == "failed" and "deadline" in m.error.message
    assert m.error.kind == "timeout" and m.error.transient is True
    assert _no_leftovers(adb_phone.emulator) == []


def test_same_record_schema_as_the_local_host(adb_phone, tiny_model, tmp_path):
    local = yaml.safe_load(adb_phone.profile_path.read_text())
    local.update(id="local-bm", name="Local host (benchmark_model)")
    local["transport"] = {"kind": "local", "workdir": str(tmp_path / "local-work")}
    local_path = tmp_path / "local-bm.yaml"
    local_path.write_text(yaml.safe_dump(local))
    store = RunStore(tmp_path / "results")
    on_adb = _run(adb_phone, tiny_model, store)
    (job,) = session.plan_runs([str(local_path)], [str(tiny_model)], session.RunOptions(
        runtime="benchmark_model", threads=1, stop=StopRule(mode="fixed", count=30, warmup_min=2),
        telemetry=False, thermal_gate=False))
    on_local = session.run_planned(job, store)
    assert on_adb.status == on_local.status == "ok"

    def shape(obj):
        if isinstance(obj, dict):
            return {k: shape(v) for k, v in obj.items() if k not in ("profile", "details", "params")}
        return type(obj).__name__

    a, b = on_adb.model_dump(mode="json"), on_local.model_dump(mode="json")
    assert shape(a) == shape(b)
    for name in ("samples", "telemetry", "ops"):
        assert store.load(on_adb.run_id).table(name).schema == store.load(on_local.run_id).table(name).schema


def test_flags_follow_the_configuration():
    runner = BenchmarkModelRunner()

    def flags(options=None, **cfg):
        cfg.setdefault("stop", runner.default_stop())
        return benchmark_flags(RunConfig(runtime="benchmark_model", **cfg), runner.parse_options(options or {}), "/m")

    default = flags(threads=4)
    assert default[:2] == ["--graph=/m", "--num_threads=4"]
    # the tool's own defaults: 50 runs and 1 s at least
    assert {"--num_runs=50", "--min_secs=1", "--max_secs=60", "--warmup_runs=3"} <= set(default)
    assert {"--num_runs=200", "--min_secs=0"} <= set(flags(stop=StopRule(mode="fixed", count=200)))
    assert "--use_gpu=true" in flags(delegate="gpu")
    assert "--use_nnapi=true" in flags(delegate="nnapi")
    assert "--use_xnnpack=false" in flags(delegate="cpu")
    both = flags({"use_gpu": False, "enable_op_profiling": True}, delegate="gpu")
    assert "--use_gpu=false" in both and "--use_gpu=true" not in both and "--enable_op_profiling=true" in both
    with pytest.raises(HarnessError, match="not a --flag=value"):
        flags({"benchmark_args": ["; rm -rf /"]})
    with pytest.raises(HarnessError, match=r"-o use_gpu: Input should be a valid boolean"):
        runner.parse_options({"use_gpu": "maybe"})
    profile = SimpleNamespace(id="p", benchmark_binary=None)
    with pytest.raises(HarnessError, match="no benchmark_model binary"):
        benchmark_binary(profile, runner.parse_options({}))
    with pytest.raises(HarnessError, match="/nowhere/benchmark_model: benchmark_model binary not found"):
        benchmark_binary(profile, runner.parse_options({"benchmark_binary": "/nowhere/benchmark_model"}))