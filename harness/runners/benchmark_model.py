"""TFLite's `benchmark_model` binary as a runner (Android over adb; also ssh and local).

The binary comes from the host (`--benchmark-binary`, i.e. ``RunConfig.options
["benchmark_binary"]``, else the profile's ``benchmark_binary``); it is never
downloaded. It and the model are pushed to the target's work folder (skipped when
the target already has the same bytes), then run under ``taskset MASK`` with the
configured threads, delegate and op profiling. Its log is kept verbatim in the
record (``raw/benchmark_model.txt``) and parsed into the recorder:

- cold phases: ``init_s`` (the tool's Init), ``first_s`` (first warmup inference);
- statistics: benchmark_model prints aggregates only (count, mean, std, min, max,
  percentiles), so they go to ``recorder.aggregates`` with
  ``per_iteration_samples: False`` — no per-iteration samples are made up;
- memory footprint lines (bytes), delegation lines, op-profiling tables (per-op
  mean time per invocation and invocation count).

`ingest_log` turns a saved log into a run record the same way.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import CommandTimeout, HarnessError
from harness.profiles import DeviceProfile
from harness.runners.base import RunContext, Runner, Watchdog
from harness.runners.benchmark_model_log import (
    MIB,
    BenchmarkLog,
    BenchmarkLogError,
    parse_log,
)
from harness.store.record import RunConfig
from harness.store.recorder import Recorder
from harness.transports.base import CommandTransport

DELEGATES = {
    None: [],
    "cpu": ["--use_xnnpack=false"],
    "none": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
_FLAG_OPTIONS = ("use_gpu", "use_nnapi", "use_xnnpack", "enable_op_profiling")
# Allowance for push, load and init beyond the tool's own time caps.
_START_ALLOWANCE_S = 180.0


class BenchmarkModelFailed(HarnessError):
    """benchmark_model ran but reported a failure (its log is in the record)."""


#: benchmark_model's --num_runs default (see methodology: num_runs 50, min_secs 1)
BENCHMARK_MODEL_DEFAULT_RUNS = 50


def benchmark_binary(profile: DeviceProfile, config: RunConfig) -> Path:
    src = config.options.get("benchmark_binary") or profile.benchmark_binary
    if not src:
        raise HarnessError(
            f"device {profile.id!r}: no benchmark_model binary: pass --benchmark-binary PATH "
            "or set 'benchmark_binary' in the profile (it is never downloaded)"
        )
    path = Path(src).expanduser()
    if not path.is_file():
        raise HarnessError(f"{path}: benchmark_model binary not found (from --benchmark-binary or the profile)")
    return path


def benchmark_flags(ctx: RunContext, model_remote: str) -> list[str]:
    """benchmark_model's flags for this configuration (each one argument, `--name=value`)."""
    cfg, stop = ctx.config, ctx.config.stop
    flags = [f"--graph={model_remote}"]
    if cfg.threads:
        flags.append(f"--num_threads={int(cfg.threads)}")
    if stop.mode == "fixed":
        flags.append(f"--num_runs={int(stop.count or 1)}")
        flags.append(f"--min_secs={float(stop.time_s or 0.0):g}")
    else:
        # benchmark_model has no adaptive stopping: at least min_iters and min_time, at most max_time.
        flags.append(f"--num_runs={int(stop.min_iters)}")
        flags.append(f"--min_secs={float(stop.min_time_s):g}")
    flags.append(f"--max_secs={float(stop.max_time_s):g}")
    flags.append(f"--warmup_runs={int(stop.warmup_min)}")
    flags.append(f"--warmup_min_secs={min(0.5, float(stop.warmup_max_s)):g}")
    delegate = (cfg.delegate or "").lower() or None
    if delegate not in DELEGATES:
        raise HarnessError(f"unknown delegate {cfg.delegate!r} for benchmark_model (use: gpu, nnapi, xnnpack, cpu)")
    flags += DELEGATES[delegate]
    opts = cfg.options
    if opts.get("op_profile"):
        flags.append("--enable_op_profiling=true")
    for name in _FLAG_OPTIONS:
        if name in opts and opts[name] is not None:
            flags = [f for f in flags if not f.startswith(f"--{name}=")]
            flags.append(f"--{name}={'true' if opts[name] else 'false'}")
    for extra in opts.get("benchmark_args") or []:
        if not str(extra).startswith("--"):
            raise HarnessError(f"benchmark_args: {extra!r} is not a --flag=value argument")
        flags.append(str(extra))
    return flags


