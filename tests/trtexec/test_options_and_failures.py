"""The trtexec runner's pure parts: options, engine cache key, version-dependent flags, version
from dpkg, failure classification from TensorRT's own error texts, the launcher."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.errors import HarnessError, ModelError, RuntimeFailure, UnsupportedOp
from harness.logs import trtexec as trtexec_log
from harness.runners.trtexec import (
    LAUNCHER,
    TAG,
    TrtexecRunner,
    build_flags,
    dpkg_version,
    engine_key,
    failure,
    run_flags,
)

SHA = "ab" * 32


def opts(**kw):
    return TrtexecRunner.parse_options(kw)


def test_every_engine_changing_option_changes_the_cache_key_and_run_options_do_not():
    base, _ = engine_key(SHA, "8.6.1", opts())
    changed = [engine_key(SHA, "8.6.1", opts(**kw))[0] for kw in (
        {"precision": "fp16"}, {"precision": "best"}, {"precision": "fp16", "dla_core": 0},
        {"precision": "fp16", "dla_core": 1}, {"precision": "int8", "dla_core": 0, "allow_gpu_fallback": True},
        {"workspace_mib": 1024}, {"shapes": "x:1x3x224x224"}, {"build_args": ["--sparsity=enable"]})]
    changed += [engine_key("cd" * 32, "8.6.1", opts())[0], engine_key(SHA, "10.3.0", opts())[0],
                engine_key(SHA, None, opts())[0]]
    assert base not in changed and len(set(changed)) == len(changed)
    for kw in ({"no_data_transfers": True}, {"use_cuda_graph": True}, {"op_profile": 0}, {"warmup_s": 1.0},
               {"run_args": ["--streams=2"]}, {"sample_metric": "gpu_compute"}):
        assert engine_key(SHA, "8.6.1", opts(**kw))[0] == base, kw
    assert engine_key(SHA, None, opts())[1]["tensorrt_version"] == "unknown"


def test_flags_follow_the_tensorrt_version():
    o = opts(precision="fp16+int8", dla_core=1, allow_gpu_fallback=True, workspace_mib=2048, shapes="in:1x3x8x8")
    assert build_flags(o, "8.2.1") == ["--fp16", "--int8", "--useDLACore=1", "--allowGPUFallback",
                                       "--workspace=2048", "--shapes=in:1x3x8x8"]
    assert "--memPoolSize=workspace:2048" in build_flags(o, "8.6.1") and "--workspace=2048" not in build_flags(o, "10.3.0")
    assert "--memPoolSize=workspace:2048" in build_flags(o, None)  # unknown: today's flag
    assert run_flags(opts(precision="fp16", dla_core=0, no_data_transfers=True, run_args=["--streams=2"])) == [
        "--useDLACore=0", "--noDataTransfers", "--streams=2"]
    assert build_flags(opts(precision="best"), "8.6.1") == ["--best"]


@pytest.mark.parametrize("raw, message", [
    ({"dla_core": 0}, "DLA runs fp16 or int8 only"),
    ({"allow_gpu_fallback": True}, "only with dla_core"),
    ({"run_args": ["--exportTimes=x.json"]}, "--exportTimes is set by the runner"),
    ({"build_args": ["fp16"]}, "not a --flag[=value] argument"),
    ({"precision": "fp8"}, "precision"),
    ({"dla_core": -1, "precision": "fp16"}, "dla_core"),
    ({"no_such_option": 1}, "not an option of runner trtexec"),
])
def test_bad_options_are_one_clear_error(raw, message):
    with pytest.raises(HarnessError, match=message.replace("[", r"\[").replace("]", r"\]")):
        opts(**raw)


def test_version_from_dpkg_query_lines():
    assert dpkg_version("tensorrt 8.5.2.2-1+cuda11.4\nlibnvinfer8 8.5.2-1+cuda11.4\n") == "8.5.2"
    assert dpkg_version("libnvinfer7 7.1.3-1+cuda10.2\n") == "7.1.3"
    assert dpkg_version("") is None and dpkg_version("libnvinfer-bin\n") is None


def _log(*errors: str, warnings: tuple[str, ...] = ()) -> trtexec_log.TrtexecLog:
    lines = ["&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec --onnx=m.onnx"]
    lines += [f"[01/01/2025-00:00:00] [W] [TRT] {w}" for w in warnings]
    lines += [f"[01/01/2025-00:00:00] [E] {e}" for e in errors]
    lines.append("&&&& FAILED TensorRT.trtexec [TensorRT v8502] # trtexec --onnx=m.onnx")
    return trtexec_log.parse("\n".join(lines))


@pytest.mark.parametrize("errors, cls, kind", [
    # TensorRT 8.x ONNX parser: an op with no importer, a node it cannot handle
    (("[TRT] ModelImporter.cpp:771: While parsing node number 54 [ReverseSequence -> \"x\"]:",
      "[TRT] ModelImporter.cpp:776: ERROR: ModelImporter.cpp:134 In function parseGraph:",
      "[8] No importer registered for op: ReverseSequence", "Failed to parse onnx file"), UnsupportedOp,
     "unsupported_op"),
    (("[TRT] In node 423 (importTopK): UNSUPPORTED_NODE: Assertion failed: (inputs.at(1).is_weights())",),
     UnsupportedOp, "unsupported_op"),
    # an engine of another TensorRT version or GPU, or no engine at all
    (("Error[1]: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization (Serialization "
      "assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)",), ModelError, "model_invalid"),
    (("1: [runtime.cpp::parsePlan::314] Error Code 1: Serialization (Serialization assertion "
      "plan->header.magicTag == rt::kPLAN_MAGIC_TAG failed.)",), ModelError, "model_invalid"),
    (("[TRT] coreReadArchive.cpp (38) - Serialization Error in verifyHeader: 0 (Version tag does not match)",),
     ModelError, "model_invalid"),
    (("1: [stdArchiveReader.cpp::StdArchiveReader::40] Error Code 1: Serialization (Serialization assertion "
      "stdVersionRead == serializationVersion failed.Version tag does not match. Note: Current Version: 232, "
      "Serialized Engine Version: 213)",), ModelError, "model_invalid"),
    (("6: The engine plan file is not compatible with this version of TensorRT, expecting library version "
      "8.6.1.6 got 8.5.2.2, please rebuild.",), ModelError, "model_invalid"),
    (("Engine could not be created from network",), RuntimeFailure, "runtime_error"),
])
def test_failures_are_classified_from_tensorrt_texts(errors, cls, kind):
    err = failure(_log(*errors), [], 1, "engine build", opts())
    assert type(err) is cls and err.kind == kind and not err.transient
    assert str(err).startswith("trtexec engine build failed (exit status 1): ")


def test_out_of_gpu_memory_is_a_permanent_runtime_error_that_says_so():
    log = _log("Error[2]: [virtualMemoryBuffer.cpp::resizePhysical::145] Error Code 2: OutOfMemory "
               "(no further information)", "Error[2]: [virtualMemoryBuffer.cpp::resizePhysical::145] Error Code "
               "2: OutOfMemory (no further information)", "Engine could not be created from network")
    err = failure(log, [], 1, "engine build", opts())
    assert type(err) is RuntimeFailure and err.kind == "runtime_error" and err.transient is False
    assert "out of GPU memory" in str(err) and "equivalent device" in str(err)
    cuda = failure(_log("Cuda Runtime (out of memory)"), [], 1, "run", opts())
    assert "out of GPU memory" in str(cuda)


def test_dla_layers_without_gpu_fallback_are_unsupported_ops():
    warn = ("Layer '/model.22/Slice_1' (SLICE): Unsupported on DLA. Switching this layer's device type to GPU.",)
    log = _log("Engine could not be created from network", "Building engine failed", warnings=warn)
    assert isinstance(failure(log, [], 1, "engine build", opts(precision="fp16", dla_core=0)), UnsupportedOp)
    # with fallback on, the same warnings are not why it failed
    fallback = failure(log, [], 1, "engine build", opts(precision="fp16", dla_core=0, allow_gpu_fallback=True))
    assert type(fallback) is RuntimeFailure


def test_a_crash_without_error_lines_names_the_last_line():
    err = failure(None, ["[I] Starting inference", "Segmentation fault (core dumped)"], 139, "run", opts())
    assert type(err) is RuntimeFailure and "Segmentation fault" in str(err) and "139" in str(err)


def test_the_launcher_passes_lines_through_and_stamps_the_inference(tmp_path):
    script = tmp_path / "fake.py"
    script.write_text("import sys, time\nprint('[I] Created input binding')\nprint('[I] Starting inference', flush=True)\n"
                      "time.sleep(0.2)\nprint('[I] Warmup completed 3 queries over 200 ms')\n"
                      "print('to stderr', file=sys.stderr)\nsys.exit(3)\n")
    pid_file = tmp_path / "pid"
    proc = subprocess.run([sys.executable, str(LAUNCHER), "--pid-file", str(pid_file), "--", sys.executable,
                           str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    ours = [json.loads(line[len(TAG):]) for line in proc.stdout.splitlines() if line.startswith(TAG)]
    theirs = [line for line in proc.stdout.splitlines() if not line.startswith(TAG)]
    assert theirs == ["[I] Created input binding", "[I] Starting inference",
                      "[I] Warmup completed 3 queries over 200 ms", "to stderr"]
    events = {e.get("what") or e["event"]: e for e in ours}
    assert events["exec"]["pid"] == int(pid_file.read_text())
    gap = events["inference_end"]["t_ns"] - events["inference_start"]["t_ns"]
    assert gap >= 0.15e9  # the stamps are the lines' arrival on the monotonic clock
    assert events["exit"]["returncode"] == 3
    missing = subprocess.run([sys.executable, str(LAUNCHER), "--", str(tmp_path / "nope")], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 127 and "cannot start" in missing.stderr


def test_the_launcher_is_python_3_6_syntax_and_standard_library_only():
    """JetPack 4 ships Python 3.6: the launcher must parse there and import nothing else."""
    import ast

    tree = ast.parse(LAUNCHER.read_text(), feature_version=(3, 6))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names)
    # 3.7+ only: time.monotonic_ns, subprocess.run(capture_output=…)
    assert "monotonic_ns" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
