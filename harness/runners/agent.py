"""Run the on-device agent (harness/agent/agent.py) over any command transport.

Push the agent and the model (skipped when the target already has them), start the
agent under the profile's affinity mask, and turn its JSON lines into raw events in
the recorder as they arrive. SIGTERM to the harness terminates the agent, which
flushes what it measured; the record keeps it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pydantic import Field

from harness.agent import AGENT_PATH
from harness.agent.agent import MLPERF_MAX_S
from harness.errors import HarnessError, RuntimeFailure, TransportConfigError, error_from_device_text
from harness.runners.agent_events import AgentEvents
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.runners.toolrun import ToolOutput, model_remote, push_files, run_tool

# Allowance for load, init, first inference and warmup beyond the steady-state cap.
_START_ALLOWANCE_S = 180.0


class AgentOptions(RunnerOptions):
    op_profile: int = Field(0, ge=0, description="per-op profiling iterations after the run (onnx; --op-profile)")


def agent_argv(ctx: RunContext, python: str, agent: str, model: str, inputs: str | None) -> list[str]:
    cfg, stop = ctx.config, ctx.config.stop
    argv = [python, agent, "--model", model, "--runtime", cfg.runtime, "--seed", str(cfg.seed)]
    argv += ["--stop", stop.mode]
    argv += ["--ci-target", repr(stop.ci_target), "--min-iters", str(stop.min_iters)]
    argv += ["--min-time", repr(stop.min_time_s), "--max-time", repr(stop.max_time_s)]
    argv += ["--warmup-min", str(stop.warmup_min), "--warmup-max-time", repr(stop.warmup_max_s)]
    if stop.count is not None:
        argv += ["--count", str(stop.count)]
    if stop.time_s is not None:
        argv += ["--time", repr(stop.time_s)]
    if stop.processes is not None:
        argv += ["--processes", str(stop.processes)]
    if cfg.threads:
        argv += ["--threads", str(cfg.threads)]
    if inputs:
        argv += ["--inputs", inputs]
    if ctx.options.op_profile:
        argv += ["--op-profile", str(ctx.options.op_profile)]
    if ctx.pid_file:
        argv += ["--pid-file", ctx.pid_file]
    return argv


def deadline_s(ctx: RunContext) -> float:
    """Longest the agent may take before it is killed as hung."""
    stop = ctx.config.stop
    cap = MLPERF_MAX_S if stop.mode == "mlperf" else stop.max_time_s
    if stop.mode != "adaptive":  # each worker process runs the whole fixed rule
        cap *= stop.processes or 1
    return cap + stop.warmup_max_s + _START_ALLOWANCE_S


class AgentRunner(Runner):
    name = "agent"
    runtimes = ("tflite", "onnx")
    formats = ("tflite", "onnx")
    runtime_formats = {"tflite": ("tflite",), "onnx": ("onnx",)}
    stop_modes = ("adaptive", "fixed", "mlperf")
    # no delegates: the agent runs LiteRT's default CPU kernels (XNNPACK) and onnxruntime's
    # CPU provider; --delegate is refused at plan time (use --runtime benchmark_model)
    delegates = ()
    Options = AgentOptions
    description = "harness' on-device agent (Python): LiteRT / tflite_runtime or onnxruntime, per-iteration samples"

    def run(self, ctx: RunContext) -> None:
        t = ctx.transport
        rec = ctx.recorder
        if ctx.config.runtime == "tflite" and ctx.options.op_profile:
            rec.notes.append("op profiling: the agent has no per-op times for tflite models (use benchmark_model)")

        rec.stage = "push"
        agent_remote = t.path("agent", "agent.py")
        model_rem = model_remote(t, ctx.model.sha256, ctx.model_path)
        files = [(AGENT_PATH, agent_remote), (ctx.model_path, model_rem)]
        inputs_remote = None
        if ctx.config.inputs:
            src = Path(ctx.config.inputs)
            inputs_remote = t.path("inputs", src.name)
            files.append((src, inputs_remote))
        push_files(t, files)

        rec.stage = "start"
        argv = agent_argv(ctx, t.agent_python(), agent_remote, model_rem, inputs_remote)
        rec.notes.append("agent command: " + shlex.join(["taskset", ctx.config.affinity_mask, *argv]
                                                        if ctx.config.affinity_mask else argv))
        events = AgentEvents(ctx)
        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=deadline_s(ctx), on_line=events.feed, cancel=ctx.cancel,
                     affinity_mask=ctx.config.affinity_mask, what="agent", output=out,
                     on_started=lambda: setattr(rec, "stage", "run"))
        finally:
            events.finish()
            rec.add_raw("agent_stderr", out.stderr.splitlines())
        if events.error:
            rec.stage = events.error.stage
            text = f"{events.error.type}: {events.error.message}"
            raise error_from_device_text(text + "\n" + out.stderr, f"agent failed during {rec.stage}: {text}")
        if events.status is None:
            if ctx.cancel.is_set():
                return
            raise _exit_error(out, t.agent_python())


def _exit_error(out: ToolOutput, python: str) -> HarnessError:
    """Why the agent exited without finishing, as the failure kind it is."""
    last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
    message = f"agent exited with status {out.returncode} before finishing" + (f": {last}" if last else "")
    if out.returncode == 127:  # the shell found no such program: the profile's Python is wrong
        return TransportConfigError(f"{message} ({python} not found on the target: set defaults.python in the profile)")
    return error_from_device_text(out.stderr, message, default=RuntimeFailure)
