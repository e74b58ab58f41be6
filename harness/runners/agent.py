"""Run the on-device agent (harness/agent/agent.py) over any command transport.

Push the agent and the model (skipped when the target already has them), start the
agent under the profile's affinity mask, and turn its JSON lines into raw events in
the recorder as they arrive. SIGTERM to the harness terminates the agent, which
flushes what it measured; the record keeps it.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pydantic import Field

from harness.agent import AGENT_PATH
from harness.agent.agent import MLPERF_MAX_S
from harness.errors import HarnessError, RuntimeFailure, TransportConfigError, error_from_device_text
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.runners.toolrun import ToolOutput, model_remote, push_files, run_tool
from harness.agent.matrix import outside_matrix

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
        events = _EventSink(ctx)
        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=deadline_s(ctx), on_line=events.feed, cancel=ctx.cancel,
                     affinity_mask=ctx.config.affinity_mask, what="agent", output=out,
                     on_started=lambda: setattr(rec, "stage", "run"))
        finally:
            rec.add_raw("agent_stderr", out.stderr.splitlines())
        if events.error:
            rec.stage = events.error.get("stage", "run")
            text = f"{events.error.get('type')}: {events.error.get('message')}"
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


class _EventSink:
    """Turns agent JSON lines into recorder events."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.rec = ctx.recorder
        self.iteration = 0
        self.steady = 0
        self.error: dict | None = None
        self.status: str | None = None

    def feed(self, line: str) -> None:
        try:
            ev = json.loads(line)
            kind = ev["event"]
        except (ValueError, KeyError, TypeError):
            self.rec.add_raw("agent_stdout", line)  # not ours: keep it verbatim
            return
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            self.rec.add_raw("agent_stdout", line)
            return
        if kind not in ("samples",):
            self.rec.add_raw("agent_events", line)
        handler(ev)

    def _on_hello(self, ev: dict) -> None:
        self.rec.conditions["agent"] = {k: ev.get(k) for k in ("pid", "python", "clock", "affinity", "cpu_count")}
        self.rec.timeline["agent_start_ns"] = int(ev["t_ns"])

    def _on_runtime(self, ev: dict) -> None:
        rt = self.rec.runtime
        rt.library, rt.version = ev.get("library"), ev.get("version")
        rt.details["threads"] = ev.get("threads")
        # a Python or runtime no test runs is said in the record (harness/agent/matrix.py)
        self.rec.warnings += outside_matrix(self.rec.conditions.get("agent", {}).get("python"), rt.library, rt.version)

    def _on_phase(self, ev: dict) -> None:
        setattr(self.rec.phases, f"{ev['name']}_s", ev["dur_ns"] / 1e9)
        self.rec.timeline[f"{ev['name']}_start_ns"] = int(ev["start_ns"])
        self.ctx.progress(ev["name"], {"seconds": ev["dur_ns"] / 1e9})

    def _on_memory(self, ev: dict) -> None:
        if ev.get("peak_rss_bytes") is not None:
            self.rec.memory[f"peak_rss_{ev['when']}_bytes"] = float(ev["peak_rss_bytes"])

    def _on_samples(self, ev: dict) -> None:
        phase = ev["phase"]
        for start, lat in zip(ev["start_ns"], ev["latency_ns"]):
            self.rec.add_sample(self.iteration, phase, int(start), int(lat), process=ev.get("process", 0))
            self.iteration += 1
        if phase == "steady":
            self.steady += len(ev["latency_ns"])
        self.ctx.progress(phase, {"n": self.steady})

    def _on_mark(self, ev: dict) -> None:
        self.rec.timeline[f"{ev['name']}_ns"] = int(ev["t_ns"])

    def _on_warning(self, ev: dict) -> None:
        self.rec.warnings.append(ev["message"])

    def _on_ops(self, ev: dict) -> None:
        for i, op in enumerate(ev["ops"]):
            self.rec.add_op(index=i, type=op["type"], name=op["name"], time_s=op["time_s"], count=op["count"])

    def _on_stop(self, ev: dict) -> None:
        self.rec.stop_reason = ev["reason"]

    def _on_error(self, ev: dict) -> None:
        self.error = ev

    def _on_done(self, ev: dict) -> None:
        self.status = ev["status"]
