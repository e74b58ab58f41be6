"""The stand-in trtexec (tests/logs/trtexec_standin.py) prints what the parser reads, and what it
prints is what it measured (its exports agree with its log)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from harness import zoo
from harness.logs import trtexec, trtexec_json

STAND_IN = Path(__file__).resolve().parent / "trtexec_standin.py"
pytestmark = pytest.mark.timeout(180)


def run(*args: str, cwd: Path, version: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if version:
        env["TRTEXEC_STANDIN_VERSION"] = version
    return subprocess.run([sys.executable, str(STAND_IN), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=150)


@pytest.fixture(scope="module")
def onnx_model() -> Path:
    return zoo.model_file("mobilenet_v2_0.35_96-fp32-onnx")


def test_build_save_then_load_with_exports(tmp_path, onnx_model):
    built = run(f"--onnx={onnx_model}", "--saveEngine=model.engine", "--fp16", "--iterations=20", "--duration=0.2",
                "--warmUp=20", "--exportTimes=times.json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    log = trtexec.parse(built.stdout)
    assert (log.status, log.tensorrt_version, log.precision) == ("passed", "8.6.1", "fp16")
    assert log.engine_build_s > 0 and (tmp_path / "model.engine").stat().st_size > onnx_model.stat().st_size
    assert log.queries >= 20 and log.throughput_qps == pytest.approx(log.queries / log.trace_s, rel=1e-3)
    times = trtexec_json.parse_times_file(tmp_path / "times.json", log.warmup_queries, log.queries)
    assert len(times) == log.queries and times.warmup_count == 0 and times.warnings == []
    # the summary is the statistics of the exported per-query times
    assert log.gpu_compute.median_s == pytest.approx(statistics.median(times.gpu_compute_s), rel=1e-3)
    assert log.gpu_compute.min_s == pytest.approx(min(times.gpu_compute_s), rel=1e-3)
    assert log.latency.max_s == pytest.approx(max(times.latency_s), rel=1e-3)
    assert all(lat >= gpu for lat, gpu in zip(times.latency_s, times.gpu_compute_s))
    assert log.total_gpu_compute_s == pytest.approx(sum(times.gpu_compute_s), rel=1e-3)

    loaded = run("--loadEngine=model.engine", "--iterations=10", "--duration=0", "--warmUp=0", "--dumpProfile",
                 "--exportProfile=profile.json", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    log2 = trtexec.parse(loaded.stdout)
    assert log2.engine_deserialize_s is not None and log2.engine_build_s is None
    assert log2.latency is None  # --dumpProfile without --separateProfileRun: no summary, as TensorRT 8.5
    assert log2.layers and log2.profile_iterations == log2.queries
    profile = trtexec_json.parse_profile_file(tmp_path / "profile.json")
    assert profile.iterations == log2.profile_iterations
    assert [layer.name for layer in profile.layers] == [layer.name for layer in log2.layers]
    assert sum(layer.percent for layer in profile.layers) == pytest.approx(100, abs=0.05)
    assert log2.unrecognised.count == 0 and log.unrecognised.count == 0


def test_no_data_transfers_and_tensorrt7_layout(tmp_path, onnx_model):
    p = run(f"--onnx={onnx_model}", "--noDataTransfers", "--iterations=10", "--duration=0", "--warmUp=0",
            cwd=tmp_path)
    log = trtexec.parse(p.stdout)
    assert log.not_measured == ["h2d", "d2h"] and log.h2d is None
    seven = run(f"--onnx={onnx_model}", "--iterations=10", "--duration=0", "--warmUp=0", cwd=tmp_path,
                version="7.1.3")
    log7 = trtexec.parse(seven.stdout)
    # TensorRT 7's banner and device block name no version (8.0 added them)
    assert log7.tensorrt_version is None and "[TensorRT v" not in seven.stdout
    assert log7.throughput_source == "walltime"
    assert log7.throughput_qps == pytest.approx(log7.queries / log7.total_host_walltime_s)
    assert log7.gpu_compute.median_s > 0 and log7.end_to_end.median_s >= log7.latency.min_s


def test_bad_flags_and_bad_engines_fail_as_trtexec_does(tmp_path, onnx_model):
    p = run("--no-such-flag", cwd=tmp_path)
    assert p.returncode == 1 and trtexec.parse(p.stdout).status == "failed"
    (tmp_path / "bad.engine").write_bytes(b"not an engine")
    p = run("--loadEngine=bad.engine", cwd=tmp_path)
    log = trtexec.parse(p.stdout)
    assert p.returncode == 1 and log.status == "failed" and "Serialization" in log.tool_errors.first[0]
