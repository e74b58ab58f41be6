"""The agent's worker processes, end to end on the local host: `harness run --processes`,
the record's process column and interval, the sampler following each worker, an abort."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import zoo
from harness.store.store import RunStore
from tests.processes import agent_pids

pytestmark = pytest.mark.timeout(240)

TFLITE = str(zoo.model_file("kws01-int8-tflite"))


def harness_run(tmp_path: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "-d", "local", "-m", TFLITE, "--threads", "1",
                           "--no-thermal-gate", "--baseline", "0.2", "--json", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)[0]


def test_three_processes_in_one_record(tmp_path):
    brief = harness_run(tmp_path, "--processes", "3", "--min-time", "0.3", "--max-time", "1.5")
    run = RunStore(tmp_path / "results").load(brief["run_id"])
    m, lat = run.manifest, run.manifest.summary.latency
    assert m.status == "ok" and m.summary.stop_reason in ("ci_target_met", "processes_done")
    steady = run.samples.filter(run.samples["phase"].to_numpy(zero_copy_only=False) == "steady")
    assert sorted(set(steady["process"].to_pylist())) == [0, 1, 2]
    assert lat.processes == 3 and lat.n == steady.num_rows
    assert lat.ci_method.startswith("rerun interval over 3 process medians")
    assert lat.ci95_s[0] <= lat.median_s <= lat.ci95_s[1]
    assert lat.ci95_within_run_s[0] <= lat.median_s <= lat.ci95_within_run_s[1]
    assert brief["latency"]["processes"] == 3 and "ci95_within_run_s" in brief["latency"]
    tl = m.timeline
    assert tl["steady_start_ns"] < tl["steady_end_ns"] < tl["steady_start_p1_ns"] < tl["steady_end_p2_ns"]
    # the cold phases are the first process's; every worker's samples lie inside its own window
    assert m.phases.init_s > 0
    starts = steady["start_ns"].to_numpy()
    procs = steady["process"].to_numpy()
    assert starts[procs == 0].max() <= tl["steady_end_ns"] and starts[procs == 2].min() >= tl["steady_start_p2_ns"]
    # the sampler followed each worker through the pid file each one writes
    tele = run.telemetry
    cpu_t = [t for t, c in zip(tele["t_ns"].to_pylist(), tele["channel"].to_pylist()) if c == "cpu_time/agent"]
    assert any(t < tl["steady_end_ns"] for t in cpu_t) and any(t > tl["steady_start_p2_ns"] for t in cpu_t)
    assert m.conditions["telemetry"]["mode"] in ("native", "python", "shell")


def test_adaptive_default_uses_several_processes(tmp_path):
    brief = harness_run(tmp_path, "--min-time", "0.3", "--max-time", "2")
    assert brief["latency"]["processes"] >= 3
    assert brief["stop_reason"] in ("ci_target_met", "max_time", "max_processes")
    events = RunStore(tmp_path / "results").load(brief["run_id"]).raw("agent_stdout")
    summary = [json.loads(line) for line in events.splitlines() if '"event":"processes"' in line]
    assert summary and summary[0]["count"] == brief["latency"]["processes"]


def test_sigterm_during_a_later_worker_keeps_what_was_measured(tmp_path):
    model = tmp_path / "abort-me.tflite"
    model.write_bytes(Path(TFLITE).read_bytes())
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "-d", "local", "-m", str(model), "--processes", "4", "--min-time",
         "8", "--max-time", "40", "--ci-target", "0.000001", "--no-thermal-gate", "--no-telemetry", "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen: set[int] = set()
    while len(seen) < 3:  # the supervisor, the first worker, the second worker
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the second worker never started"
        seen.update(agent_pids(b"abort-me"))
        time.sleep(0.1)
    time.sleep(1.0)  # into the second worker's measurement
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    brief = json.loads(out)[0]
    assert brief["status"] == "aborted" and brief["stop_reason"] == "aborted"
    run = RunStore(tmp_path / "results").load(brief["run_id"])
    assert {0, 1} <= set(run.samples["process"].to_pylist())
    time.sleep(1)
    assert agent_pids(b"abort-me") == [], "a worker outlived the abort"
