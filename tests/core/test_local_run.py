"""End to end on the local target: real models, real agent, records read back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from harness import zoo
from harness.store.store import RunStore, load_samples
from tests.conftest import assert_one_line_error
from tests.processes import agent_pids

TFLITE = "mobilenet_v2_0.35_96"
ONNX = "mobilenet_v2_0.35_96-fp32-onnx"
QUICK = ("--min-time", "0.3", "--max-time", "3", "--no-thermal-gate", "--baseline", "0.2")


def _runs(proc) -> list[dict]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_tflite_and_onnx_runs_give_consistent_records(cli, tmp_path):
    proc = cli("run", "-d", "local", "-m", TFLITE, "-m", ONNX, "--threads", "1", *QUICK, "--json")
    assert proc.returncode == 0, proc.stderr
    runs = _runs(proc)
    assert [r["runtime"] for r in runs] == ["tflite", "onnx"]
    store = RunStore(tmp_path / "results")
    con = store.connect()
    columns = None
    for r in runs:
        assert r["status"] == "ok" and r["error"] is None
        assert r["stop_reason"] in ("ci_target_met", "max_time")
        assert all(r["cold"][k] > 0 for k in ("load_s", "init_s", "first_s"))
        lat = r["latency"]
        assert lat["ci95_s"][0] <= lat["median_s"] <= lat["ci95_s"][1]
        assert lat["median_s"] <= lat["p90_s"] <= lat["p99_s"] <= lat["max_s"]
        steady = con.execute(
            "SELECT count(*) FROM samples WHERE run_id = ? AND phase = 'steady'", [r["run_id"]]
        ).fetchone()[0]
        assert steady == lat["n"] > 0
        frame = load_samples(tmp_path / "results", [r["run_id"]])
        steady_ns = frame[frame.phase == "steady"]["latency_ns"].to_numpy()
        assert len(steady_ns) == lat["n"]
        assert np.median(steady_ns) / 1e9 == pytest.approx(lat["median_s"])
        run = store.load(r["run_id"])
        assert run.manifest.model.sha256 == zoo.resolve(r["model"]).sha256
        cols = pq.read_schema(run.path / "samples.parquet").names
        assert columns in (None, cols)
        columns = cols


def test_fixed_count_is_exact_and_memory_is_recorded(cli):
    runs = _runs(cli("run", "-d", "local", "-m", TFLITE, "--stop", "fixed", "--count", "25", "--baseline", "0.2", "--json"))
    r = runs[0]
    assert r["latency"]["n"] == 25 and r["stop_reason"] == "fixed_count"
    assert r["memory"]["peak_rss_after_run_bytes"] >= r["memory"]["peak_rss_after_init_bytes"] > 1e6


def _wait_for_agent_cpu(marker: bytes, cpu_s: float, timeout: float = 120) -> None:
    """Until an agent process of the run whose arguments hold `marker` has used `cpu_s` of CPU
    (a fixed sleep can still find it importing its runtime on a loaded host)."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in agent_pids(marker):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if (int(fields[11]) + int(fields[12])) / tick >= cpu_s:
                return
        time.sleep(0.1)
    raise AssertionError(f"no agent of {marker!r} used {cpu_s} s of CPU within {timeout} s")


def test_sigterm_mid_run_leaves_an_aborted_record_with_its_samples(tmp_path):
    model = tmp_path / "sigterm-me.tflite"  # a path only this run's agent processes carry
    shutil.copy(zoo.model_file(TFLITE), model)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "-d", "local", "-m", str(model), "--ci-target", "0.000001",
         "--max-time", "60", "--processes", "1", "--no-thermal-gate", "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_agent_cpu(b"sigterm-me", 3.0)  # well into the steady state, however busy the host
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    r = json.loads(out)[0]
    assert r["status"] == "aborted" and r["stop_reason"] == "aborted"
    run = RunStore(tmp_path / "results").load(r["run_id"])
    steady = [p for p in run.samples.column("phase").to_pylist() if p == "steady"]
    assert len(steady) == r["latency"]["n"] > 10


