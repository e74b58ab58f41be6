#!/usr/bin/env python3
"""harness on-device agent: measure one model on this machine, print JSON lines.

Self-contained: the standard library plus whatever runtime the target has
(`ai_edge_litert` or `tflite_runtime` for .tflite, `onnxruntime` for .onnx, and the
numpy they depend on). It is pushed to the target and run there, so no transport
latency ever enters a timing. Every time is read from the monotonic clock
(`time.monotonic_ns`, CLOCK_MONOTONIC on Linux and Android) in nanoseconds.

Runs on Python 3.6+ (JetPack 4.6 on the Jetson Nano/TX2 ships 3.6; see
harness/agent/matrix.py for the tested Pythons and runtimes): no postponed
annotations, no 3.7+ library calls. On 3.6 the clock is `time.monotonic()` scaled to
nanoseconds (the same CLOCK_MONOTONIC; a double keeps whole nanoseconds for the
first 104 days of uptime).

Phases, each a separate number, never averaged together:
- load:  read the model file into memory;
- init:  build the interpreter/session from it and allocate tensors, set inputs;
- first: the first inference;
- warmup: at least --warmup-min iterations, then until two consecutive windows
  have medians within 5 % of each other (capped by --warmup-max-time);
- steady: until the stopping rule holds (see `should_stop`).

Output: one JSON object per line with an "event" key: hello, runtime, phase,
memory, samples (batched), mark, ops, stop, error, done. On SIGTERM/SIGINT the
agent stops after the current inference, flushes what it measured and exits 0
with a done event whose status is "aborted".

The median confidence interval and the stopping rule live here, in plain Python,
and the host's `harness.stats` imports them: the host summarises with exactly the
rule the device stopped on.
"""

import argparse
import functools
import json
import math
import os
import signal
import sys
import time

AGENT_VERSION = "1"
_Z95 = 1.959963984540054

#: CLOCK_MONOTONIC in integer nanoseconds (3.6 has no time.monotonic_ns)
monotonic_ns = getattr(time, "monotonic_ns", None) or (lambda: int(time.monotonic() * 1e9))

# -- statistics shared with the host ----------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _binom_lower_index(n: int, alpha: float) -> int:
    """Largest j (1-based) with P(Binomial(n, 1/2) <= j - 1) <= alpha / 2.

    [x_(j), x_(n+1-j)] is then a distribution-free confidence interval for the
    median with coverage >= 1 - alpha. Exact below 5000 samples, normal
    approximation (with continuity correction) above.
    """
    if n > 5000:
        return max(1, int(math.floor(n / 2.0 - _Z95 * math.sqrt(n) / 2.0 - 0.5)) + 1)
    log_half_n = -n * math.log(2.0)
    cdf = 0.0
    j = 0
    lg_n = math.lgamma(n + 1)
    while j < n:
        term = math.exp(lg_n - math.lgamma(j + 1) - math.lgamma(n - j + 1) + log_half_n)
        if cdf + term > alpha / 2.0:
            break
        cdf += term
        j += 1
    return max(j, 1)


def median_ci(sorted_values, alpha: float = 0.05):
    """(median, low, high) of already-sorted values; order-statistic CI of the median.

    Returns low/high as None when there are too few values for the requested
    coverage (n < 6 at 95 %).
    """
    n = len(sorted_values)
    if n == 0:
        return None, None, None
    mid = n // 2
    med = sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2.0
    j = _binom_lower_index(n, alpha)
    # With too few values even [min, max] does not reach the coverage.
    if 2.0 ** (1 - n) > alpha:
        return med, None, None
    return med, sorted_values[j - 1], sorted_values[n - j]


STOP_MODES = ("adaptive", "fixed", "mlperf")
MLPERF_MIN_QUERIES = 1024
MLPERF_MIN_S = 60.0
MLPERF_MAX_S = 600.0


