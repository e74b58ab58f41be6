"""llama.cpp's `llama-bench` as a runner (local, ssh, adb): prefill and decode tokens/s per repetition.

The target's llama-bench (the profile's ``tools.llama-bench``, a path there or a host file
pushed; else found on its PATH; never downloaded) runs the GGUF (pushed with the hash cache)
under the run's affinity mask, once for the whole sweep::

    llama-bench -m MODEL -p P1,P2 -n N1,N2 -d D1,D2 -r COUNT -o jsonl [-t T] [-ngl L] [-b B] [-ub U] [-fa X]

Its output (``-o jsonl`` by default: one line per test, with every repetition's time) is kept
verbatim (``raw/llama_bench``) and recorded as sample rows, tokens as the unit, one per
repetition (phase ``prefill`` for ppN, ``decode`` for tgN, ``prefill+decode`` for pgN), and an
`LlmResult` computed from them with the model's static costs per phase (see
`harness.llm.record`). llama-bench reports no TTFT, per-token spread or memory: that is the
`llama_ttft` runner. ``-o output=md|csv`` (old builds) gives the tool's averages only.
"""

from __future__ import annotations

import json
import shlex
from typing import Literal

from pydantic import Field

from harness.errors import HarnessError, RuntimeFailure, error_from_device_text
from harness.llm.record import CostsFor, PhaseRows, bench_config
from harness.logs.llama_bench import LlamaBenchLog, LlamaLogError, parse_llama_bench
from harness.profiles import DeviceProfile
from harness.runners.base import RunContext
from harness.runners.llama_common import DEFAULT_TIMEOUT_S, LlamaOptions, LlamaRunner, model_costs, with_pid_file
from harness.runners.toolrun import ToolOutput, model_remote, pinned, push_files, run_tool, target_tool
from harness.store.record import RunConfig
from harness.store.recorder import Recorder

TOOL = "llama-bench"


class LlamaBenchOptions(LlamaOptions):
    output: Literal["jsonl", "json", "csv", "md"] = Field(
        "jsonl", description="llama-bench's -o (jsonl and json carry each repetition; csv and md averages only)")


def bench_argv(binary: str, model: str, config: RunConfig, opts: LlamaBenchOptions) -> list[str]:
    """llama-bench's command line for the whole sweep (every value its own argument)."""
    join = lambda xs: ",".join(str(x) for x in xs)  # noqa: E731
    argv = [binary, "-m", model, "-p", join(opts.n_prompt), "-n", join(opts.n_gen), "-d", join(opts.n_depth),
            "-r", str(config.stop.count), "-o", opts.output]
    if config.threads:
        argv += ["-t", str(config.threads)]
    for flag, value in (("-ngl", opts.n_gpu_layers), ("-b", opts.n_batch), ("-ub", opts.n_ubatch),
                        ("-fa", opts.flash_attn)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def record_bench_log(rec: Recorder, log: LlamaBenchLog, costs: CostsFor | None = None, source: str = TOOL) -> None:
    """A parsed llama-bench output as sample rows and an `LlmResult` (runner and ingest alike)."""
    rows = PhaseRows(rec)
    for t in log.tests:
        rows.add_bench_test(t, costs)
    if log.tests:
        first = log.tests[0]
        rec.runtime.version = rec.runtime.version or first.build_commit or log.build_commit
        rec.set_result(rows.result(source, **bench_config(first)))
    if log.skipped:
        rec.notes.append(f"llama-bench output: {log.skipped.count} line(s) that are not results were skipped")


class LlamaBenchRunner(LlamaRunner):
    name = "llama_bench"
    runtimes = ("llama_bench",)
    tool = TOOL
    Options = LlamaBenchOptions
    description = ("llama.cpp's llama-bench (the target's, never downloaded): prefill/decode tokens/s per "
                   "repetition over prompt sizes, generation sizes and context depths")

    def check(self, profile: DeviceProfile, config: RunConfig) -> None:
        super().check(profile, config)
        opts = self.options_for(config)
        if not any(opts.n_prompt) and not any(opts.n_gen):
            raise HarnessError("runner llama_bench: n_prompt and n_gen are all 0: no test to run")

    def run(self, ctx: RunContext) -> None:
        t, rec, opts = ctx.transport, ctx.recorder, ctx.options
        rec.runtime.library = "llama.cpp"
        rec.stage = "push"
        binary, where = target_tool(t, TOOL)
        model_rem = model_remote(t, ctx.model.sha256, ctx.model_path)
        sent = push_files(t, [(ctx.model_path, model_rem)])
        rec.runtime.details.update(tools={TOOL: where}, pushed={"model": sent[model_rem]})

        rec.stage = "start"
        argv = bench_argv(binary, model_rem, ctx.config, opts)
        rec.notes.append(f"{TOOL} command: " + shlex.join(pinned(argv, ctx.config.affinity_mask)))
        costs, notes = model_costs(ctx.model_path, opts)
        rec.notes += notes
        lines: list[str] = []

        def on_line(line: str) -> None:
            lines.append(line)
            if line.startswith("{"):
                try:
                    test = json.loads(line)
                    ctx.progress(TOOL, {"test": f"pp{test.get('n_prompt')} tg{test.get('n_gen')} "
                                                f"d{test.get('n_depth', 0)}", "tokens_per_s": test.get("avg_ts")})
                except ValueError:
                    pass

        out = ToolOutput()
        try:
            run_tool(t, with_pid_file(argv, ctx.pid_file), deadline_s=opts.timeout_s or DEFAULT_TIMEOUT_S,
                     on_line=on_line, cancel=ctx.cancel, affinity_mask=ctx.config.affinity_mask, what=TOOL,
                     output=out, on_started=lambda: setattr(rec, "stage", "run"))
        except BaseException:
            self._record(rec, lines, costs, strict=False)  # what it printed before it broke
            raise
        finally:
            rec.add_raw("llama_bench", lines)
            rec.add_raw("llama_bench_stderr", out.stderr.splitlines())
        if out.cancelled:
            self._record(rec, lines, costs, strict=False)
            return
        if out.returncode != 0:
            self._record(rec, lines, costs, strict=False)
            tail = " | ".join([ln for ln in out.stderr.strip().splitlines() if ln.strip()][-3:]) or "no error output"
            raise error_from_device_text(out.stderr, f"{TOOL} exited with status {out.returncode}: {tail}")
        rec.stage = "parse"
        self._record(rec, lines, costs, strict=True)
        rec.stop_reason = f"{TOOL}: {ctx.config.stop.count} repetitions of each test"

    @staticmethod
    def _record(rec: Recorder, lines: list[str], costs, strict: bool) -> None:
        try:
            log = parse_llama_bench("\n".join(lines), source=f"{TOOL} output")
        except LlamaLogError as e:
            if strict:
                raise RuntimeFailure(str(e)) from None
            if e.line is None or e.line != len(lines) or len(lines) < 2:
                return
            try:  # killed mid-line: the tests before the cut line are whole
                log = parse_llama_bench("\n".join(lines[:-1]), source=f"{TOOL} output")
            except LlamaLogError:
                return
            rec.warnings.append(f"{TOOL} output cut mid-line (killed?): its last line was left out")
        record_bench_log(rec, log, costs)
