#!/usr/bin/env python3
"""Stand-in for TFLite's `benchmark_model` on the emulated phone.

It really runs the model with LiteRT (`ai_edge_litert.interpreter`) and prints what
it measured in the real tool's log format (TFLite 2.1x, `INFO:`-prefixed lines on
stderr; the layout follows benchmark_model.cc, benchmark_tflite_model.cc and
stats_calculator.cc). Flags: --graph, --num_threads, --num_runs, --warmup_runs,
--min_secs, --max_secs, --warmup_min_secs, --use_xnnpack, --use_gpu, --use_nnapi,
--enable_op_profiling, --report_peak_memory_footprint.

Where it cannot do what the phone would, it says so the way the tool does: there is
no GPU or NNAPI here, so those delegates are reported unsupported and the model runs
on the CPU. With --enable_op_profiling, each operator is timed by running it alone
(a one-operator model cut from the graph) as many times as the regular runs ran —
real measurements, taken per operator rather than inside one invoke.

Installed on the emulated phone as an executable whose first line is this host's
Python (see fixtures.py).
"""

from __future__ import annotations

import math
import resource
import sys
import threading
import time

FLAGS: dict[str, tuple[type, object]] = {
    "graph": (str, ""),
    "num_threads": (int, -1),
    "num_runs": (int, 50),
    "min_secs": (float, 1.0),
    "max_secs": (float, 150.0),
    "warmup_runs": (int, 1),
    "warmup_min_secs": (float, 0.5),
    "use_xnnpack": (bool, True),
    "use_gpu": (bool, False),
    "use_nnapi": (bool, False),
    "enable_op_profiling": (bool, False),
    "report_peak_memory_footprint": (bool, False),
    "memory_footprint_check_interval_ms": (int, 50),
}
# (flag, label) in the order LogParams prints them when set on the command line
PARAM_LABELS = [
    ("num_runs", "Min num runs"),
    ("min_secs", "Min runs duration (seconds)"),
    ("max_secs", "Max runs duration (seconds)"),
    ("num_threads", "Num threads"),
    ("warmup_runs", "Min warmup runs"),
    ("warmup_min_secs", "Min warmup runs duration (seconds)"),
    ("report_peak_memory_footprint", "Report the peak memory footprint"),
    ("graph", "Graph"),
    ("enable_op_profiling", "Enable op profiling"),
    ("num_threads", "#threads used for CPU inference"),
    ("use_gpu", "Use gpu"),
    ("use_nnapi", "Use NNAPI"),
    ("use_xnnpack", "Use xnnpack"),
]


def log(level: str, text: str = "") -> None:
    sys.stderr.write(f"{level}: {text}\n")
    sys.stderr.flush()


def fmt(x: float) -> str:
    """C++ ostream default formatting of a double (6 significant digits, like %g)."""
    return f"{x:g}"


def parse_flags(argv: list[str]) -> tuple[dict, set[str], list[str]]:
    values = {k: d for k, (_, d) in FLAGS.items()}
    given: set[str] = set()
    unknown: list[str] = []
    for arg in argv:
        name, eq, raw = arg.lstrip("-").partition("=")
        if not arg.startswith("--") or not eq or name not in FLAGS:
            unknown.append(arg)
            continue
        kind = FLAGS[name][0]
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                values[name] = raw.lower() in ("true", "1")
            else:
                values[name] = kind(raw)
        except ValueError:
            log("ERROR", f"Invalid value for flag --{name}: {raw}")
            sys.exit(1)
        given.add(name)
    return values, given, unknown


# -- measurements -------------------------------------------------------------------------


def proc_status_kb() -> dict[str, int]:
    """The kB fields of /proc/self/status (VmRSS, RssAnon, RssFile, RssShmem...)."""
    fields = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    fields[key] = int(parts[0])
    except OSError:
        pass
    return fields