def test_user_mistakes_get_one_line_errors(cli, tmp_path):
    assert_one_line_error(cli("run", "-d", "local", "-m", str(tmp_path / "missing.tflite")), "missing.tflite", "no such model file")
    (tmp_path / "model.pt").write_bytes(b"\x80\x02torch")
    assert_one_line_error(cli("run", "-d", "local", "-m", str(tmp_path / "model.pt")), "unsupported model format '.pt'")
    (tmp_path / "notes.tflite").write_text("hello, not a model")
    assert_one_line_error(cli("run", "-d", "local", "-m", str(tmp_path / "notes.tflite")), "not a TFLite model")
    assert_one_line_error(cli("run", "-d", "pixel-99", "-m", TFLITE), "unknown device 'pixel-99'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: b\nname: B\ntransport: {kind: local}\nruntimes: [tensorrt]\n")
    assert_one_line_error(cli("run", "-d", str(bad), "-m", TFLITE), "bad.yaml: runtimes", "tensorrt")
    assert_one_line_error(cli("run", "-d", "local", "-m", "no_such_zoo_model"), "unknown model 'no_such_zoo_model'")
    # a runner refuses what cannot run before any device is contacted (pixel8's address is unreachable here)
    assert_one_line_error(cli("run", "-d", "pixel8", "-m", "kws01"), "no benchmark_model binary", "--benchmark-binary")
    assert_one_line_error(cli("run", "-d", "local", "-m", TFLITE, "--stop", "fixed"),
                          "invalid stopping rule: a fixed stopping rule needs a count and/or a time")
    assert not (tmp_path / "results").exists()  # nothing ran, nothing half-written


def test_hostile_model_path_runs_and_executes_nothing(cli, tmp_path):
    weird = tmp_path / "dir with space;$(touch pwned_dir)"
    weird.mkdir()
    model = weird / "a b;touch pwned$(id).tflite"
    shutil.copy(zoo.model_file(TFLITE), model)
    runs = _runs(cli("run", "-d", "local", "-m", str(model), "--stop", "fixed", "--count", "20", "--baseline", "0.2", "--json"))
    assert runs[0]["status"] == "ok" and runs[0]["model"] == "a b;touch pwned$(id)"
    cache = os.path.join(os.path.expanduser("~"), ".cache", "harness")
    for root in (tmp_path, os.getcwd(), cache):
        for _dir, dirs, files in os.walk(root):
            assert not [f for f in files + dirs if f.startswith("pwned")], _dir


def test_a_truncated_model_is_refused_before_anything_runs(cli, tmp_path):
    broken = tmp_path / "truncated.tflite"
    broken.write_bytes(zoo.model_file(TFLITE).read_bytes()[:4096])  # a real header, the rest cut off
    assert_one_line_error(cli("run", "-d", "local", "-m", str(broken), "-m", TFLITE), "truncated.tflite")
    assert not (tmp_path / "results").exists()


def test_a_failed_run_is_recorded_and_the_next_one_still_runs(cli, tmp_path):
    # Inputs shaped for the second model only: the first fails on the device, at init.
    np.save(tmp_path / "in.npy", np.zeros(zoo.resolve(TFLITE).input_shape, np.float32))
    proc = cli("run", "-d", "local", "-m", "kws01", "-m", TFLITE, "--inputs", str(tmp_path / "in.npy"), *QUICK, "--json")
    assert proc.returncode == 1
    failed, ok = _runs(proc)
    assert failed["status"] == "failed" and failed["error"]["stage"] == "init"
    assert "expects [1, 49, 10, 1]" in failed["error"]["message"]
    assert ok["status"] == "ok" and ok["latency"]["n"] > 0
    run = RunStore(tmp_path / "results").load(failed["run_id"])
    assert run.manifest.error.raw_output == "raw/"
    assert {"agent_events", "agent_stderr"} <= {p.stem for p in (run.path / "raw").iterdir()}
    assert '"event":"error"' in run.raw("agent_events")


def test_inputs_from_npz_and_a_shape_mismatch(cli, tmp_path):
    shape = zoo.resolve(TFLITE).input_shape
    np.savez(tmp_path / "ok.npz", np.zeros(shape, np.float32))
    runs = _runs(cli("run", "-d", "local", "-m", TFLITE, "--inputs", str(tmp_path / "ok.npz"), "--stop", "fixed", "--count", "10", "--baseline", "0.2", "--json"))
    assert runs[0]["status"] == "ok"
    np.save(tmp_path / "bad.npy", np.zeros((1, 3), np.float32))
    proc = cli("run", "-d", "local", "-m", TFLITE, "--inputs", str(tmp_path / "bad.npy"), *QUICK, "--json")
    r = _runs(proc)[0]
    assert proc.returncode == 1 and r["status"] == "failed"
    assert "has shape [1, 3], model expects" in r["error"]["message"]


def test_names_with_brackets_print_as_given(cli, tmp_path):
    # rich would take "[bold]" for markup and drop it from the name
    model = tmp_path / "m[bold]x.tflite"
    shutil.copy(zoo.model_file(TFLITE), model)
    proc = cli("run", "-d", "local", "-m", str(model), "--stop", "fixed", "--count", "10", "--baseline", "0")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "m[bold]x" in proc.stdout
    listed = cli("results", "list")
    assert listed.returncode == 0 and "m[bold]x" in listed.stdout
