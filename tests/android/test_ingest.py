"""`harness ingest --format benchmark_model`: saved logs become run records."""

from __future__ import annotations

import json

import pytest

from harness.ingest.files import ingest_file
from harness.store.store import RunStore
from tests.android.conftest import FIXTURES, capture
from tests.conftest import assert_one_line_error

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024


def test_ingest_op_profiling_log_json_and_record(cli, tmp_path):
    log = FIXTURES / "imx8mp_mobilenet_CPU_op_profiling.log.txt"
    proc = cli("ingest", "--format", "benchmark_model", str(log), "--model", "mobilenet_v1_quant", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # the run fields `harness run --json` prints ...
    assert {"run_id", "status", "device", "model", "runtime", "cold", "latency", "results", "memory"} <= set(out)
    assert (out["status"], out["model"], out["runtime"], out["transport"]) == ("ok", "mobilenet_v1_quant", "benchmark_model", "unknown")
    assert out["latency"] is None  # the log has aggregates only: no per-iteration samples are made up
    (agg,) = out["results"]
    assert agg["kind"] == "tool_aggregates" and agg["steady"]["count"] == 50
    assert out["metadata"]["ingest_format"] == "benchmark_model" and out["metadata"]["ingested_from"] == str(log)
    # ... plus what the log itself says
    assert out["init_s"] == pytest.approx(0.002409)
    assert out["first_s"] == pytest.approx(0.169816)
    assert out["warmup_mean_s"] == pytest.approx(0.164822)
    assert out["memory_mb"] == pytest.approx({"peak_footprint_init": 4.10156, "peak_footprint_overall": 10.332})
    assert len(out["ops"]) == 31 and out["ops"][0]["type"] == "CONV_2D"

    run = RunStore(tmp_path / "results").load(out["run_id"])
    assert run.raw("benchmark_model") == log.read_text()
    # the JSON's memory_mb is MiB (what the tool calls MB); the record keeps bytes
    assert run.manifest.summary.memory == pytest.approx(
        {"peak_footprint_init_bytes": 4.10156 * 2**20, "peak_footprint_overall_bytes": 10.332 * 2**20})
    assert run.ops.num_rows == 31 and run.samples.num_rows == 0
    assert run.ops.to_pylist()[0]["count"] == 50


def test_ingest_with_device_profile_and_model_file(cli, tmp_path, tiny_model):
    proc = cli("ingest", "--format", "benchmark_model", str(FIXTURES / "ti_am62x_linux_xnnpack_percentiles.txt"),
               "--device", "local", "--model", str(tiny_model), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["device"] == "local" and out["transport"] == "local"
    assert out["model"] == "tiny_mlp" and len(out["model_sha256"]) == 64
    assert "ops" not in out
    assert out["memory_mb"]["footprint_delta_overall"] == pytest.approx(150.141)


def test_ingest_failed_log_is_a_failed_record_with_its_text(cli, tmp_path):
    log = FIXTURES / "android_termux_int8_failed_prepare_ERROR.txt"
    proc = cli("ingest", "--format", "benchmark_model", str(log), "--json")
    assert proc.returncode == 1, proc.stderr  # imported, recorded as failed: non-zero like `harness run`
    out = json.loads(proc.stdout)
    assert out["status"] == "failed"
    assert "Node number 57 (BATCH_MATMUL) failed to prepare." in out["error"]["message"]
    assert out["error"]["kind"] == "runtime_error" and out["error"]["transient"] is False
    assert out["model"] == "tiny_muaalem_int8"
    run = RunStore(tmp_path / "results").load(out["run_id"])
    assert run.raw("benchmark_model") == capture("android_termux_int8_failed_prepare_ERROR.txt")


def test_ingest_every_capture(tmp_path):
    results = tmp_path / "results"
    statuses = {}
    for log in sorted(FIXTURES.glob("*.txt")):
        ((manifest, parsed),) = ingest_file("benchmark_model", log, results=results)
        statuses[log.name] = manifest.status
        assert RunStore(results).load(manifest.run_id).raw("benchmark_model") == log.read_text()
    assert len(RunStore(results).manifests()) == 8
    assert [n for n, s in statuses.items() if s == "failed"] == ["android_termux_int8_failed_prepare_ERROR.txt"]


def test_ingest_refuses_what_is_not_a_benchmark_model_log(cli, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("shopping list\neggs\n")
    assert_one_line_error(cli("ingest", "--format", "benchmark_model", str(junk)), str(junk), "not benchmark_model output")
    assert_one_line_error(cli("ingest", "--format", "benchmark_model", str(tmp_path / "missing.txt")), "missing.txt")
    assert_one_line_error(cli("ingest", "--format", "tegrastats", str(junk)), "--format 'tegrastats' is not supported")
    assert not (tmp_path / "results").exists() or RunStore(tmp_path / "results").manifests() == []