def deadline_s(ctx: RunContext) -> float:
    """Longest the tool may take before it is killed as hung: warmup + runs (+ op timing)."""
    cap = float(ctx.config.stop.max_time_s)
    profiling = 2.0 if ctx.config.options.get("op_profile") or ctx.config.options.get("enable_op_profiling") else 1.0
    return float(ctx.config.options.get("timeout_s") or (cap * (1.0 + profiling) + _START_ALLOWANCE_S))


def record_log(rec: Recorder, log: BenchmarkLog) -> None:
    """Put what a parsed log says into the recorder (no samples: the tool prints aggregates)."""
    if log.init_s is not None:
        rec.phases.init_s = log.init_s
    if log.first_s is not None:
        rec.phases.first_s = log.first_s
    rec.memory.update(log.memory)
    if log.runtime_version:
        rec.runtime.version = rec.runtime.version or log.runtime_version
    if log.delegate:
        rec.runtime.delegate = rec.runtime.delegate or log.delegate
    agg: dict = {
        "source": "benchmark_model",
        "per_iteration_samples": False,
        "note": "statistics printed by benchmark_model; it reports no per-iteration latencies",
        "dialect": log.dialect,
    }
    for key in ("warmup_mean_s", "inference_mean_s"):
        if getattr(log, key) is not None:
            agg[key] = getattr(log, key)
    if log.warmup is not None:
        agg["warmup"] = log.warmup.as_dict()
    if log.steady is not None:
        agg["steady"] = log.steady.as_dict()
    if log.model_size_bytes is not None:
        agg["model_file_bytes"] = log.model_size_bytes
    if log.delegations:
        agg["delegation"] = [d.as_dict() for d in log.delegations]
    if log.run_limits:
        agg["run_limits"] = log.run_limits
    if log.params:
        agg["params"] = log.params
    agg.update(log.extra)
    for prof in log.profiles:
        if prof.section == "init":
            agg["init_profile"] = [{"type": r.node_type, "name": r.name, "time_s": r.avg_s,
                                    "times_called": r.times_called} for r in prof.rows]
        elif prof.timings is not None:
            agg["op_profile_runs"] = prof.timings.as_dict()
    rec.aggregates = agg
    if log.steady is not None:
        rec.stop_reason = f"benchmark_model: {log.steady.count} runs (its own min runs / min / max seconds rule)"
    runs = next((p.timings.count for p in log.profiles if p.section == "regular" and p.timings), None)
    # a node's ':N' is its index in the model, unless XNNPACK's internal nodes repeat it: then run order
    indices = [op.index for op in log.ops]
    by_name = None not in indices and len(set(indices)) == len(indices) and not any(o.delegate_internal for o in log.ops)
    if log.ops and not by_name:
        rec.notes.append("op indices are run-order positions: the profile's node numbers repeat or are missing "
                         "(delegate-internal nodes)")
    for order, op in enumerate(log.ops):
        calls = op.times_called if op.times_called is not None else 1
        rec.add_op(
            index=op.index if by_name else order,
            type=op.node_type,
            name=op.name,
            time_s=op.avg_s if op.avg_s is not None else float("nan"),
            count=calls * runs if runs else calls,
        )
    for d in log.delegations:
        if d.kind in ("unsupported", "none", "failed"):
            rec.warnings.append(f"delegate not applied: {d.text}")
        elif d.kind == "replaced" and d.replaced_nodes is not None and d.replaced_nodes < (d.total_nodes or 0):
            rec.warnings.append(
                f"partially delegated: {d.replaced_nodes} of {d.total_nodes} nodes to {d.delegate} "
                f"in {d.partitions} partitions"
            )
    for err in log.errors if not log.failed else []:
        rec.warnings.append(f"benchmark_model error line: {err}")
    if log.error_count > len(log.errors):
        rec.warnings.append(f"benchmark_model printed {log.error_count} error lines; the first {len(log.errors)} are kept")
    rec.warnings.extend(log.parse_warnings)


