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

from pydantic import Field

from harness.errors import HarnessError, RuntimeFailure, error_from_device_text
from harness.profiles import DeviceProfile
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.runners.benchmark_model_log import (
    BenchmarkLog,
    BenchmarkLogError,
    parse_log,
)
from harness.runners.toolrun import ToolOutput, model_remote, push_files, run_tool
from harness.store.record import RunConfig, StopRule
from harness.store.recorder import Recorder
from harness.store.results import AggregateStats, ToolAggregates

DELEGATES = {
    "cpu": ["--use_xnnpack=false"],
    "none": ["--use_xnnpack=false"],
    "xnnpack": ["--use_xnnpack=true"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
_FLAG_OPTIONS = ("use_gpu", "use_nnapi", "use_xnnpack", "enable_op_profiling")
# Allowance for push, load and init beyond the tool's own time caps.
_START_ALLOWANCE_S = 180.0

#: benchmark_model's --num_runs default (see methodology: num_runs 50, min_secs 1)
BENCHMARK_MODEL_DEFAULT_RUNS = 50


class BenchmarkModelOptions(RunnerOptions):
    benchmark_binary: str | None = Field(None, description="host path of the binary (--benchmark-binary); "
                                                           "default: the profile's benchmark_binary")
    op_profile: int = Field(0, ge=0, description="turn on the tool's op profiling (--op-profile)")
    use_gpu: bool | None = Field(None, description="the tool's --use_gpu flag")
    use_nnapi: bool | None = Field(None, description="the tool's --use_nnapi flag")
    use_xnnpack: bool | None = Field(None, description="the tool's --use_xnnpack flag")
    enable_op_profiling: bool | None = Field(None, description="the tool's --enable_op_profiling flag")
    benchmark_args: list[str] = Field(default_factory=list, description="more --flag=value arguments, as given")
    timeout_s: float | None = Field(None, gt=0, description="kill the tool after this many seconds")


def benchmark_binary(profile: DeviceProfile, options: BenchmarkModelOptions) -> Path:
    src = options.benchmark_binary or profile.benchmark_binary
    if not src:
        raise HarnessError(
            f"device {profile.id!r}: no benchmark_model binary: pass --benchmark-binary PATH "
            "or set 'benchmark_binary' in the profile (it is never downloaded)"
        )
    path = Path(src).expanduser()
    if not path.is_file():
        raise HarnessError(f"{path}: benchmark_model binary not found (from --benchmark-binary or the profile)")
    return path


def benchmark_flags(config: RunConfig, options: BenchmarkModelOptions, model_remote: str) -> list[str]:
    """benchmark_model's flags for this configuration (each one argument, `--name=value`)."""
    stop = config.stop
    flags = [f"--graph={model_remote}"]
    if config.threads:
        flags.append(f"--num_threads={int(config.threads)}")
    # the tool's own rule: at least num_runs and min_secs, at most max_secs
    flags.append(f"--num_runs={int(stop.count or 1)}")
    flags.append(f"--min_secs={float(stop.time_s or 0.0):g}")
    flags.append(f"--max_secs={float(stop.max_time_s):g}")
    flags.append(f"--warmup_runs={int(stop.warmup_min)}")
    flags.append(f"--warmup_min_secs={min(0.5, float(stop.warmup_max_s)):g}")
    flags += DELEGATES.get(config.delegate or "", [])
    if options.op_profile:
        flags.append("--enable_op_profiling=true")
    for name in _FLAG_OPTIONS:
        value = getattr(options, name)
        if value is not None:
            flags = [f for f in flags if not f.startswith(f"--{name}=")]
            flags.append(f"--{name}={'true' if value else 'false'}")
    for extra in options.benchmark_args:
        if not str(extra).startswith("--"):
            raise HarnessError(f"benchmark_args: {extra!r} is not a --flag=value argument")
        flags.append(str(extra))
    return flags


def deadline_s(config: RunConfig, options: BenchmarkModelOptions) -> float:
    """Longest the tool may take before it is killed as hung: warmup + runs (+ op timing)."""
    cap = float(config.stop.max_time_s)
    profiling = 2.0 if options.op_profile or options.enable_op_profiling else 1.0
    return float(options.timeout_s or (cap * (1.0 + profiling) + _START_ALLOWANCE_S))


def _stats(t) -> AggregateStats:
    return AggregateStats.from_tool(t.as_dict())


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
    details: dict = {"dialect": log.dialect}
    if log.model_size_bytes is not None:
        details["model_file_bytes"] = log.model_size_bytes
    if log.delegations:
        details["delegation"] = [d.as_dict() for d in log.delegations]
    if log.run_limits:
        details["run_limits"] = log.run_limits
    if log.params:
        details["params"] = log.params
    details.update(log.extra)
    for prof in log.profiles:
        if prof.section == "init":
            details["init_profile"] = [{"type": r.node_type, "name": r.name, "time_s": r.avg_s,
                                        "times_called": r.times_called} for r in prof.rows]
        elif prof.timings is not None:
            details["op_profile_runs"] = prof.timings.as_dict()
    rec.set_result(ToolAggregates(
        source="benchmark_model",
        note="statistics printed by benchmark_model; it reports no per-iteration latencies",
        warmup=_stats(log.warmup) if log.warmup is not None else None,
        steady=_stats(log.steady) if log.steady is not None else None,
        warmup_mean_s=log.warmup_mean_s,
        inference_mean_s=log.inference_mean_s,
        details=details,
    ))
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


def failure_error(log: BenchmarkLog, message: str) -> HarnessError:
    """The typed error for a log that records a failure (bad model, unsupported op, …)."""
    return error_from_device_text("\n".join([log.failure or "", *log.errors]), message, default=RuntimeFailure)


class BenchmarkModelRunner(Runner):
    name = "benchmark_model"
    runtimes = ("benchmark_model",)
    formats = ("tflite",)
    stop_modes = ("fixed",)  # the tool has its own min runs / min seconds rule, no adaptive stopping
    delegates = tuple(DELEGATES)
    Options = BenchmarkModelOptions
    description = "TFLite's benchmark_model binary (pushed from the host): aggregates, op profiles, delegates"

    def default_stop(self) -> StopRule:
        return StopRule(mode="fixed", count=BENCHMARK_MODEL_DEFAULT_RUNS, time_s=1.0)

    def check(self, profile: DeviceProfile, config: RunConfig) -> None:
        benchmark_binary(profile, self.options_for(config))

    def run(self, ctx: RunContext) -> None:
        t = ctx.transport
        rec = ctx.recorder
        opts: BenchmarkModelOptions = ctx.options
        rec.runtime.name = "benchmark_model"
        rec.runtime.library = "tflite benchmark_model"
        binary = benchmark_binary(ctx.profile, opts)

        rec.stage = "push"
        bin_remote = t.path("benchmark_model")
        model_rem = model_remote(t, ctx.model.sha256, ctx.model_path)
        sent = push_files(t, [(binary, bin_remote), (ctx.model_path, model_rem)])
        t.run(["chmod", "755", bin_remote], timeout=30).check(f"chmod 755 {bin_remote}")
        rec.runtime.details["pushed"] = {"benchmark_model": sent[bin_remote], "model": sent[model_rem]}

        rec.stage = "start"
        argv = [bin_remote, *benchmark_flags(ctx.config, opts, model_rem)]
        shown = ["taskset", ctx.config.affinity_mask, *argv] if ctx.config.affinity_mask else argv
        rec.notes.append("benchmark_model command: " + " ".join(shown))
        lines: list[str] = []

        def on_line(line: str) -> None:
            lines.append(line)
            if line.removeprefix("INFO: ").startswith("count="):
                ctx.progress("benchmark_model", {"stats": line})

        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=deadline_s(ctx.config, opts), on_line=on_line, cancel=ctx.cancel,
                     affinity_mask=ctx.config.affinity_mask, merge_stderr=True, cancel_grace_s=5.0,
                     what="benchmark_model", output=out, on_started=lambda: setattr(rec, "stage", "run"))
        except BaseException:
            self._parse_into(rec, lines, strict=False)  # keep whatever was printed before it broke
            raise
        finally:
            rec.add_raw("benchmark_model", lines)
            if out.stderr:
                rec.add_raw("benchmark_model_stderr", out.stderr.splitlines())
        if out.cancelled:
            self._parse_into(rec, lines, strict=False)
            return
        rec.stage = "parse"
        log = self._parse_into(rec, lines, strict=True)
        if log.failed or out.returncode != 0:
            rec.stage = "run"
            why = log.failure or (log.errors[-1] if log.errors else "no error message")
            raise failure_error(log, f"benchmark_model failed (exit status {out.returncode}): {why}")
        if not log.has_results:
            raise RuntimeFailure("benchmark_model exited without printing its results (see raw output)")

    @staticmethod
    def _parse_into(rec: Recorder, lines: list[str], strict: bool) -> BenchmarkLog | None:
        try:
            log = parse_log("\n".join(lines))
        except BenchmarkLogError as e:
            if strict:  # the tool printed something that is not its log
                raise RuntimeFailure(f"benchmark_model output: {e}") from None
            return None
        record_log(rec, log)
        return log
