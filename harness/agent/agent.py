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

With --processes N or auto (the adaptive default) this process supervises fresh
worker processes of itself (see `supervise`): their events come through tagged with
a "process" index, plus worker, worker_phase, worker_stop and processes events.

The intervals (order-statistic, drift-aware block medians, rerun interval over
processes) and the stopping rules live here, in plain Python, and the host's
`harness.stats` imports them: the host summarises with exactly the rule the device
stopped on.
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


def _median_sorted(sorted_values):
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2.0


def median_ci(sorted_values, alpha: float = 0.05):
    """(median, low, high) of already-sorted values; order-statistic CI of the median.

    Valid for independent samples: it describes within-run noise only (a drifting or
    autocorrelated series, or a rerun in another process, can fall far outside it).
    Returns low/high as None when there are too few values for the requested
    coverage (n < 6 at 95 %).
    """
    n = len(sorted_values)
    if n == 0:
        return None, None, None
    med = _median_sorted(sorted_values)
    j = _binom_lower_index(n, alpha)
    # With too few values even [min, max] does not reach the coverage.
    if 2.0 ** (1 - n) > alpha:
        return med, None, None
    return med, sorted_values[j - 1], sorted_values[n - j]


# Student's t, 97.5 % quantile, for 1..30 degrees of freedom (two-sided 95 %).
_T975 = (12.70620, 4.30265, 3.18245, 2.77645, 2.57058, 2.44691, 2.36462, 2.30600, 2.26216, 2.22814, 2.20099,
         2.17881, 2.16037, 2.14479, 2.13145, 2.11991, 2.10982, 2.10092, 2.09302, 2.08596, 2.07961, 2.07387,
         2.06866, 2.06390, 2.05954, 2.05553, 2.05183, 2.04841, 2.04523, 2.04227)