def should_stop(rule: dict, n: int, elapsed_s: float, sorted_latencies=None):
    """The stop reason if the steady state has been measured enough, else None.

    rule: mode, ci_target, min_iters, min_time_s, max_time_s, count, time_s.
    sorted_latencies: the sorted steady-state latencies, or a function returning
    them (called only once the minimum count and time are met, so sorting is
    skipped while it cannot matter).
    - adaptive: n >= min_iters and elapsed >= min_time and the 95 % CI of the
      median lies within ±ci_target of it; or elapsed >= max_time.
    - fixed: count and/or time; with both, at least both (as benchmark_model).
    - mlperf: MLPerf Mobile SingleStream: >= 1024 queries and >= 60 s; cap 600 s.
    """
    mode = rule["mode"]
    if mode == "fixed":
        count, t = rule.get("count"), rule.get("time_s")
        if (count is None or n >= count) and (t is None or elapsed_s >= t):
            return "fixed_count_and_time" if count and t else ("fixed_count" if count else "fixed_time")
        return "max_time" if elapsed_s >= rule["max_time_s"] else None
    if mode == "mlperf":
        if n >= MLPERF_MIN_QUERIES and elapsed_s >= MLPERF_MIN_S:
            return "mlperf_min_queries_and_duration"
        return "max_time" if elapsed_s >= MLPERF_MAX_S else None
    if elapsed_s >= rule["max_time_s"]:
        return "max_time"
    if n < rule["min_iters"] or elapsed_s < rule["min_time_s"] or sorted_latencies is None:
        return None
    med, lo, hi = median_ci(sorted_latencies() if callable(sorted_latencies) else sorted_latencies)
    if lo is None or med <= 0:
        return None
    if max(med - lo, hi - med) <= rule["ci_target"] * med:
        return "ci_target_met"
    return None


