"""Issue 12's benchmark_model items as they reach a record, through the ingest format and through
the live runner's parse step (the same parser): TensorFlow's version into runtime.version, the
delegate a parameter names (`Use gpu: [1]`, `Use NNAPI: [1]`) into the config, a truncated log
imported with a warning that says what is missing and keeps what it has."""

from __future__ import annotations

import pytest

from harness.ingest.files import ingest_file
from harness.runners.benchmark_model import BenchmarkModelRunner
from harness.store.record import RuntimeInfo
from harness.store.recorder import Recorder
from harness.store.results import ToolAggregates
from harness.store.store import RunStore
from tests.logs.conftest import capture_path

# a TF 2.15 benchmark_model whose log ends after the warmup (the run was cut)
TF215_GPU_TRUNCATED = (
    "INFO: STARTING!\nINFO: Tensorflow Version : 2.15.0\nINFO: Graph: [m.tflite]\nINFO: Use gpu: [1]\n"
    "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 "
    "seconds.\nINFO: count=9 first=200 curr=100 min=90 max=200 avg=110 std=30\n")


def test_ingested_version_delegate_and_truncation(tmp_path):
    log = tmp_path / "tf215_gpu.txt"
    log.write_text(TF215_GPU_TRUNCATED)
    ((manifest, _),) = ingest_file("benchmark_model", log, results=tmp_path / "r")
    run = RunStore(tmp_path / "r").load(manifest.run_id).manifest
    assert run.status == "ok"
    assert run.runtime.version == "2.15.0" and run.runtime.delegate == "gpu" and run.config.delegate == "gpu"
    warning = next(w for w in run.summary.warnings if w.startswith("truncated log"))
    assert "no statistics of the regular benchmark runs" in warning and "the warmup statistics" in warning
    agg = run.result(ToolAggregates)
    assert agg.warmup.count == 9 and agg.warmup.mean_s == pytest.approx(110e-6) and agg.steady is None


def test_the_live_runner_parses_an_nnapi_run_with_the_same_parser():
    """The runner's parse step (strict, as after a finished run) on a real NNAPI run's output
    (logcat of the benchmark APK, partial delegation) and on TF 2.15's 'Use NNAPI: [1]' with the
    whole-graph delegation wording: recorded, not refused."""
    lines = capture_path("tflite", "tf2.9_2022_android_logcat_nnapi_partial_execution_44_kernels_PARTIAL.txt") \
        .read_text().splitlines()
    rec = Recorder(runtime=RuntimeInfo(name="benchmark_model"))
    log = BenchmarkModelRunner._parse_into(rec, lines, strict=True)
    assert log.has_results and rec.result(ToolAggregates).steady.count == 75
    assert [d.kind for d in log.delegations] == ["partial"]

    tf215 = ["INFO: STARTING!", "INFO: Tensorflow Version : 2.15.0", "INFO: Graph: [/data/local/tmp/m.tflite]",
             "INFO: Use NNAPI: [1]", "INFO: NNAPI accelerators available: [nnapi-reference]",
             "INFO: Loaded model /data/local/tmp/m.tflite",
             "INFO: Initialized TensorFlow Lite runtime.", "INFO: Created TensorFlow Lite delegate for NNAPI.",
             "INFO: NNAPI delegate created.",
             "INFO: Replacing 66 out of 66 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions "
             "for the whole graph.",
             "INFO: Explicitly applied NNAPI delegate, and the model graph will be completely executed by the "
             "delegate.",
             "INFO: The input model file size (MB): 3.57776", "INFO: Initialized session in 412.5ms.",
             "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding "
             "150 seconds.",
             "INFO: count=31 first=25114 curr=15932 min=15801 max=25114 avg=16225.1 std=1603",
             "INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding "
             "150 seconds.",
             "INFO: count=62 first=16012 curr=16102 min=15754 max=16890 avg=16092.6 std=190",
             "INFO: Inference timings in us: Init: 412500, First inference: 25114, Warmup (avg): 16225.1, "
             "Inference (avg): 16092.6"]
    rec = Recorder(runtime=RuntimeInfo(name="benchmark_model"))
    log = BenchmarkModelRunner._parse_into(rec, tf215, strict=True)
    assert (rec.runtime.version, rec.runtime.delegate) == ("2.15.0", "nnapi")
    assert rec.result(ToolAggregates).steady.mean_s == pytest.approx(16092.6e-6)
    (replaced,) = [d for d in log.delegations if d.kind == "replaced"]
    assert (replaced.replaced_nodes, replaced.total_nodes) == (66, 66)
    assert not any("partially delegated" in w for w in rec.warnings)
