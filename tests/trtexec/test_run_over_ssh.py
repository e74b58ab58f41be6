"""The trtexec runner end to end over a real sshd: `harness run --runtime trtexec` against the
stand-in trtexec (ONNX Runtime on this host, trtexec's output and exports). Samples are the
exported queries, layers the profile run's, and the second run loads the cached engine."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from harness import zoo
from harness.runners.trtexec_record import TrtexecResult
from harness.store.store import RunStore
from tests.trtexec.conftest import board_profile, install_standin

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
FAST = ("--count", "20", "--time", "0.1", "--no-thermal-gate", "--baseline", "0.3", "-o", "op_profile=10",
        "-o", "warmup_s=0.05")


def harness_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--runtime", "trtexec", *args, "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=280)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, json.loads(proc.stdout) if proc.stdout.strip() else []


@pytest.fixture
def onnx_model() -> Path:
    return zoo.model_file("mobilenet_v2_0.35_96-fp32-onnx")


def test_build_then_cached_engine_with_samples_and_layers(board, tmp_path, onnx_model):
    tool = install_standin(board.dir / "tensorrt")
    prof = board_profile(board, tmp_path)
    common = ("-d", str(prof), "-m", str(onnx_model), "-o", f"trtexec={tool}", *FAST)
    proc, (first,) = harness_run(tmp_path, *common, "-o", "precision=fp16")
    assert proc.returncode == 0 and first["status"] == "ok", (proc.stderr, first.get("error"))
    store = RunStore(tmp_path / "results")
    run = store.load(first["run_id"])
    result = run.manifest.result(TrtexecResult)
    assert run.manifest.runtime.version == result.tensorrt_version == "8.6.1"
    assert run.manifest.runtime.details["tensorrt_version_from"] == "trtexec banner"
    assert result.engine.source == "built" and result.engine.build_s > 0 and result.precision == "fp16"
    assert result.engine.key_fields["precision"] == "fp16" and result.engine.key_fields["onnx_sha256"] == \
        run.manifest.model.sha256
    assert (board.dir / "work" / "trtexec" / "engines" / f"{result.engine.key}.engine").stat().st_size > 0
    assert "--onnx=" in run.raw("trtexec_build") and "--fp16" in run.raw("trtexec_build")

    # samples: the exported queries, latency = trtexec's own latencyMs, one per query
    exported = [json.loads(line.strip().lstrip("[,").strip()) for line in run.raw("trtexec_times").splitlines()
                if line.strip().lstrip("[,").strip().startswith("{")]
    samples = run.samples.to_pylist()
    assert len(samples) == len(exported) == result.queries >= 20
    assert [s["phase"] for s in samples] == ["steady"] * len(samples)
    for s, q in zip(samples, exported):
        assert s["latency_ns"] == pytest.approx(q["latencyMs"] * 1e6, abs=1e3)
    starts = [s["start_ns"] for s in samples]
    assert starts == sorted(starts)
    # on the board's monotonic clock: inside the telemetry's workload window, as the launcher anchored them
    tl = run.manifest.timeline
    assert tl["workload_start_ns"] < tl["steady_start_ns"] == starts[0]
    assert tl["steady_end_ns"] <= tl["workload_end_ns"]
    # the launcher's stamps bound trtexec's origin: the queries lie between them (a late start stamp on
    # a busy host is replaced by the bound after the trace, and the record says so)
    clock = result.clock
    assert clock["slack_s"] >= 0 or "came late" in clock["note"]
    assert clock["anchor_ns"] <= starts[0] and tl["steady_end_ns"] <= clock["inference_end_ns"]
    # metrics kept apart: host latency, GPU compute, enqueue, H2D, D2H — printed and per query agree
    assert set(result.printed) == {"latency", "enqueue", "h2d", "gpu_compute", "d2h"}
    for metric, column in (("gpu_compute", "computeMs"), ("h2d", "h2dMs"), ("latency", "latencyMs")):
        values = [q[column] / 1e3 for q in exported]
        assert result.per_query[metric].median_s == pytest.approx(statistics.median(values), rel=1e-3)
        assert result.printed[metric].median_s == pytest.approx(statistics.median(values), rel=1e-3)
    assert result.per_query["gpu_compute"].median_s < result.per_query["latency"].median_s
    assert run.manifest.summary.latency.median_s == pytest.approx(result.per_query["latency"].median_s)
    assert run.manifest.summary.roofline is None  # the ceilings are the CPU's, not the engine's
    # layers: the separate profiling run's --exportProfile, mean time per iteration over 10 iterations
    ops = run.ops.to_pylist()
    profile = [json.loads(line.strip().lstrip("[,").strip()) for line in run.raw("trtexec_profile").splitlines()
               if '"name"' in line]
    assert [o["name"] for o in ops] == [p["name"] for p in profile] and len(ops) > 10
    assert all(o["count"] == 10 and o["time_s"] == pytest.approx(p["averageMs"] / 1e3) for o, p in zip(ops, profile))
    assert result.profile_iterations == 10

    # the second run loads the cached engine: no build
    proc, (second,) = harness_run(tmp_path, *common, "-o", "precision=fp16")
    assert proc.returncode == 0 and second["status"] == "ok", proc.stderr
    again = store.load(second["run_id"])
    cached = again.manifest.result(TrtexecResult)
    assert cached.engine.source == "cache" and cached.engine.key == result.engine.key
    assert cached.engine.build_s == pytest.approx(result.engine.build_s)
    assert any("build was skipped" in n for n in again.manifest.notes)
    assert not (again.path / "raw" / "trtexec_build.txt").exists()  # no build, no build log
    assert again.samples.num_rows == cached.queries and again.ops.num_rows == len(ops)
    # another precision is another engine
    proc, (third,) = harness_run(tmp_path, *common)
    built = store.load(third["run_id"]).manifest.result(TrtexecResult)
    assert built.engine.source == "built" and built.engine.key != result.engine.key and built.precision == "fp32"


def _unsupported_op_model(path: Path) -> Path:
    """An ONNX model whose op has no kernel in the stand-in's runtime (Abs on bfloat16)."""
    import onnx
    from onnx import helper

    x = helper.make_tensor_value_info("x", onnx.TensorProto.BFLOAT16, [1, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.BFLOAT16, [1, 4])
    graph = helper.make_graph([helper.make_node("Abs", ["x"], ["y"], name="abs0")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_failures_are_classified_and_engines_run_prebuilt(board, tmp_path, onnx_model):
    tool = install_standin(board.dir / "tensorrt")
    prof = board_profile(board, tmp_path)
    common = ("-d", str(prof), "-o", f"trtexec={tool}", *FAST)
    store = RunStore(tmp_path / "results")

    # an op TensorRT's ONNX parser cannot import: permanent, unsupported_op, the build log kept
    bad = _unsupported_op_model(tmp_path / "abs_bf16.onnx")
    proc, (failed,) = harness_run(tmp_path, *common, "-m", str(bad))
    assert proc.returncode == 1 and failed["status"] == "failed"
    err = failed["error"]
    assert (err["kind"], err["transient"], err["stage"]) == ("unsupported_op", False, "build")
    assert "No importer registered for op: Abs" in err["message"]
    assert "No importer registered" in store.load(failed["run_id"]).raw("trtexec_build")
    assert not list((board.dir / "work" / "trtexec" / "engines").glob("*.engine*"))  # no half engine cached

    # a prebuilt engine runs with --loadEngine, without static analysis or roofline noise
    proc, (built,) = harness_run(tmp_path, *common, "-m", str(onnx_model))
    engine_file = Path(store.load(built["run_id"]).manifest.result(TrtexecResult).engine.path)
    prebuilt = tmp_path / "mobilenet.plan"
    prebuilt.write_bytes(engine_file.read_bytes())
    proc, (ran,) = harness_run(tmp_path, *common, "-m", str(prebuilt), "-o", "precision=fp16")
    assert proc.returncode == 0 and ran["status"] == "ok", (proc.stderr, ran.get("error"))
    run = store.load(ran["run_id"])
    assert run.manifest.model.format == "tensorrt" and run.manifest.model.precision == "unknown"
    result = run.manifest.result(TrtexecResult)
    assert result.engine.source == "prebuilt" and result.engine.path.endswith("mobilenet.plan")
    assert run.samples.num_rows == result.queries and run.ops.num_rows > 0
    assert run.manifest.summary.roofline is None
    assert not any("roofline" in w for w in run.manifest.summary.warnings)
    assert any("precision: build options do not apply to a prebuilt engine" in w for w in run.manifest.summary.warnings)

    # a file that is no engine: trtexec's deserialisation refuses it, model_invalid
    junk = tmp_path / "junk.engine"
    junk.write_bytes(b"\x00not an engine at all" * 10)
    proc, (refused,) = harness_run(tmp_path, *common, "-m", str(junk))
    assert refused["status"] == "failed" and refused["error"]["kind"] == "model_invalid"
    assert "magicTagRead == kMAGIC_TAG failed" in refused["error"]["message"]


def test_tensorrt7_version_from_the_options_and_bad_options_refused(board, tmp_path, onnx_model):
    tool = install_standin(board.dir / "tensorrt7", version="7.1.3")
    prof = board_profile(board, tmp_path)
    common = ("-d", str(prof), "-m", str(onnx_model), "-o", f"trtexec={tool}", *FAST)
    # TensorRT 7's banner names no version and this board has no TensorRT package: unknown, said so
    proc, (run,) = harness_run(tmp_path, *common)
    assert run["status"] == "ok", run.get("error")
    assert run["runtime_version"] is None and any("TensorRT version unknown" in w for w in run["warnings"])
    result = RunStore(tmp_path / "results").load(run["run_id"]).manifest.result(TrtexecResult)
    assert result.engine.key_fields["tensorrt_version"] == "unknown"
    assert result.throughput_source == "walltime"  # TensorRT 7's 'throughput: 0 qps'
    proc, (given,) = harness_run(tmp_path, *common, "-o", "tensorrt_version=7.1.3")
    again = RunStore(tmp_path / "results").load(given["run_id"]).manifest
    assert again.runtime.version == "7.1.3" and again.result(TrtexecResult).engine.source == "built"

    for option, needle in (("dla_core=0", "DLA runs fp16 or int8 only"),
                           ("allow_gpu_fallback=true", "only with dla_core"),
                           ("build_args=[--fp16]", "--fp16 is set by the runner"),
                           ("build_args=[fp16]", "is not a --flag[=value] argument"),
                           ("sample_metric=enqueue", "sample_metric")):
        proc, runs = harness_run(tmp_path, *common, "-o", option)
        assert proc.returncode == 2 and runs == [], proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr


def _timed_runs(board) -> list[int]:
    """Stand-in trtexec processes of this board's timed runs (their argv names its work folder)."""
    import os

    marker = f"--exportTimes={board.dir / 'work'}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.startswith(marker) for a in argv):
                pids.append(int(entry))
    return pids


def test_sigterm_during_the_timed_run_stops_trtexec_on_the_board(board, tmp_path, onnx_model):
    import os
    import signal
    import time

    tool = install_standin(board.dir / "tensorrt")
    prof = board_profile(board, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--runtime", "trtexec", "-d", str(prof), "-m",
                             str(onnx_model), "-o", f"trtexec={tool}", "--count", "10", "--time", "120",
                             "--no-thermal-gate", "--no-telemetry", "--json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 200
    while not _timed_runs(board):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the timed trtexec run never started on the board"
        time.sleep(0.2)
    # into the timed queries: past ONNX Runtime's import and the engine load (CPU time, not a fixed sleep,
    # so a busy host does not stop it earlier)
    def cpu_s(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    while time.monotonic() < deadline and not any(cpu_s(pid) >= 4.0 for pid in _timed_runs(board)):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    (run,) = json.loads(out)
    assert run["status"] == "aborted" and run["error"]["kind"] == "aborted"
    stored = RunStore(tmp_path / "results").load(run["run_id"])
    assert "Starting inference" in stored.raw("trtexec")  # what it printed before it was stopped is kept
    assert stored.manifest.result(TrtexecResult) is None or stored.samples.num_rows == 0
    deadline = time.monotonic() + 30
    while _timed_runs(board) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _timed_runs(board) == []  # nothing left running on the board