def check_interval_ns(elapsed_ns: int) -> int:
    """Time until the next stopping check: 50 ms, or 5 % of the elapsed time.

    Checking less often as the run grows keeps sorting cheap and limits how many
    times the rule looks at the data (each look is a chance to stop on a lucky CI).
    """
    return max(50_000_000, elapsed_ns // 20)


def warmup_settled(latencies, window: int, tolerance: float = 0.05) -> bool:
    """True when the medians of the last two windows differ by less than `tolerance`."""
    if len(latencies) < 2 * window:
        return False
    a = sorted(latencies[-2 * window : -window])
    b = sorted(latencies[-window:])
    ma, mb = a[window // 2], b[window // 2]
    return ma > 0 and abs(mb - ma) / ma < tolerance


# -- output -----------------------------------------------------------------------------


def emit(event: str, **fields) -> None:
    fields["event"] = event
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def peak_rss_bytes():
    """Peak resident memory of this process, in bytes.

    VmHWM from /proc (reset by exec), not getrusage's ru_maxrss: on Linux the
    latter survives exec and reports the forking parent's size when larger.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


# -- runtimes ---------------------------------------------------------------------------


class Model:
    """One loaded model: `prepare()` builds it, `invoke()` runs one inference."""

    name = ""
    library = ""
    version = ""

    def prepare(self, content: bytes, threads, inputs) -> None:
        raise NotImplementedError

    def invoke(self) -> None:
        raise NotImplementedError


def tflite_interpreter_class():
    """(Interpreter class, library name, version) of the TFLite runtime the target has."""
    try:
        from ai_edge_litert import interpreter as mod

        import ai_edge_litert as pkg

        return mod.Interpreter, "ai_edge_litert", getattr(pkg, "__version__", "unknown")
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as mod

        import tflite_runtime as pkg

        return mod.Interpreter, "tflite_runtime", getattr(pkg, "__version__", "unknown")
    except ImportError:
        raise RuntimeError("no TFLite runtime: install ai-edge-litert (or tflite-runtime) on the target")


class TfliteModel(Model):
    name = "tflite"

    def __init__(self):
        self._cls, self.library, self.version = tflite_interpreter_class()

    def prepare(self, content, threads, inputs):
        kwargs = {"model_content": content}
        if threads:
            kwargs["num_threads"] = threads
        self.interp = self._cls(**kwargs)
        self.interp.allocate_tensors()
        details = self.interp.get_input_details()
        specs = [(d["name"], [int(n) for n in d["shape"]], d["dtype"]) for d in details]
        for d, value in zip(details, inputs(specs)):
            self.interp.set_tensor(d["index"], value)
        self.invoke = self.interp.invoke


class OnnxModel(Model):
    name = "onnx"
    library = "onnxruntime"

    def __init__(self):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("no ONNX runtime: install onnxruntime on the target")
        self.ort = ort
        self.version = ort.__version__
        self.profile_file = None

    def _session(self, content, threads, profile_prefix=None):
        so = self.ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        if profile_prefix:
            so.enable_profiling = True
            so.profile_file_prefix = profile_prefix
        return self.ort.InferenceSession(content, sess_options=so, providers=["CPUExecutionProvider"])

    def prepare(self, content, threads, inputs):
        import numpy as np

        self._content, self._threads = content, threads
        self.sess = self._session(content, threads)
        specs = []
        for i in self.sess.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
            specs.append((i.name, shape, _onnx_dtype(np, i.type)))
        self.feeds = {name: value for (name, _, _), value in zip(specs, inputs(specs))}
        run, feeds = self.sess.run, self.feeds
        self.invoke = lambda: run(None, feeds)

    def op_profile(self, iterations: int, workdir: str):
        """Per-node mean times from onnxruntime's profiler, in a separate session.

        Run after the steady state: profiling slows inference, so its times never
        mix with the timed samples.
        """
        sess = self._session(self._content, self._threads, os.path.join(workdir, "ort_profile"))
        for _ in range(iterations):
            sess.run(None, self.feeds)
        path = sess.end_profiling()
        try:
            with open(path) as f:
                events = json.load(f)
        finally:
            os.remove(path)
        per_node: dict = {}
        for ev in events:
            if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
                continue
            name = ev["name"][: -len("_kernel_time")]
            args = ev.get("args", {})
            entry = per_node.setdefault(name, {"name": name, "type": args.get("op_name", ""), "total_us": 0, "count": 0})
            entry["total_us"] += ev.get("dur", 0)
            entry["count"] += 1
        return [
            {"name": e["name"], "type": e["type"], "time_s": e["total_us"] / e["count"] / 1e6, "count": e["count"]}
            for e in per_node.values()
        ]


def _onnx_dtype(np, type_str: str):
    table = {
        "tensor(float)": np.float32,
        "tensor(float16)": np.float16,
        "tensor(double)": np.float64,
        "tensor(int8)": np.int8,
        "tensor(uint8)": np.uint8,
        "tensor(int16)": np.int16,
        "tensor(int32)": np.int32,
        "tensor(int64)": np.int64,
        "tensor(bool)": np.bool_,
    }
    if type_str not in table:
        raise RuntimeError(f"unsupported ONNX input type {type_str}")
    return table[type_str]


def input_maker(path, seed: int):
    """A function mapping input specs [(name, shape, dtype)] to arrays.

    Seeded random data matching each input's shape and dtype, or arrays from a
    .npy (one input) / .npz (by input name, else in order).
    """
    import numpy as np

    def random_inputs(specs):
        rng = np.random.default_rng(seed)
        out = []
        for _name, shape, dtype in specs:
            dt = np.dtype(dtype)
            if dt.kind == "f":
                out.append(rng.uniform(-1.0, 1.0, size=shape).astype(dt))
            elif dt.kind in "iu":
                info = np.iinfo(dt)
                lo, hi = max(info.min, -128), min(info.max, 127)
                out.append(rng.integers(lo, hi + 1, size=shape, dtype=dt))
            elif dt.kind == "b":
                out.append(rng.integers(0, 2, size=shape).astype(dt))
            else:
                raise RuntimeError(f"cannot make random input of dtype {dt}")
        return out

    def file_inputs(specs):
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            arrays = [loaded]
        else:
            arrays = [loaded[n] if n in loaded.files else None for n, _, _ in specs]
            if any(a is None for a in arrays):
                arrays = [loaded[k] for k in loaded.files]
        if len(arrays) != len(specs):
            raise RuntimeError(f"{path}: {len(arrays)} array(s) for {len(specs)} model input(s)")
        out = []
        for (name, shape, dtype), arr in zip(specs, arrays):
            if list(arr.shape) != list(shape):
                raise RuntimeError(f"{path}: input {name!r} has shape {list(arr.shape)}, model expects {shape}")
            out.append(arr.astype(dtype, copy=False))
        return out

    return file_inputs if path else random_inputs


# -- measurement ------------------------------------------------------------------------


class Stop:
    """Set by SIGTERM/SIGINT; checked once per inference."""

    requested = False


def _on_signal(signum, frame):
    Stop.requested = True


def measure(model: Model, args) -> int:
    mono = monotonic_ns
    stage = "load"
    try:
        t0 = mono()
        with open(args.model, "rb") as f:
            content = f.read()
        t1 = mono()
        emit("phase", name="load", start_ns=t0, dur_ns=t1 - t0)

        stage = "init"
        t0 = mono()
        model.prepare(content, args.threads, input_maker(args.inputs, args.seed))
        t1 = mono()
        emit("phase", name="init", start_ns=t0, dur_ns=t1 - t0)
        emit("memory", when="after_init", peak_rss_bytes=peak_rss_bytes())

        stage = "first"
        invoke = model.invoke
        t0 = mono()
        invoke()
        t1 = mono()
        emit("phase", name="first", start_ns=t0, dur_ns=t1 - t0)

        stage = "warmup"
        rule = {
            "mode": args.stop,
            "ci_target": args.ci_target,
            "min_iters": args.min_iters,
            "min_time_s": args.min_time,
            "max_time_s": args.max_time,
            "count": args.count,
            "time_s": args.time,
        }
        reason, n = _warmup_then_steady(invoke, args, rule)
        emit("memory", when="after_run", peak_rss_bytes=peak_rss_bytes())
        if args.op_profile and hasattr(model, "op_profile") and not Stop.requested:
            stage = "op_profile"
            emit("ops", ops=model.op_profile(args.op_profile, args.workdir))
        emit("stop", reason=reason, n=n)
        emit("done", status="aborted" if reason == "aborted" else "ok")
        return 0
    except Exception as e:  # report, with where it happened, and exit non-zero
        emit("error", stage=stage, type=type(e).__name__, message=str(e))
        emit("done", status="failed")
        return 1


def _warmup_then_steady(invoke, args, rule):
    mono = monotonic_ns
    flush_every_ns = 250_000_000

    # Warmup: timed like the steady state, kept as its own phase. The settle test
    # sorts two windows, so it runs once per window, not once per inference.
    starts, lats = [], []
    window = max(3, args.warmup_min)
    t_begin = mono()
    deadline = t_begin + int(args.warmup_max_time * 1e9)
    settled = False
    while not Stop.requested:
        t0 = mono()
        invoke()
        t1 = mono()
        starts.append(t0)
        lats.append(t1 - t0)
        n = len(lats)
        if n >= args.warmup_min:
            if n % window == 0 and warmup_settled(lats, window):
                settled = True
                break
            if t1 >= deadline:
                break
    emit("samples", phase="warmup", start_ns=starts, latency_ns=lats)
    if Stop.requested:
        return "aborted", 0
    if not settled:
        emit("warning", message=f"warmup did not settle within {args.warmup_max_time:g} s")

    # Steady state. Per inference: two clock reads, two appends, integer compares.
    # The rule is checked every 50 ms or 5 % of the elapsed time, at the fixed
    # count, and at the time limits; printing happens every 250 ms.
    adaptive = rule["mode"] == "adaptive"
    exact_count = rule["count"] if rule["mode"] == "fixed" and rule.get("count") else -1
    n_printed = 0
    ordered: list = []  # adaptive: every latency so far, sorted at each check
    pending = 0  # lats[pending:] are not yet in `ordered`
    starts, lats = [], []
    t_start = mono()
    emit("mark", name="steady_start", t_ns=t_start)
    limits = sorted(
        t_start + int(s * 1e9)
        for s in (rule["max_time_s"], rule.get("time_s"), rule.get("min_time_s"), MLPERF_MIN_S, MLPERF_MAX_S)
        if s
    )
    next_check = min(t_start + check_interval_ns(0), limits[0])
    next_flush = t_start + flush_every_ns
    n = 0

    def sorted_so_far():
        nonlocal pending
        ordered.extend(lats[pending:])
        pending = len(lats)
        ordered.sort()  # timsort: the sorted prefix plus a short run merges in ~linear time
        return ordered

    while True:
        if Stop.requested:
            reason = "aborted"
            break
        t0 = mono()
        invoke()
        t1 = mono()
        starts.append(t0)
        lats.append(t1 - t0)
        n += 1
        if t1 >= next_check or n == exact_count:
            reason = should_stop(rule, n, (t1 - t_start) / 1e9, sorted_so_far if adaptive else None)
            if reason:
                break
            next_check = t1 + check_interval_ns(t1 - t_start)
            later = [t for t in limits if t > t1]
            if later:
                next_check = min(next_check, later[0])
        if t1 >= next_flush:
            emit("samples", phase="steady", start_ns=starts, latency_ns=lats)
            if adaptive:
                ordered.extend(lats[pending:])
            n_printed += len(lats)
            starts, lats, pending = [], [], 0
            next_flush = t1 + flush_every_ns
    t_end = mono()
    emit("samples", phase="steady", start_ns=starts, latency_ns=lats)
    emit("mark", name="steady_end", t_ns=t_end)
    return reason, n_printed + len(lats)


# -- entry point ------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="agent.py", description="harness on-device agent")
    p.add_argument("--model", required=True)
    p.add_argument("--runtime", choices=("tflite", "onnx"), default=None, help="default: from the file extension")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--inputs", default=None, help=".npy or .npz with input data; default: seeded random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop", choices=STOP_MODES, default="adaptive")
    p.add_argument("--ci-target", type=float, default=0.01)
    p.add_argument("--min-iters", type=int, default=10)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--max-time", type=float, default=60.0)
    p.add_argument("--count", type=int, default=None)
    p.add_argument("--time", type=float, default=None)
    p.add_argument("--warmup-min", type=int, default=3)
    p.add_argument("--warmup-max-time", type=float, default=10.0)
    p.add_argument("--op-profile", type=int, default=0, help="iterations of per-op profiling after the run (onnx)")
    p.add_argument("--workdir", default=None, help="scratch folder; default: the model's folder")
    p.add_argument("--pid-file", default=None, help="write this process's pid here (for the telemetry sampler)")
    args = p.parse_args(argv)
    if args.stop == "fixed" and args.count is None and args.time is None:
        p.error("--stop fixed needs --count and/or --time")
    if args.runtime is None:
        args.runtime = "onnx" if args.model.lower().endswith(".onnx") else "tflite"
    args.workdir = args.workdir or os.path.dirname(os.path.abspath(args.model))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    emit(
        "hello",
        agent=AGENT_VERSION,
        pid=os.getpid(),
        python=sys.version.split()[0],
        clock="CLOCK_MONOTONIC",
        t_ns=monotonic_ns(),
        affinity=affinity,
        cpu_count=os.cpu_count(),
    )
    try:
        model = OnnxModel() if args.runtime == "onnx" else TfliteModel()
    except RuntimeError as e:
        emit("error", stage="runtime", type="RuntimeError", message=str(e))
        emit("done", status="failed")
        return 1
    emit("runtime", name=model.name, library=model.library, version=model.version, threads=args.threads)
    return measure(model, args)


if __name__ == "__main__":
    sys.exit(main())
