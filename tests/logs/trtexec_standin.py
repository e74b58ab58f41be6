#!/usr/bin/env python3
"""Stand-in for TensorRT's `trtexec`, for tests of the trtexec runner where no GPU exists.

It takes trtexec's command line and prints what the real tool prints, in the layouts of
the verbatim captures (tests/logs/captures/trtexec/): the ``&&&& RUNNING`` line, the
option and device blocks, engine build/load lines, ``Warmup completed``/``Timing trace
has``, ``Average on N runs`` lines, the ``=== Performance summary ===`` (TensorRT 8.x/10
metrics: Latency, Enqueue Time, H2D Latency, GPU Compute Time, D2H Latency, totals,
warnings), the ``--dumpProfile`` table (without a summary unless --separateProfileRun,
as TensorRT 8.5 does) and ``&&&& PASSED``. ``TRTEXEC_STANDIN_VERSION=7.1.3`` prints
TensorRT 7's layout instead (the ``Host Latency``/``Enqueue Time``/``GPU Compute`` blocks
and its ``throughput: 0 qps``).

What it measures is real: the "GPU" is ONNX Runtime on this host's CPU. Each query
copies the inputs (H2D), runs the session (GPU compute) and copies the outputs (D2H),
each timed with the host's monotonic clock; enqueue is the time to start the run. Per
layer times come from ONNX Runtime's node profiling. With --noDataTransfers the copies
are skipped and report 0 ms, as the real tool does.

Files: --saveEngine writes an engine (a header naming the ONNX hash, precision, DLA core
and TensorRT version, then the ONNX bytes: a self-contained model, as a real engine is);
--loadEngine reads one back (a file that is not such an engine fails as trtexec does);
--exportTimes and --exportProfile write the JSON layouts TensorRT writes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

MAGIC = b"TRTSTANDIN-ENGINE\n"
VALUE_FLAGS = {"onnx", "loadEngine", "saveEngine", "useDLACore", "workspace", "memPoolSize", "iterations", "warmUp",
               "duration", "avgRuns", "percentile", "exportTimes", "exportProfile", "streams", "batch", "shapes",
               "timingCacheFile", "device", "sleepTime", "idleTime"}
BOOL_FLAGS = {"fp16", "int8", "best", "bf16", "noTF32", "allowGPUFallback", "dumpProfile", "separateProfileRun",
              "noDataTransfers", "useCudaGraph", "useSpinWait", "verbose", "buildOnly", "skipInference",
              "exposeDMA", "threads"}


def stamp() -> str:
    return datetime.datetime.now().strftime("[%m/%d/%Y-%H:%M:%S]")


class Out:
    def __init__(self, trt7: bool):
        self.trt7 = trt7

    def line(self, text: str = "", level: str = "I") -> None:
        prefix = f"[{level}] " if self.trt7 else f"{stamp()} [{level}] "
        print((prefix + text).rstrip() if text else prefix.rstrip(), flush=True)


def parse_args(argv: list[str]) -> dict[str, object]:
    flags: dict[str, object] = {}
    for arg in argv:
        if not arg.startswith("--"):
            raise SystemExit(f"Unknown option: {arg}")
        key, eq, value = arg[2:].partition("=")
        if key in VALUE_FLAGS and eq:
            flags[key] = value
        elif key in BOOL_FLAGS and not eq:
            flags[key] = True
        else:
            raise SystemExit(f"Unknown option: {arg}")
    return flags


def version_code(version: str) -> str:
    major, minor, patch = (int(x) for x in version.split(".")[:3])
    return str(major * 10000 + minor * 100 + patch) if major >= 10 else str(major * 1000 + minor * 100 + patch)


def precision(flags: dict) -> str:
    if flags.get("best"):
        return "FP32+FP16+INT8"
    parts = ["FP32"] + [p.upper() for p in ("fp16", "int8", "bf16") if flags.get(p)]
    return "+".join(parts)


def load_model(flags: dict, out: Out) -> tuple[bytes, dict]:
    """(ONNX bytes, engine header) from --onnx (built) or --loadEngine."""
    if "loadEngine" in flags:
        data = Path(str(flags["loadEngine"])).read_bytes()
        if not data.startswith(MAGIC):
            out.line("Error Code 1: Serialization (Serialization assertion magicTagRead == kMAGIC_TAG failed.)", "E")
            raise RuntimeError("Engine deserialization failed.")
        header_end = data.index(b"\n", len(MAGIC))
        header = json.loads(data[len(MAGIC):header_end])
        t0 = time.monotonic()
        onnx_bytes = data[header_end + 1:]
        out.line(f"Loaded engine size: {max(1, len(data) >> 20)} MiB", "I")
        out.line(f"Engine deserialized in {time.monotonic() - t0 + 1e-3:.6g} sec.")
        return onnx_bytes, header
    if "onnx" not in flags:
        raise RuntimeError("Model missing or format not recognized")
    path = Path(str(flags["onnx"]))
    onnx_bytes = path.read_bytes()
    header = {"onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(), "precision": precision(flags),
              "dla_core": flags.get("useDLACore"), "workspace": flags.get("workspace") or flags.get("memPoolSize"),
              "tensorrt_version": os.environ.get("TRTEXEC_STANDIN_VERSION", "8.6.1")}
    out.line("[TRT] ----------------------------------------------------------------")
    out.line(f"[TRT] Input filename:   {path}")
    out.line("[TRT] ----------------------------------------------------------------")
    t0 = time.monotonic()
    import onnxruntime as ort

    try:
        ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])  # the "build"
    except ort.capi.onnxruntime_pybind11_state.NotImplemented as e:  # an op it has no kernel for
        op = re.search(r"implementation for (\w+)\(", str(e))
        name = op.group(1) if op else "unknown"
        # what TensorRT's ONNX parser prints for an op it has no importer for
        out.line(f"[TRT] ModelImporter.cpp:726: While parsing node number 0 [{name} -> \"y\"]:", "E")
        out.line("[TRT] ModelImporter.cpp:729: ERROR: ModelImporter.cpp:168 In function parseGraph:", "E")
        out.line(f"[8] No importer registered for op: {name}", "E")
        out.line("Failed to parse onnx file", "E")
        raise RuntimeError("Parsing model failed") from None
    out.line(f"Engine built in {time.monotonic() - t0 + 1e-3:.6g} sec.")
    if "saveEngine" in flags:
        blob = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + onnx_bytes
        Path(str(flags["saveEngine"])).write_bytes(blob)
        out.line(f"[TRT] Loaded engine size: {max(1, len(blob) >> 20)} MiB")
    return onnx_bytes, header


def inputs_for(session):
    import numpy as np

    rng = np.random.default_rng(0)
    feeds = {}
    for t in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in t.shape]
        dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
                 "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}.get(t.type, np.float32)
        feeds[t.name] = rng.standard_normal(shape).astype(dtype) if np.issubdtype(dtype, np.floating) \
            else rng.integers(0, 2, shape).astype(dtype)
    return feeds


def run_queries(session, feeds, flags, warmup_ms: float, duration_s: float, iterations: int):
    """Per query: ms offsets since the start (startEnq … endD2h), as trtexec's trace."""
    copies = not flags.get("noDataTransfers")
    origin = time.monotonic()
    trace = []

    def ms() -> float:
        return (time.monotonic() - origin) * 1e3

    warmups = 0
    while ms() < warmup_ms or warmups == 0:
        session.run(None, feeds)
        warmups += 1
    start = time.monotonic()
    while len(trace) < iterations or time.monotonic() - start < duration_s:
        t = {"startEnqMs": ms()}
        t["startH2dMs"] = ms()
        batch = {k: v.copy() for k, v in feeds.items()} if copies else feeds
        t["endH2dMs"] = ms() if copies else t["startH2dMs"]
        t["endEnqMs"] = ms()
        t["startComputeMs"] = ms()
        outs = session.run(None, batch)
        t["endComputeMs"] = t["startD2hMs"] = ms()
        if copies:
            outs = [o.copy() for o in outs]
        t["endD2hMs"] = ms() if copies else t["startD2hMs"]
        trace.append(t)
    for t in trace:
        t["h2dMs"] = t["endH2dMs"] - t["startH2dMs"]
        t["computeMs"] = t["endComputeMs"] - t["startComputeMs"]
        t["d2hMs"] = t["endD2hMs"] - t["startD2hMs"]
        t["latencyMs"] = t["h2dMs"] + t["computeMs"] + t["d2hMs"]
        t["endToEndMs"] = t["endD2hMs"] - t["startH2dMs"]
    return warmups, trace