def footprint_kb() -> int:
    """Current resident set (VmRSS), as the tool's memory footprint."""
    return proc_status_kb().get("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Stat:
    """tsl::StatWithPercentiles: what `count=... p95=...` lines print."""

    def __init__(self):
        self.values: list[int] = []

    def add(self, v: int) -> None:
        self.values.append(int(v))

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def avg(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan

    def percentile(self, p: int) -> int:
        vals = sorted(self.values)
        return vals[-1] if p == 100 else vals[len(vals) * p // 100]

    def text(self, percentiles: bool = True) -> str:
        v = self.values
        if not v:
            return "count=0"
        if min(v) == max(v):
            out = f"count={len(v)} curr={v[-1]}" + ("(all same)" if len(v) > 1 else "")
        else:
            mean = self.avg
            std = int(math.sqrt(max(0.0, sum(x * x for x in v) / len(v) - mean * mean)))
            out = f"count={len(v)} first={v[0]} curr={v[-1]} min={min(v)} max={max(v)} avg={fmt(mean)} std={std}"
        if percentiles:
            out += f" p5={self.percentile(5)} median={self.percentile(50)} p95={self.percentile(95)}"
        return out


def random_inputs(interpreter, rng):
    import numpy as np

    data = []
    for d in interpreter.get_input_details():
        shape, dtype = d["shape"], np.dtype(d["dtype"])
        if dtype.kind == "f":
            data.append(rng.uniform(-0.5, 0.5, shape).astype(dtype))
        elif dtype == np.int8:
            data.append(rng.integers(-127, 128, shape).astype(dtype))
        elif dtype == np.uint8:
            data.append(rng.integers(0, 255, shape).astype(dtype))
        elif dtype == np.bool_:
            data.append(rng.integers(0, 2, shape).astype(dtype))
        else:
            data.append(rng.integers(0, 100, shape).astype(dtype))
    return data


def run_loop(interpreter, inputs, min_runs: int, min_secs: float, max_secs: float) -> Stat:
    """BenchmarkModel::Run: at least `min_runs` and `min_secs`, never past `max_secs`."""
    log("INFO", f"Running benchmark for at least {min_runs} iterations and at least {fmt(min_secs)} seconds "
        f"but terminate if exceeding {fmt(max_secs)} seconds.")
    stat = Stat()
    details = interpreter.get_input_details()
    now = time.perf_counter()
    min_finish, max_finish = now + min_secs, now + max_secs
    run = 0
    while (run < min_runs or now < min_finish) and now <= max_finish:
        for d, x in zip(details, inputs):
            interpreter.set_tensor(d["index"], x)
        start = time.perf_counter_ns()
        interpreter.invoke()
        stat.add((time.perf_counter_ns() - start) // 1000)
        now = time.perf_counter()
        run += 1
    log("INFO", stat.text() + "\n")
    return stat


class PeakMemory(threading.Thread):
    def __init__(self, interval_ms: int):
        super().__init__(daemon=True)
        self.interval = max(1, interval_ms) / 1000
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, footprint_kb())
            if self.stop.wait(self.interval):
                return


def main(argv: list[str]) -> int:
    params, given, unknown = parse_flags(argv)
    log("INFO", "STARTING!")
    log("INFO", "Log parameter values verbosely: [0]")
    for name, label in PARAM_LABELS:
        if name in given or name == "graph":
            v = params[name]
            log("INFO", f"{label}: [{int(v) if isinstance(v, bool) else fmt(v) if isinstance(v, float) else v}]")
        if name == "graph":
            log("INFO", "Signature to run: []")
    if unknown:
        log("WARN", "Unconsumed cmdline flags: " + " ".join(unknown))
    graph = params["graph"]
    if not graph:
        log("ERROR", "Please specify the name of your TF Lite input file with --graph")
        log("ERROR", "Benchmarking failed.")
        return 1

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    peak = PeakMemory(params["memory_footprint_check_interval_ms"]) if params["report_peak_memory_footprint"] else None
    if peak:
        peak.start()
    start_kb = footprint_kb()
    t_init = time.perf_counter_ns()
    try:
        with open(graph, "rb") as f:
            model_bytes = f.read()
    except OSError:
        log("ERROR", f"Failed to mmap model {graph}")
        log("ERROR", "Benchmarking failed.")
        return 1
    log("INFO", f"Loaded model {graph}")
    log("INFO", "Initialized TensorFlow Lite runtime.")
    no_default = "use_xnnpack" in given and not params["use_xnnpack"]
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if no_default else OpResolverType.AUTO
    threads = params["num_threads"] if params["num_threads"] > 0 else None
    try:
        interpreter = Interpreter(model_content=model_bytes, num_threads=threads, experimental_op_resolver_type=resolver)
    except (ValueError, RuntimeError) as e:
        log("ERROR", str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__)
        log("ERROR", "Benchmarking failed.")
        return 1
    t_alloc = time.perf_counter_ns()
    try:
        interpreter.allocate_tensors()
    except RuntimeError as e:
        for line in str(e).strip().splitlines():
            log("ERROR", line)
        log("ERROR", "Failed to allocate tensors!")
        log("ERROR", "Benchmarking failed.")
        return 1
    alloc_us = (time.perf_counter_ns() - t_alloc) // 1000
    report_delegation(interpreter, model_node_count(model_bytes), params, given, no_default)
    init_us = (time.perf_counter_ns() - t_init) // 1000
    init_kb = footprint_kb() - start_kb
    log("INFO", f"The input model file size (MB): {fmt(len(model_bytes) / 1e6)}")
    log("INFO", f"Initialized session in {fmt(init_us / 1e3)}ms.")

    rng = np.random.default_rng()
    inputs = random_inputs(interpreter, rng)
    warmup = run_loop(interpreter, inputs, params["warmup_runs"], params["warmup_min_secs"], params["max_secs"])
    regular = run_loop(interpreter, inputs, params["num_runs"], params["min_secs"], params["max_secs"])
    overall_kb = footprint_kb() - start_kb
    log("INFO", f"Inference timings in us: Init: {init_us}, First inference: {warmup.values[0]}, "
        f"Warmup (avg): {fmt(warmup.avg)}, Inference (avg): {fmt(regular.avg)}")
    log("INFO", "Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE "
        "to the actual memory footprint of the model at runtime. Take the information at your discretion.")
    log("INFO", f"Memory footprint delta from the start of the tool (MB): init={fmt(init_kb / 1024.0)} "
        f"overall={fmt(overall_kb / 1024.0)}")
    if peak:
        peak.stop.set()
        peak.join()
    if peak and peak.peak_kb > 0:  # the tool prints these only with a valid peak
        status = proc_status_kb()
        rss, shared = status.get("VmRSS", 0) >> 10, (status.get("RssFile", 0) + status.get("RssShmem", 0)) >> 10
        log("INFO", f"Overall peak memory footprint (MB) via periodic monitoring: {fmt(peak.peak_kb / 1024.0)}")
        log("INFO", "Memory status at the end of exeution:")  # sic, as the tool prints it
        log("INFO", f"- VmRSS              : {rss} MB")
        log("INFO", f"+ RssAnnon           : {rss - shared} MB")
        log("INFO", f"+ RssFile + RssShmem : {shared} MB")
    if params["enable_op_profiling"]:
        init_rows = [{"type": "AllocateTensors", "name": "AllocateTensors/0", "times": [alloc_us]}]
        log("INFO", "Profiling Info for Benchmark Initialization:\n" + profile_tables(init_rows) + "\n")
        op_rows = time_each_op(model_bytes, regular.count, threads, resolver, rng)
        log("INFO", "Operator-wise Profiling Info for Regular Benchmark Runs:\n" + profile_tables(op_rows) + "\n")
    return 0


# -- op profiling -------------------------------------------------------------------------


def time_each_op(model_bytes: bytes, runs: int, threads, resolver, rng) -> list[dict]:
    """Time every operator of the main graph alone, `runs` times, in a one-operator model."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.interpreter import Interpreter

    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if k.isupper()}
    model = fb.ModelT.InitFromPackedBuf(model_bytes, 0)
    graph = model.subgraphs[0]
    ops, buffers, empty = list(graph.operators), list(model.buffers), fb.BufferT()
    model.signatureDefs = []

    def constant(t: int) -> bool:
        data = buffers[graph.tensors[t].buffer].data
        return data is not None and len(data) > 0

    rows = []
    for index, op in enumerate(ops):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        op_type = names.get(builtin, "CUSTOM") if builtin != fb.BuiltinOperator.CUSTOM else code.customCode.decode()
        outputs = [t for t in op.outputs if t >= 0]
        name = "[" + ", ".join(graph.tensors[t].name.decode() for t in outputs) + f"]:{index}"
        used = {graph.tensors[t].buffer for t in list(op.inputs) + outputs if t >= 0}
        graph.operators = [op]
        graph.inputs = [t for t in op.inputs if t >= 0 and not constant(t)]
        graph.outputs = outputs
        model.buffers = [b if i in used else empty for i, b in enumerate(buffers)]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        try:
            it = Interpreter(model_content=bytes(builder.Output()), num_threads=threads,
                             experimental_op_resolver_type=resolver)
            it.allocate_tensors()
            details, inputs = it.get_input_details(), random_inputs(it, rng)
            times = []
            for _ in range(max(1, runs)):
                for d, x in zip(details, inputs):
                    it.set_tensor(d["index"], x)
                start = time.perf_counter_ns()
                it.invoke()
                times.append((time.perf_counter_ns() - start) // 1000)
        except (ValueError, RuntimeError) as e:
            log("WARN", f"Node {index} ({op_type}) could not be timed on its own: {str(e).strip()[:200]}")
            continue
        rows.append({"type": op_type, "name": name, "times": times})
    return rows


def _field(value, width: int) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return "\t" + text.rjust(width)


def _table(title: str, rows: list[dict], total_us: float) -> str:
    out = ["=" * 30 + f" {title} " + "=" * 30]
    out.append("".join(_field(h, w) for h, w in (("[node type]", 24), ("[first]", 9), ("[avg ms]", 9), ("[%]", 8),
                                                  ("[cdf%]", 8), ("[mem KB]", 10), ("[times called]", 9)))
               + "\t[Name]")
    cumulative = 0
    for r in rows:
        cumulative += sum(r["times"])
        out.append(
            _field(r["type"], 24) + _field(r["times"][0] / 1000.0, 9)
            + _field(sum(r["times"]) / len(r["times"]) / 1000.0, 9)
            + _field(sum(r["times"]) * 100.0 / total_us, 7) + "%" + _field(cumulative * 100.0 / total_us, 7) + "%"
            + _field(0.0, 10) + _field(1, 9) + "\t" + r["name"]
        )
    return "\n".join(out) + "\n\n"


def profile_tables(rows: list[dict]) -> str:
    """StatsCalculator::GetOutputString: run order, top by time, by node type, short summary."""
    if not rows:
        return "Memory (bytes): count=0\n0 nodes observed\n"
    n_runs = min(len(r["times"]) for r in rows)
    totals = Stat()
    for k in range(n_runs):
        totals.add(sum(r["times"][k] for r in rows))
    total_us = float(sum(totals.values)) or 1.0
    by_time = sorted(rows, key=lambda r: -sum(r["times"]) / len(r["times"]))[:10]
    text = _table("Run Order", rows, total_us) + _table("Top by Computation Time", by_time, total_us)
    per_type: dict[str, list[int]] = {}
    for r in rows:
        agg = per_type.setdefault(r["type"], [0, 0])
        agg[0] += 1
        agg[1] += sum(r["times"]) // n_runs
    accumulated = sum(t for _, t in per_type.values()) or 1
    lines = [f"Number of nodes executed: {len(rows)}", "=" * 30 + " Summary by node type " + "=" * 30]
    lines.append("".join(_field(h, w) for h, w in (("[Node type]", 24), ("[count]", 9), ("[avg ms]", 10),
                                                    ("[avg %]", 11), ("[cdf %]", 11), ("[mem KB]", 10),
                                                    ("[times called]", 10))))
    cdf = 0.0
    for node_type, (count, us) in sorted(per_type.items(), key=lambda kv: (kv[1][1], kv[0]), reverse=True):
        pct = us / accumulated * 100.0
        cdf += pct
        lines.append(_field(node_type, 24) + _field(count, 9) + _field(us / 1000.0, 10) + _field(pct, 10) + "%"
                     + _field(cdf, 10) + "%" + _field(0.0, 10) + _field(count, 9))
    text += "\n".join(lines) + "\n\n"
    text += f"Timings (microseconds): {totals.text(percentiles=False)}\nMemory (bytes): count=0\n"
    text += f"{len(rows)} nodes observed\n"
    return text


def report_delegation(interpreter, total_nodes: int, params: dict, given: set, no_default: bool) -> None:
    """The delegation lines, from the graph LiteRT actually built (after allocate_tensors)."""
    nodes = interpreter._get_ops_details()
    original, delegates = nodes[:total_nodes], [n for n in nodes[total_nodes:] if n["op_name"] == "DELEGATE"]
    producer = {int(t): n["index"] for n in original for t in n["outputs"]}
    replaced: set[int] = set()
    for d in delegates:  # walk back from each partition's outputs to its inputs
        boundary, stack = {int(t) for t in d["inputs"]}, [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            node = producer.get(t)
            if t in boundary or node is None or node in replaced:
                continue
            replaced.add(node)
            stack.extend(int(x) for x in original[node]["inputs"] if x >= 0)
    if delegates and not no_default:
        log("VERBOSE", f"Replacing {len(replaced)} out of {total_nodes} node(s) with delegate (TfLiteXNNPackDelegate) "
            f"node, yielding {len(delegates)} partitions for subgraph 0.")
    for flag, name in (("use_gpu", "GPU"), ("use_nnapi", "NNAPI")):
        if params[flag]:
            log("WARN", f"{name} acceleration is unsupported on this platform.")
    if "use_xnnpack" in given and params["use_xnnpack"]:
        log("INFO", "XNNPACK delegate created.")
        if delegates and len(replaced) == total_nodes and len(delegates) == 1:
            log("INFO", "Explicitly applied XNNPACK delegate, and the model graph will be completely executed "
                "by the delegate.")
        elif delegates:
            log("INFO", "Explicitly applied XNNPACK delegate, and the model graph will be partially executed "
                f"by the delegate w/ {len(delegates)} delegate kernels.")
        else:
            log("INFO", "Though XNNPACK delegate is explicitly applied, the model graph will not be executed "
                "by the delegate.")


def model_node_count(model_bytes: bytes) -> int:
    from ai_edge_litert import schema_py_generated as fb

    model = fb.Model.GetRootAs(model_bytes, 0)
    return model.Subgraphs(0).OperatorsLength() if model.SubgraphsLength() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
