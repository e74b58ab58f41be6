#!/usr/bin/env python3
"""harness ceilings probe: measure this machine's compute and bandwidth ceilings.

Self-contained, like agent.py: the standard library, numpy, and the TFLite runtime
when the target has one (`ai_edge_litert` or `tflite_runtime`). Pushed to the target
with its synthetic models and run there; it prints JSON lines (an "event" key each):
hello, runtime, progress, bandwidth, compute, sanity, warning, error, done. The host
(harness/analysis/ceilings.py) turns the sweeps into ceilings.

In the manner of the Empirical Roofline Toolkit (ERT):

- Bandwidth: one kernel, ``acc[i] += a[i]`` (1 FLOP per 12 bytes: read a, read and
  write acc), swept over working-set sizes, run by every thread at once on its own
  buffers; the host finds a plateau per cache level and DRAM. Small working sets
  repeat the pass R times inside a single numpy call (a zero-stride view of `a`), so
  Python's per-call overhead does not hide cache bandwidth.
- Compute: the runtime's own FULLY_CONNECTED kernel (XNNPACK or builtin) on a
  synthetic model with constant weights N×K, resized to batch B, so each weight
  element carries 2·B ops; B sweeps 1…512 (ERT's FLOPs-per-element sweep) and the
  ceiling is the best rate. One model per dtype (fp32, int8).
- Sanity checks: numpy matmul (BLAS sgemm) and a large-array copy.

Every figure is the best of several timed trials (interference only ever slows a
trial down), and the probe records the load average before and after.

Runs on Python 3.6+, like the agent (see harness/agent/matrix.py).
"""

import argparse
import json
import os
import sys
import threading
import time

PROBE_VERSION = "1"

# step: working-set growth per bandwidth point (ERT: 1.1; quick: 2^(1/2), a third of the
# points, still 2+ per cache level); trials × trial_s per bandwidth point; compute_trials ×
# compute_s per batch, and peak_trials more at the best batch. Many short trials, best one
# kept: on a busy target, a short trial is likelier to find all threads running at once.
MODES = {
    "quick": {"step": 2 ** 0.5, "trials": 5, "trial_s": 0.02, "batches": (1, 8, 64, 256),
              "compute_trials": 10, "compute_s": 0.01, "peak_trials": 80},
    "full": {"step": 1.1, "trials": 10, "trial_s": 0.03, "batches": (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
             "compute_trials": 20, "compute_s": 0.01, "peak_trials": 300},
}


def emit(event: str, **fields) -> None:
    fields["event"] = event
    sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# -- what the machine says about itself ---------------------------------------------------


def _read(path: str):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _parse_size(text: str):
    text = text.strip().upper()
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:], 1)
    digits = text.rstrip("KMG")
    return int(digits) * mult if digits.isdigit() else None


def _count_cpus(cpu_list: str) -> int:
    n = 0
    for part in cpu_list.split(","):
        if "-" in part:
            a, b = part.split("-")
            n += int(b) - int(a) + 1
        elif part.strip():
            n += 1
    return n


def cpu_caches(cpu: int):
    """Data/unified caches of one CPU from sysfs: level, size, how many CPUs share it."""
    base = f"/sys/devices/system/cpu/cpu{cpu}/cache"
    caches = []
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return caches
    for entry in entries:
        if not entry.startswith("index"):
            continue
        kind = _read(f"{base}/{entry}/type")
        level = _read(f"{base}/{entry}/level")
        size = _read(f"{base}/{entry}/size")
        if kind not in ("Data", "Unified") or not level or not size:
            continue
        shared = _read(f"{base}/{entry}/shared_cpu_list") or str(cpu)
        caches.append({"level": int(level), "size_bytes": _parse_size(size), "shared_cpus": _count_cpus(shared)})
    return sorted(caches, key=lambda c: c["level"])


def cpu_model():
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.startswith(key) and ":" in line:
                return line.split(":", 1)[1].strip()
    return None


def mem_available_bytes():
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def loadavg():
    text = _read("/proc/loadavg")
    return float(text.split()[0]) if text else None


# -- bandwidth ----------------------------------------------------------------------------