def t975(df: int) -> float:
    """97.5 % quantile of Student's t with `df` degrees of freedom (table, then Cornish-Fisher)."""
    if df < 1:
        raise ValueError("t quantile needs df >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z95
    return z + (z ** 3 + z) / (4.0 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96.0 * df * df)


# Drift-aware CI: block medians. The steady-state series, in time order, is cut into
# consecutive blocks of equal size; each block's median is one unit. Slow drift, steps
# and autocorrelation longer than a sample make the block medians disagree, which
# widens the interval; for independent samples it matches the order-statistic CI
# (a block median of m samples has sd ~1.25 s/sqrt(m), the same as the whole run's
# median scaled by sqrt(blocks)). The block size doubles whenever there would be
# MAX_BLOCKS blocks, so once n >= 60 there are 20-39 blocks (batch-means practice:
# 10-30+ batches, each as long as possible); stopping needs at least MIN_BLOCKS.
BLOCK_MIN_SIZE = 3
MIN_BLOCKS = 10
MAX_BLOCKS = 40


def block_size(n: int) -> int:
    """Samples per block for a series of n: BLOCK_MIN_SIZE, doubled until there are < MAX_BLOCKS."""
    m = BLOCK_MIN_SIZE
    while n // m >= MAX_BLOCKS:
        m *= 2
    return m


class BlockMedians:
    """Medians of the consecutive blocks of a growing, time-ordered series.

    `update(series)` after the series grew: only new complete blocks are sorted; when
    the block size doubles (each time n doubles) every block is recomputed from the
    series itself, never from medians. A fresh instance on the whole series gives the
    same medians, so the host recomputes exactly what the device stopped on.
    """

    def __init__(self):
        self.size = BLOCK_MIN_SIZE
        self.medians = []

    def update(self, series):
        m = block_size(len(series))
        if m != self.size:
            self.size, self.medians = m, []
        for i in range(len(self.medians), len(series) // m):
            self.medians.append(_median_sorted(sorted(series[i * m:(i + 1) * m])))
        return self.medians


def spread_interval(center, unit_medians, rerun: bool = False, unit_ses=()):
    """(low, high): a 95 % interval around `center` from independent units' medians.

    Units are blocks of one run, or whole processes. k units with standard deviation s:
    center +/- t(k-1) s / sqrt(k), the interval of the median the units share; with
    `rerun`, center +/- t(k-1) s sqrt(1 + 1/k), where the median of one more unit (a
    rerun in a fresh process) is expected to fall. `unit_ses`, each unit median's own
    standard error, put a floor under s: medians that agree more closely than their own
    noise allows did so by chance (a stopping rule would otherwise stop on such luck).
    (None, None) with fewer than 2 units.
    """
    k = len(unit_medians)
    if k < 2:
        return None, None
    mean = sum(unit_medians) / float(k)
    var = sum((v - mean) ** 2 for v in unit_medians) / (k - 1)
    if unit_ses:
        var = max(var, sum(se * se for se in unit_ses) / float(len(unit_ses)))
    s = math.sqrt(var)
    half = t975(k - 1) * s * (math.sqrt(1.0 + 1.0 / k) if rerun else 1.0 / math.sqrt(k))
    return center - half, center + half


def median_se(series):
    """Standard error of the median of one process's time-ordered series: from its block
    medians (drift-aware), else (under MIN_BLOCKS blocks) from its order-statistic CI; 0
    with fewer than 6 values."""
    blocks = BlockMedians().update(series)
    k = len(blocks)
    if k >= MIN_BLOCKS:
        mean = sum(blocks) / float(k)
        return math.sqrt(sum((v - mean) ** 2 for v in blocks) / (k - 1) / k)
    med, lo, hi = median_ci(sorted(series))
    return 0.0 if lo is None else max(med - lo, hi - med) / _Z95


def drift_ci(sorted_values, block_medians):
    """(median, low, high): the drift-aware 95 % CI of one run's median, from its block
    medians (`BlockMedians.update` of the time-ordered series); no bounds with fewer
    than MIN_BLOCKS blocks."""
    med = _median_sorted(sorted_values) if sorted_values else None
    if med is None or len(block_medians) < MIN_BLOCKS:
        return med, None, None
    lo, hi = spread_interval(med, block_medians)
    return med, lo, hi


STOP_MODES = ("adaptive", "fixed", "mlperf")
MLPERF_MIN_QUERIES = 1024
MLPERF_MIN_S = 60.0
MLPERF_MAX_S = 600.0


def should_stop(rule: dict, n: int, elapsed_s: float, interval=None):
    """The stop reason if the steady state has been measured enough, else None.

    rule: mode, ci_target, min_iters, min_time_s, max_time_s, count, time_s.
    interval: (median, low, high) of the drift-aware CI (`drift_ci`), or a function
    returning it (called only once the minimum count and time are met, so sorting is
    skipped while it cannot matter).
    - adaptive: n >= min_iters and elapsed >= min_time and the drift-aware 95 % CI of
      the median (which needs MIN_BLOCKS blocks) lies within +/-ci_target of it; or
      elapsed >= max_time.
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
    if n < rule["min_iters"] or elapsed_s < rule["min_time_s"] or interval is None:
        return None
    med, lo, hi = interval() if callable(interval) else interval
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
    worker = Workers.current
    if worker is not None and worker.poll() is None:
        worker.send_signal(signum)  # it flushes what it measured; the supervisor relays it


def rule_of(args) -> dict:
    return {
        "mode": args.stop,
        "ci_target": args.ci_target,
        "min_iters": args.min_iters,
        "min_time_s": args.min_time,
        "max_time_s": args.max_time,
        "count": args.count,
        "time_s": args.time,
    }


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
        reason, n = _warmup_then_steady(invoke, args, rule_of(args))
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
    series: list = []  # adaptive: every latency so far, in time order (for the block medians)
    blocks = BlockMedians()
    pending = 0  # lats[pending:] are not yet in `ordered` and `series`
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

    def interval_so_far():
        nonlocal pending
        new = lats[pending:]
        pending = len(lats)
        series.extend(new)
        ordered.extend(new)
        ordered.sort()  # timsort: the sorted prefix plus a short run merges in ~linear time
        return drift_ci(ordered, blocks.update(series))

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
            reason = should_stop(rule, n, (t1 - t_start) / 1e9, interval_so_far if adaptive else None)
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
                series.extend(lats[pending:])
            n_printed += len(lats)
            starts, lats, pending = [], [], 0
            next_flush = t1 + flush_every_ns
    t_end = mono()
    emit("samples", phase="steady", start_ns=starts, latency_ns=lats)
    emit("mark", name="steady_end", t_ns=t_end)
    return reason, n_printed + len(lats)


# -- processes: a supervisor re-runs this file as fresh worker processes ----------------
#
# Memory layout, thread placement and allocator state change between processes, so one
# process's median can sit outside another's CI (a user's rerun). With --processes N
# (or auto, the adaptive default) this process only supervises: it runs workers one
# after another (the same file and arguments, --processes 1), relays their events with
# a "process" index, and decides from the workers' medians when to stop. A worker is a
# plain single-process agent, so it measures exactly as one.

MIN_PROCESSES = 3
MAX_PROCESSES = 30
#: auto: the steady state may take this share of the device time the MLPerf rule takes
AUTO_BUDGET_SHARE = 0.1


class Workers:
    """The worker process running now (the signal handler forwards SIGTERM/SIGINT to it)."""

    current = None


def auto_budget_s(rule: dict, median_s) -> float:
    """Seconds the auto mode may spend over all its processes (wall time: starts, warmups
    and steady states): a tenth of the MLPerf Mobile rule's steady time (>= 60 s and
    >= 1024 queries at this median), within --max-time, and never under --min-time."""
    mlperf_s = max(MLPERF_MIN_S, MLPERF_MIN_QUERIES * (median_s or 0.0))
    return max(rule["min_time_s"], min(rule["max_time_s"], AUTO_BUDGET_SHARE * mlperf_s))


def worker_limits(rule: dict, processes, done: int, spent_s: float, budget_s: float):
    """(min_time_s, max_time_s) of the next worker's steady state, or None when no worker fits.

    auto: each worker at least --min-time / MIN_PROCESSES, at most budget / (2 MIN_PROCESSES)
    (and what is left of the budget after `spent_s`): between-process variation usually
    dominates, so the budget buys more, shorter processes (more degrees of freedom for
    the interval) rather than longer ones; the first MIN_PROCESSES always run. N:
    --min-time / N and --max-time / N each.
    """
    if processes == "auto":
        least = rule["min_time_s"] / MIN_PROCESSES
        left = budget_s - spent_s
        if left < least:
            return None if done >= MIN_PROCESSES else (least, least)
        return least, max(least, min(left, budget_s / (2 * MIN_PROCESSES)))
    n = int(processes)
    return rule["min_time_s"] / n, rule["max_time_s"] / n


def processes_verdict(rule: dict, processes, medians, ses, pooled_median, spent_s: float, budget_s: float):
    """The supervisor's stop reason once len(medians) workers finished, else None (start one more).

    The interval is `spread_interval(..., rerun=True)` over the workers' medians (`ses`:
    their standard errors, `median_se`): where a rerun's median should fall. auto stops
    when it meets --ci-target after at least MIN_PROCESSES workers, or at MAX_PROCESSES,
    or when the budget is spent.
    """
    k = len(medians)
    lo, hi = spread_interval(pooled_median, medians, rerun=True, unit_ses=ses)
    met = (rule["mode"] == "adaptive" and lo is not None and pooled_median > 0
           and max(pooled_median - lo, hi - pooled_median) <= rule["ci_target"] * pooled_median)
    if processes != "auto":
        if k < int(processes):
            return None
        return "ci_target_met" if met else "processes_done"
    if k >= MIN_PROCESSES and met:
        return "ci_target_met"
    if k >= MAX_PROCESSES:
        return "max_processes"
    if worker_limits(rule, processes, k, spent_s, budget_s) is None:
        return "max_time"
    return None


class _WorkerRun:
    """What the supervisor keeps from one worker's events."""

    def __init__(self):
        self.steady = []
        self.status = None
        self.error = False
        self.reason = None
        self.steady_s = 0.0
        self.peak_rss = None
        self._start = None