def percentile(sorted_values: list[float], p: float) -> float:
    """trtexec's findPercentile: exclude the top (1 - p/100) share."""
    n = len(sorted_values)
    exclude = int((1 - p / 100) * n)
    return sorted_values[max(n - 1 - exclude, 0)]


def summary(values: list[float], pcts: list[float]) -> str:
    v = sorted(values)
    text = (f"min = {v[0]:.6g} ms, max = {v[-1]:.6g} ms, mean = {statistics.fmean(v):.6g} ms, "
            f"median = {statistics.median(v):.6g} ms")
    return text + "".join(f", percentile({p:g}%) = {percentile(v, p):.6g} ms" for p in pcts)


def layer_profile(onnx_bytes: bytes, feeds, runs: int):
    """{node name: [ms per run]} from ONNX Runtime's node profiling."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"trtexec-standin-{os.getpid()}")
    session = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, feeds)
    path = Path(session.end_profiling())
    events = json.loads(path.read_text())
    path.unlink(missing_ok=True)
    layers: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            layers.setdefault(e["name"].removesuffix("_kernel_time"), []).append(e["dur"] / 1e3)
    return layers


def print_profile(out: Out, layers: dict[str, list[float]], runs: int, trt7: bool) -> None:
    total = sum(sum(v) for v in layers.values()) or 1e-9
    width = max([len(n) for n in layers] + [5]) + 1
    out.line()
    out.line(f"=== Profile ({runs} iterations ) ===")
    header = f"{'Layer':>{width}}   Time (ms)   Avg. Time (ms)" + ("" if trt7 else "   Median Time (ms)") + "   Time %"
    out.line(header)
    rows = [(n, sum(v), sum(v) / runs, statistics.median(v)) for n, v in layers.items()]
    rows.append(("Total", total, total / runs, sum(r[3] for r in rows)))
    for name, t, avg, med in rows:
        pct = 100.0 if name == "Total" else t / total * 100
        out.line(f"{name:>{width}}{t:12.2f}{avg:17.4f}" + ("" if trt7 else f"{med:19.4f}") + f"{pct:9.1f}")
    out.line()


def main(argv: list[str]) -> int:
    version = os.environ.get("TRTEXEC_STANDIN_VERSION", "8.6.1")
    trt7 = version.startswith("7.")
    out = Out(trt7)
    command = " ".join(["trtexec", *argv])
    # TensorRT 7's banner names no version (8.0 added '[TensorRT vNNNN]')
    head = f"TensorRT.trtexec # {command}" if trt7 else f"TensorRT.trtexec [TensorRT v{version_code(version)}] # {command}"
    print(f"&&&& RUNNING {head}", flush=True)
    try:
        flags = parse_args(argv)
    except SystemExit as e:
        out.line(str(e), "E")
        print(f"&&&& FAILED {head}", flush=True)
        return 1
    pcts = [float(p) for p in str(flags.get("percentile", "99" if trt7 else "90,95,99")).split(",")]
    avg_runs = int(flags.get("avgRuns", 10))
    iterations = int(flags.get("iterations", 10))
    warmup_ms = float(flags.get("warmUp", 200))
    duration_s = float(flags.get("duration", 3))
    out.line("=== Model Options ===")
    out.line(f"Format: {'ONNX' if 'onnx' in flags else '*'}")
    out.line(f"Model: {flags.get('onnx', '')}")
    out.line("=== Build Options ===")
    out.line(f"Precision: {precision(flags)}")
    out.line(f"Save engine: {flags.get('saveEngine', '')}")
    out.line(f"Load engine: {flags.get('loadEngine', '')}")
    out.line("=== System Options ===")
    out.line("Device: 0")
    out.line(f"DLACore: {flags.get('useDLACore', '')}")
    out.line("=== Inference Options ===")
    out.line(f"Batch: {flags.get('batch', 'Explicit')}")
    out.line(f"Iterations: {iterations}")
    out.line(f"Duration: {duration_s:g}s (+ {warmup_ms:g}ms warm up)")
    out.line(f"Streams: {flags.get('streams', 1)}")
    out.line(f"Data transfers: {'Disabled' if flags.get('noDataTransfers') else 'Enabled'}")
    out.line("=== Reporting Options ===")
    out.line(f"Averages: {avg_runs} inferences")
    out.line(f"Percentiles: {','.join(f'{p:g}' for p in pcts)}")
    out.line(f"Profile: {'Enabled' if flags.get('dumpProfile') else 'Disabled'}")
    out.line(f"Export timing to JSON file: {flags.get('exportTimes', '')}")
    out.line(f"Export profile to JSON file: {flags.get('exportProfile', '')}")
    out.line()
    out.line("=== Device Information ===")
    out.line("Selected Device: trtexec stand-in (ONNX Runtime on the host CPU)")
    out.line("Compute Capability: 8.7")
    out.line()
    if not trt7:
        out.line(f"TensorRT version: {version}")
    try:
        onnx_bytes, _header = load_model(flags, out)
    except (RuntimeError, OSError) as e:
        out.line(str(e), "E")
        print(f"&&&& FAILED {head}", flush=True)
        return 1
    if flags.get("buildOnly") or flags.get("skipInference"):
        print(f"&&&& PASSED {head}", flush=True)
        return 0
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = inputs_for(session)
    for name, arr in feeds.items():
        out.line(f"Created input binding for {name} with dimensions {'x'.join(map(str, arr.shape))}")
    out.line("Starting inference")
    profiling = bool(flags.get("dumpProfile") or flags.get("exportProfile"))
    warmups, trace = run_queries(session, feeds, flags, warmup_ms, duration_s, iterations)
    walltime_s = (trace[-1]["endD2hMs"] - trace[0]["startH2dMs"]) / 1e3
    if "exportTimes" in flags:
        with open(str(flags["exportTimes"]), "w") as fh:
            fh.write("[\n")
            for i, t in enumerate(trace):
                fh.write(("  " if i == 0 else ", ") + "{ " + ", ".join(f'"{k}" : {v:.6g}' for k, v in t.items()) + " }\n")
            fh.write("]\n")
    out.line(f"Warmup completed {warmups} queries over {warmup_ms:g} ms")
    out.line(f"Timing trace has {len(trace)} queries over {walltime_s:.6g} s")
    show_summary = not profiling or flags.get("separateProfileRun")
    if profiling and not flags.get("separateProfileRun") and not trt7:
        out.line("The e2e network timing is not reported since it is inaccurate due to the extra synchronizations "
                 "when the profiler is enabled.")
        out.line("To show e2e network timing report, add --separateProfileRun to profile layer timing in a separate "
                 "run or remove --dumpProfile to disable the profiler.")
    if show_summary:
        out.line()
        out.line("=== Trace details ===")
        out.line(f"Trace averages of {avg_runs} runs:")
        for i in range(0, len(trace) - avg_runs + 1, avg_runs):
            chunk = trace[i:i + avg_runs]
            mean = lambda k: statistics.fmean(t[k] for t in chunk)  # noqa: E731
            out.line(f"Average on {avg_runs} runs - GPU latency: {mean('computeMs'):.6g} ms - Host latency: "
                     f"{mean('latencyMs'):.6g} ms (enqueue {mean('endEnqMs') - mean('startEnqMs'):.6g} ms)")
        col = {k: [t[k] for t in trace] for k in ("latencyMs", "h2dMs", "computeMs", "d2hMs", "endToEndMs")}
        col["enqMs"] = [t["endEnqMs"] - t["startEnqMs"] for t in trace]
        gpu_total = sum(col["computeMs"]) / 1e3
        if trt7:
            for title, key in (("Host Latency", "latencyMs"), ("Enqueue Time", "enqMs"), ("GPU Compute", "computeMs")):
                v = sorted(col[key])
                e2e = sorted(col["endToEndMs"])
                out.line(title)
                for stat, fn in (("min", lambda x: x[0]), ("max", lambda x: x[-1]), ("mean", statistics.fmean),
                                 ("median", statistics.median)):
                    tail = f" (end to end {fn(e2e):.6g} ms)" if key == "latencyMs" else ""
                    out.line(f"{stat}: {fn(v):.6g} ms{tail}")
                p = pcts[0]
                tail = f" (end to end {percentile(e2e, p):.6g} ms at {p:g}%)" if key == "latencyMs" else ""
                out.line(f"percentile: {percentile(v, p):.6g} ms at {p:g}%{tail}")
                if key == "latencyMs":
                    out.line("throughput: 0 qps")  # TensorRT 7's integer division
                    out.line(f"walltime: {walltime_s:.6g} s")
                if key == "computeMs":
                    out.line(f"total compute time: {gpu_total:.6g} s")
        else:
            out.line()
            out.line("=== Performance summary ===")
            out.line(f"Throughput: {len(trace) / walltime_s:.6g} qps")
            out.line(f"Latency: {summary(col['latencyMs'], pcts)}")
            out.line(f"Enqueue Time: {summary(col['enqMs'], pcts)}")
            out.line(f"H2D Latency: {summary(col['h2dMs'], pcts)}")
            out.line(f"GPU Compute Time: {summary(col['computeMs'], pcts)}")
            out.line(f"D2H Latency: {summary(col['d2hMs'], pcts)}")
            out.line(f"Total Host Walltime: {walltime_s:.6g} s")
            out.line(f"Total GPU Compute Time: {gpu_total:.6g} s")
            cov = statistics.pstdev(col["computeMs"]) / statistics.fmean(col["computeMs"]) * 100
            if cov > 1.0:
                out.line(f"* GPU compute time is unstable, with coefficient of variance = {cov:.6g}%.", "W")
                out.line("  If not already in use, locking GPU clock frequency or adding --useSpinWait may improve "
                         "the stability.", "W")
            out.line("Explanations of the performance metrics are printed in the verbose logs.")
            out.line()
    if profiling:
        runs = len(trace)
        layers = layer_profile(onnx_bytes, feeds, runs)
        if flags.get("dumpProfile"):
            print_profile(out, layers, runs, trt7)
        if "exportProfile" in flags:
            total = sum(sum(v) for v in layers.values()) or 1e-9
            with open(str(flags["exportProfile"]), "w") as fh:
                fh.write(f'[\n  {{ "count" : {runs} }}\n')
                for name, v in layers.items():
                    fh.write(f', {{ "name" : {json.dumps(name)}, "timeMs" : {sum(v):.6g}, "averageMs" : '
                             f'{sum(v) / runs:.6g}, "medianMs" : {statistics.median(v):.6g}, '
                             f'"percentage" : {sum(v) / total * 100:.6g} }}\n')
                fh.write("]\n")
    print(f"&&&& PASSED {head}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