class BenchmarkModelRunner(Runner):
    name = "benchmark_model"
    runtimes = ("benchmark_model",)
    transports = ("adb", "ssh", "local")

    def check(self, profile: DeviceProfile, config: RunConfig) -> None:
        benchmark_binary(profile, config)

    def run(self, ctx: RunContext) -> None:
        t = ctx.transport
        if not isinstance(t, CommandTransport):
            raise HarnessError(f"benchmark_model needs a command transport, not {t.kind}")
        rec = ctx.recorder
        rec.runtime.name = "benchmark_model"
        rec.runtime.library = "tflite benchmark_model"
        binary = benchmark_binary(ctx.profile, ctx.config)

        rec.stage = "push"
        bin_remote = t.path("benchmark_model")
        model_remote = t.path("models", ctx.model.sha256[:16], ctx.model_path.name)
        pushed = {"benchmark_model": t.push(binary, bin_remote), "model": t.push(ctx.model_path, model_remote)}
        t.run(["chmod", "755", bin_remote], timeout=30).check(f"chmod 755 {bin_remote}")
        rec.runtime.details["pushed"] = pushed

        rec.stage = "start"
        argv = [bin_remote, *benchmark_flags(ctx, model_remote)]
        if ctx.config.affinity_mask:
            argv = ["taskset", ctx.config.affinity_mask, *argv]
        rec.notes.append("benchmark_model command: " + " ".join(argv))
        # stderr joins stdout at the source, so the log keeps its order on every transport
        proc = t.start(["sh", "-c", 'exec "$@" 2>&1', "sh", *argv])

        limit = deadline_s(ctx)
        rec.stage = "run"
        lines: list[str] = []
        try:
            with Watchdog(proc, ctx.cancel, limit, cancel_grace_s=5.0, name="benchmark_model-watchdog") as dog:
                for line in proc.lines():
                    lines.append(line)
                    if line.removeprefix("INFO: ").startswith("count="):
                        ctx.progress("benchmark_model", {"stats": line})
                rc = proc.wait(timeout=30)
        except BaseException:
            self._parse_into(rec, lines, strict=False)  # keep whatever was printed before it broke
            raise
        finally:
            rec.add_raw("benchmark_model", lines)
            if proc.stderr:
                rec.add_raw("benchmark_model_stderr", proc.stderr.splitlines())
        if dog.timed_out.is_set():
            raise CommandTimeout(f"benchmark_model exceeded its {limit:.0f} s deadline and was killed")
        if ctx.cancel.is_set():
            self._parse_into(rec, lines, strict=False)
            return
        rec.stage = "parse"
        log = self._parse_into(rec, lines, strict=True)
        if log.failed or rc != 0:
            rec.stage = "run"
            why = log.failure or (log.errors[-1] if log.errors else "no error message")
            raise BenchmarkModelFailed(f"benchmark_model failed (exit status {rc}): {why}")
        if not log.has_results:
            raise BenchmarkModelFailed("benchmark_model exited without printing its results (see raw output)")

    @staticmethod
    def _parse_into(rec: Recorder, lines: list[str], strict: bool) -> BenchmarkLog | None:
        try:
            log = parse_log("\n".join(lines))
        except BenchmarkLogError:
            if strict:
                raise
            return None
        record_log(rec, log)
        return log