def _relay(proc, k: int, run: _WorkerRun) -> None:
    """Forward one worker's events, tagged with its process index `k`."""
    for line in proc.stdout:
        try:
            ev = json.loads(line)
            kind = ev.pop("event")
        except (ValueError, KeyError, AttributeError):
            sys.stdout.write(line)
            continue
        if kind == "hello":
            emit("worker", process=k, pid=ev.get("pid"))
        elif kind == "runtime":
            if k == 0:
                emit(kind, **ev)
        elif kind == "phase":
            emit("phase" if k == 0 else "worker_phase", process=k, **ev)
        elif kind == "memory":
            if ev.get("when") == "after_init" and k == 0:
                emit(kind, **ev)
            elif ev.get("when") == "after_run":
                run.peak_rss = ev.get("peak_rss_bytes")
        elif kind == "samples":
            if ev.get("phase") == "steady":
                run.steady.extend(ev["latency_ns"])
            emit(kind, process=k, **ev)
        elif kind == "mark":
            if ev["name"] == "steady_start":
                run._start = ev["t_ns"]
            elif ev["name"] == "steady_end" and run._start is not None:
                run.steady_s = (ev["t_ns"] - run._start) / 1e9
            # the record's steady window (energy, throttling) is the first process's
            emit(kind, name=ev["name"] if k == 0 else "{}_p{}".format(ev["name"], k), t_ns=ev["t_ns"])
        elif kind == "warning":
            emit(kind, message="process {}: {}".format(k, ev.get("message")))
        elif kind == "stop":
            run.reason = ev.get("reason")
            emit("worker_stop", process=k, **ev)
        elif kind == "error":
            run.error = True
            emit(kind, process=k, **ev)
        elif kind == "done":
            run.status = ev.get("status")
        else:
            emit(kind, process=k, **ev)