def _bandwidth_kernel(np, per_thread_bytes: int, bytes_per_call: int):
    """(call, bytes moved per call) for ``acc += a`` over a working set of this size."""
    from numpy.lib.stride_tricks import as_strided

    n = max(256, per_thread_bytes // 8)  # a and acc, float32 each
    a = np.ones(n, np.float32)
    acc = np.zeros(n, np.float32)
    repeats = max(2, bytes_per_call // (12 * n))
    view = as_strided(a, shape=(repeats, n), strides=(0, a.itemsize), writeable=False)
    # numpy's reduce copies the first row into acc, then adds each further row in place.
    moved = n * 4 * (2 + 3 * (repeats - 1))

    def call():
        np.add.reduce(view, axis=0, out=acc)

    return call, moved


def _timed_parallel(calls: list, seconds: float) -> float:
    """Run every (call, bytes) on its own thread for about `seconds`; aggregate bytes/s."""
    stop = threading.Event()
    start = threading.Barrier(len(calls) + 1)
    done = [(0, 0.0)] * len(calls)

    def worker(i: int) -> None:
        call, moved = calls[i]
        count = 0
        start.wait()
        while not stop.is_set():
            call()
            count += 1
        done[i] = (count * moved, time.perf_counter())

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = max(end for _, end in done) - t0
    return sum(moved for moved, _ in done) / elapsed


def bandwidth_sweep(np, threads: int, mode: dict, max_total_bytes: int):
    sizes = []
    size = 8 * 1024.0
    while size * threads <= max_total_bytes:
        sizes.append(int(size) // 64 * 64)
        size *= mode["step"]
    points = []
    for i, per_thread in enumerate(sizes):
        emit("progress", stage="bandwidth", i=i, n=len(sizes), bytes_per_thread=per_thread)
        calls = [_bandwidth_kernel(np, per_thread, 16 << 20) for _ in range(threads)]
        for call, _ in calls:  # touch the pages and warm the caches
            call()
        trials = [_timed_parallel(calls, mode["trial_s"]) for _ in range(mode["trials"])]
        points.append(
            {"bytes_per_thread": per_thread, "threads": threads, "bytes_per_s": max(trials), "trials": trials}
        )
        del calls
    return points


# -- compute ------------------------------------------------------------------------------


def tflite_interpreter():
    """The agent's runtime lookup (agent.py is pushed beside this file); Nones without one."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from agent import tflite_interpreter_class

    try:
        return tflite_interpreter_class()
    except RuntimeError:
        return None, None, None


def _best_rate(invoke, work: float, seconds: float, trials: int) -> float:
    best = 0.0
    for _ in range(trials):
        count = 0
        t0 = time.perf_counter()
        end = t0 + seconds
        now = t0
        while now < end or count == 0:
            invoke()
            count += 1
            now = time.perf_counter()
        best = max(best, work * count / (now - t0))
    return best


def fc_sweep(np, interpreter_cls, path: str, dtype: str, threads: int, mode: dict):
    """ops/s of a FULLY_CONNECTED model over batch sizes (2·B ops per weight element)."""
    with open(path, "rb") as f:
        content = f.read()
    interp = interpreter_cls(model_content=content, num_threads=threads)
    inp = interp.get_input_details()[0]
    k = int(inp["shape"][-1])
    out_n = int(interp.get_output_details()[0]["shape"][-1])
    rng = np.random.default_rng(0)

    def rate_at(batch: int, trials: int) -> float:
        interp.resize_tensor_input(inp["index"], [batch, k])
        interp.allocate_tensors()
        if dtype == "fp32":
            x = rng.uniform(-1, 1, size=(batch, k)).astype(np.float32)
        else:
            x = rng.integers(-128, 128, size=(batch, k)).astype(inp["dtype"])
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return _best_rate(interp.invoke, 2.0 * batch * k * out_n, mode["compute_s"], trials)

    points = []
    for i, batch in enumerate(mode["batches"]):
        emit("progress", stage=f"compute/{dtype}", i=i, n=len(mode["batches"]), batch=batch)
        points.append({"batch": batch, "k": k, "n": out_n, "ops_per_weight": 2 * batch,
                       "ops_per_s": rate_at(batch, mode["compute_trials"])})
    # The peak decides the ridge: give the best batch more trials to find a quiet moment.
    best = max(points, key=lambda p: p["ops_per_s"])
    best["ops_per_s"] = max(best["ops_per_s"], rate_at(best["batch"], mode["peak_trials"]))
    return points


def numpy_sgemm(np, size: int, seconds: float, trials: int) -> float:
    a = np.random.default_rng(0).uniform(-1, 1, size=(size, size)).astype(np.float32)
    b = a.T.copy()
    a @ b
    return _best_rate(lambda: a @ b, 2.0 * size ** 3, seconds, trials)


def numpy_copy(np, nbytes: int, trials: int) -> float:
    """memcpy-like copy of a large array: read n + write n bytes (STREAM's convention)."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = 0.0
    for _ in range(trials):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, 2.0 * src.nbytes / (time.perf_counter() - t0))
    return best


# -- entry point --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="ceilings.py", description="harness ceilings probe")
    p.add_argument("--mode", choices=sorted(MODES), default="quick")
    p.add_argument("--threads", type=int, default=None, help="default: every CPU this process may run on")
    p.add_argument("--fc", action="append", default=[], metavar="DTYPE=PATH", help="synthetic FC model per dtype")
    p.add_argument("--max-bytes", type=int, default=None, help="largest total working set (default: 8×LLC, ≥ 64 MiB)")
    p.add_argument("--skip", action="append", default=[], choices=("bandwidth", "compute", "sanity"))
    return p.parse_args(argv)


def default_max_bytes(caches) -> int:
    llc = max((c["size_bytes"] or 0 for c in caches), default=0)
    want = max(8 * llc, 64 << 20)
    avail = mem_available_bytes()
    if avail:
        want = min(want, avail // 4)
    return int(min(want, 1 << 30))


def main(argv=None) -> int:
    args = parse_args(argv)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    threads = args.threads or len(affinity)
    # BLAS threads for the sanity matmul follow --threads; set before numpy loads.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    mode = MODES[args.mode]
    caches = cpu_caches(affinity[0] if affinity else 0)
    stage = "start"
    try:
        import numpy as np
    except ImportError:
        emit("error", stage=stage, type="ImportError", message="numpy is not installed on the target")
        emit("done", status="failed")
        return 1
    emit(
        "hello",
        probe=PROBE_VERSION,
        pid=os.getpid(),
        python=sys.version.split()[0],
        numpy=np.__version__,
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        affinity=affinity,
        threads=threads,
        caches=caches,
        mem_available_bytes=mem_available_bytes(),
        loadavg=loadavg(),
        mode=args.mode,
    )
    interpreter_cls, library, version = tflite_interpreter()
    emit("runtime", library=library, version=version)
    t_start = time.perf_counter()
    try:
        if "bandwidth" not in args.skip:
            stage = "bandwidth"
            max_bytes = args.max_bytes or default_max_bytes(caches)
            points = bandwidth_sweep(np, threads, mode, max_bytes)
            emit("bandwidth", kernel="acc[i] += a[i] (float32; 12 bytes, 1 flop per element)", points=points)
        if "compute" not in args.skip:
            for spec in args.fc:
                dtype, _, path = spec.partition("=")
                stage = f"compute/{dtype}"
                if interpreter_cls is None:
                    emit("warning", message=f"{dtype}: no TFLite runtime on the target; FULLY_CONNECTED sweep skipped")
                    continue
                points = fc_sweep(np, interpreter_cls, path, dtype, threads, mode)
                emit("compute", dtype=dtype, method=f"FULLY_CONNECTED sweep via {library} {version}", points=points)
        if "sanity" not in args.skip:
            stage = "sanity"
            emit("progress", stage="sanity", i=0, n=1)
            emit(
                "sanity",
                numpy_sgemm_flops_per_s=numpy_sgemm(np, 1024, 0.1, mode["trials"]),
                numpy_sgemm_size=1024,
                copy_bytes_per_s=numpy_copy(np, 256 << 20 if (mem_available_bytes() or 0) > (2 << 30) else 32 << 20, mode["trials"]),
            )
    except Exception as e:  # report it with where it happened
        emit("error", stage=stage, type=type(e).__name__, message=str(e))
        emit("done", status="failed")
        return 1
    emit("done", status="ok", duration_s=time.perf_counter() - t_start, loadavg=loadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