# -- ingest -------------------------------------------------------------------------------


def ingest_log(
    path: Path,
    device: str | None = None,
    model: str | None = None,
    results: Path | None = None,
    profile_dirs: list[Path] | None = None,
):
    """Import a saved benchmark_model log as a run record; returns (manifest, parsed log).

    A log that records a failure becomes a `failed` record with its text kept; a file
    that is not a benchmark_model log is refused (nothing is written).
    """
    import datetime as dt

    from harness.profiles import load_profile
    from harness.session import write_record
    from harness.store.record import (
        ErrorInfo,
        ModelRef,
        RunConfig,
        RuntimeInfo,
        StopRule,
    )
    from harness.store.store import RunStore

    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read: {e.strerror}") from None
    try:
        log = parse_log(text)
    except BenchmarkLogError as e:
        raise HarnessError(f"{path}: {e}") from None

    profile = load_profile(device, profile_dirs) if device else None
    model_ref = _model_ref(model, log, ModelRef)
    threads = log.params.get("Num threads") or log.params.get("#threads used for CPU inference")
    # The rule the log ran under: the runs it counted, else those it asked for, else the tool's default.
    asked = log.params.get("Min num runs", "")
    runs = (log.steady.count if log.steady and log.steady.count else None) or (
        int(asked) if asked.isdigit() and int(asked) > 0 else BENCHMARK_MODEL_DEFAULT_RUNS
    )
    stop = StopRule(mode="fixed", count=runs)
    config = RunConfig(
        runtime="benchmark_model",
        threads=int(threads) if threads and threads.lstrip("-").isdigit() and int(threads) > 0 else None,
        delegate=log.delegate,
        stop=stop,
        telemetry=False,
        thermal_gate=False,
        options={"ingested_from": str(path.resolve())},
    )
    rec = Recorder(runtime=RuntimeInfo(name="benchmark_model", library="tflite benchmark_model"))
    rec.add_raw("benchmark_model", text.splitlines())
    record_log(rec, log)
    rec.notes.append(f"ingested from {path.resolve()} (a saved benchmark_model log)")
    started = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    error = ErrorInfo(message=f"benchmark_model failed: {log.failure}", stage="run") if log.failed else None
    manifest = write_record(
        RunStore(results), rec, profile, model_ref, config, "failed" if log.failed else "ok", error, started, None
    )
    return manifest, log


def _model_ref(model: str | None, log: BenchmarkLog, ModelRef):
    """The model: a file (hashed) when --model names one, else what the log says, unhashed."""
    if model and Path(model).expanduser().is_file():
        from harness.models import resolve_model

        return resolve_model(model)[0]
    graph = log.graph or ""
    name = model or (Path(graph).stem if graph else "unknown")
    return ModelRef(
        name=name,
        path=graph or name,
        sha256="",  # the log does not say; the model file was not given
        format="tflite",
        size_bytes=int(log.model_size_bytes or 0),
    )


def ingest_json(manifest, log: BenchmarkLog) -> dict:
    """`harness ingest --json`: the run fields `harness run --json` prints, plus the log's own numbers.

    ``memory_mb`` (the field the issue asks for) is in MiB, bytes / 2**20: the unit
    benchmark_model prints as "MB". The record keeps bytes (``summary.memory``, ``*_bytes``)."""
    out = manifest.brief()
    for key in ("init_s", "first_s", "warmup_mean_s"):
        if getattr(log, key) is not None:
            out[key] = getattr(log, key)
    mb = {k.removesuffix("_bytes"): v / MIB for k, v in log.memory.items()}
    if mb:
        out["memory_mb"] = mb
    if log.ops:
        out["ops"] = [
            {"index": op.index, "type": op.node_type, "name": op.name, "time_s": op.avg_s,
             "times_called": op.times_called}
            for op in log.ops
        ]
    return out
