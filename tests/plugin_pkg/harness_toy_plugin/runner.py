"""The toy runner: one module and one entry-point line, nothing in harness names it.

It declares its runtime, format, transport capability, stop modes and options; pushes its
tool and the model with harness' hash cache, runs the tool through harness' tool-run
helper and records one sample per inference plus a result kind of its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from harness.errors import RuntimeFailure
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.runners.toolrun import ToolOutput, model_remote, push_files, run_tool
from harness.store.record import StopRule
from harness.store.results import RunnerResult
from harness.transports.base import CommandTransport

TOOL = Path(__file__).with_name("toy_tool.py")


class ToyStats(RunnerResult):
    """A result kind defined in the plugin's own module."""

    kind: Literal["toy_stats"] = "toy_stats"
    inferences: int
    tool_version: str | None = None


class ToyOptions(RunnerOptions):
    label: str = Field("toy", description="a free label, recorded")


class ToyRunner(Runner):
    name = "toy"
    runtimes = ("toy",)
    formats = ("toy",)
    transport = CommandTransport
    stop_modes = ("fixed",)
    Options = ToyOptions
    description = "toy runner from an installed plugin (tests)"

    def default_stop(self) -> StopRule:
        return StopRule(mode="fixed", count=5)

    def run(self, ctx: RunContext) -> None:
        t, rec = ctx.transport, ctx.recorder
        rec.stage = "push"
        tool_remote = t.path("toy", "toy_tool.py")
        model_rem = model_remote(t, ctx.model.sha256, ctx.model_path)
        push_files(t, [(TOOL, tool_remote), (ctx.model_path, model_rem)])
        stats = rec.set_result(ToyStats(inferences=0))

        def on_line(line: str) -> None:
            ev = json.loads(line)
            if ev["event"] == "hello":
                rec.runtime.version = stats.tool_version = ev["version"]
            else:
                rec.add_sample(ev["i"], "steady", ev["start_ns"], ev["latency_ns"])
                stats.inferences += 1

        rec.stage = "run"
        out = ToolOutput()
        run_tool(t, [t.agent_python(), tool_remote, model_rem, str(ctx.config.stop.count)], deadline_s=60,
                 on_line=on_line, cancel=ctx.cancel, affinity_mask=ctx.config.affinity_mask, what="toy", output=out)
        if out.returncode != 0 and not out.cancelled:
            raise RuntimeFailure(f"toy tool exited with status {out.returncode}: {out.stderr.strip()[-200:]}")
        rec.stop_reason = f"toy: {stats.inferences} inferences ({ctx.options.label})"