def supervise(args, argv) -> int:
    """Measure in fresh worker processes, one after another, until `processes_verdict` says stop."""
    import subprocess

    rule = rule_of(args)
    t_begin = monotonic_ns()
    # Workers run this very source, fed on stdin: a newer agent pushed over the file
    # while we run (another harness on the same target) cannot mix versions in a record.
    with open(os.path.abspath(__file__), "rb") as f:
        source = f.read()
    wall_cap_ns = int((args.max_time + args.warmup_max_time) * 1e9)  # keeps the host's deadline
    medians, ses, pooled, steady_s, peak_rss = [], [], [], 0.0, None
    budget_s = auto_budget_s(rule, None) if args.processes == "auto" else rule["max_time_s"]
    reason, last = None, None
    k = 0
    while True:
        over = []
        if rule["mode"] == "adaptive":  # processes_verdict made sure this worker fits
            least, most = worker_limits(rule, args.processes, k, (monotonic_ns() - t_begin) / 1e9, budget_s)
            over = ["--min-time", repr(least), "--max-time", repr(most)]
        if k:
            over += ["--op-profile", "0"]  # per-op profiling once, after the first process
        cmd = [sys.executable, "-"] + list(argv) + ["--processes", "1"] + over
        run = _WorkerRun()
        proc = Workers.current = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                  universal_newlines=True)
        proc.stdin.buffer.write(source)
        proc.stdin.close()
        if Stop.requested:  # a signal that came while it started
            proc.terminate()
        try:
            _relay(proc, k, run)
        finally:
            rc = proc.wait()
            Workers.current = None
        if run.error:
            emit("done", status="failed")
            return 1
        if run.status is None and not Stop.requested:
            emit("error", stage="run", type="WorkerExited", process=k,
                 message="worker process {} exited with status {} before finishing".format(k, rc))
            emit("done", status="failed")
            return 1
        if run.status == "aborted" or Stop.requested:
            reason = "aborted"
            break
        last = run.reason
        peak_rss = max(peak_rss or 0, run.peak_rss or 0) or None
        pooled.extend(run.steady)
        medians.append(_median_sorted(sorted(run.steady)) if run.steady else 0)
        ses.append(median_se(run.steady))
        steady_s += run.steady_s
        ordered = sorted(pooled)
        pooled_median = _median_sorted(ordered) if ordered else 0
        if args.processes == "auto":
            budget_s = auto_budget_s(rule, pooled_median / 1e9)
        k += 1
        spent_s = (monotonic_ns() - t_begin) / 1e9
        reason = processes_verdict(rule, args.processes, medians, ses, pooled_median, spent_s, budget_s)
        if rule["mode"] != "adaptive" and reason == "processes_done":
            reason = last  # fixed/mlperf: each process ran the whole rule
        if reason is None and rule["mode"] == "adaptive" and monotonic_ns() - t_begin > wall_cap_ns:
            reason = "max_time"
        if reason:
            break
    lo, hi = spread_interval(_median_sorted(sorted(pooled)) if pooled else 0, medians, rerun=True, unit_ses=ses)
    emit("processes", count=len(medians), medians_ns=medians, rerun_interval_ns=[lo, hi],
         steady_s=steady_s, budget_s=budget_s)
    emit("memory", when="after_run", peak_rss_bytes=peak_rss)
    emit("stop", reason=reason, n=len(pooled), processes=len(medians))
    emit("done", status="aborted" if reason == "aborted" else "ok")
    return 0


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
    p.add_argument("--pid-file", default=None, help="write this process's pid here (for the telemetry sampler);"
                   " with several processes, each worker writes its own")
    p.add_argument("--processes", default=None,
                   help="measure in N fresh worker processes, or 'auto' (adaptive default: at least 3, more until "
                        "the rerun interval meets --ci-target or a tenth of the MLPerf rule's time is spent); "
                        "fixed/mlperf default: 1")
    args = p.parse_args(argv)
    if args.processes is None:
        args.processes = "auto" if args.stop == "adaptive" else "1"
    if args.processes != "auto" and not (args.processes.isdigit() and int(args.processes) >= 1):
        p.error("--processes takes a count >= 1 or 'auto'")
    if args.stop == "fixed" and args.count is None and args.time is None:
        p.error("--stop fixed needs --count and/or --time")
    if args.runtime is None:
        args.runtime = "onnx" if args.model.lower().endswith(".onnx") else "tflite"
    args.workdir = args.workdir or os.path.dirname(os.path.abspath(args.model))
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    supervising = args.processes != "1"
    if args.pid_file and not supervising:  # the sampler follows the process that measures
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
        processes=args.processes,
    )
    if supervising:
        return supervise(args, argv)
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
