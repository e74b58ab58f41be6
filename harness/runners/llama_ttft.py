"""Time to first token and per-token latency on the device clock: harness's llama.cpp driver as a runner.

Why a runner of its own rather than a llama-bench option: llama-bench reports one average per
test, so TTFT, the gaps between tokens and peak memory need a different program —
``harness-llm-driver`` (`harness.llm.driver`), which does what a chat app does against
llama.cpp's C API (load, prefill, first token, decode token by token) and stamps every step
with CLOCK_MONOTONIC. Kept apart, each record's figures come from one tool: a
``llama_ttft`` record's prefill and decode rates are the driver's, a ``llama_bench`` record's
llama-bench's; and the driver's stamps are what the phase-aligned energy (J/token) needs.

The driver comes from the profile's ``tools.harness-llm-driver`` (a path on the target, or a
host file pushed — built for the target like the MCU firmware), else the target's PATH; on
the local transport, the build harness keeps for this host (`harness.llm.build`). One driver
invocation per test point (prompt × generated × depth), each ``--count`` repetitions after
``--warmup-min`` warm-up ones. Recorded (see `harness.llm.results`): ttft, prefill, decode
rows per repetition and an inter_token row per generated token, with their device-clock
stamps; model load time (cold phase ``load_s``); peak RSS (``memory.peak_rss_bytes``); the
driver's events verbatim (``raw/llm_driver``).
"""

from __future__ import annotations

import shlex

from pydantic import field_validator

from harness.errors import HarnessError, RuntimeFailure, error_from_device_text
from harness.llm.driver import DriverOptions, DriverResult, parse_driver_events
from harness.llm.record import PhaseRows
from harness.logs.llama_bench import LlamaLogError
from harness.runners.base import RunContext
from harness.runners.llama_common import DEFAULT_TIMEOUT_S, LlamaOptions, LlamaRunner, model_costs, with_pid_file
from harness.runners.toolrun import ToolOutput, model_remote, pinned, push_files, run_tool, target_tool
from harness.store.record import RunConfig

TOOL = "harness-llm-driver"
_FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}  # the driver's -fa values
_FLASH_ATTN_NAME = {v: k for k, v in _FLASH_ATTN.items()}


class LlamaTtftOptions(LlamaOptions):
    @field_validator("n_prompt", "n_gen")
    @classmethod
    def _at_least_one(cls, v: list[int]) -> list[int]:
        if any(x < 1 for x in v):
            raise ValueError("the driver needs at least 1 prompt token and 1 generated token")
        return v


def driver_options(config: RunConfig, opts: LlamaTtftOptions, point: tuple[int, int, int]) -> DriverOptions:
    n_prompt, n_gen, n_depth = point
    fields = dict(n_prompt=n_prompt, n_gen=n_gen, n_depth=n_depth, reps=config.stop.count,
                  warmup=config.stop.warmup_min, threads=config.threads, seed=config.seed)
    fields.update({k: v for k, v in (("n_gpu_layers", opts.n_gpu_layers), ("n_batch", opts.n_batch),
                                     ("n_ubatch", opts.n_ubatch)) if v is not None})
    if opts.flash_attn is not None:
        fields["flash_attn"] = _FLASH_ATTN[opts.flash_attn]
    return DriverOptions(**fields)


def _host_driver():
    from harness.llm.build import ensure_llama_build

    return ensure_llama_build().driver


class LlamaTtftRunner(LlamaRunner):
    name = "llama_ttft"
    runtimes = ("llama_ttft",)
    tool = TOOL
    Options = LlamaTtftOptions
    description = ("llama.cpp through harness's driver: TTFT, prefill/decode tokens/s, inter-token p50/p99, "
                   "peak RSS and J/token per phase, on the device clock")

    def run(self, ctx: RunContext) -> None:
        t, rec, opts = ctx.transport, ctx.recorder, ctx.options
        rec.runtime.library = "llama.cpp"
        rec.stage = "push"
        binary, where = target_tool(t, TOOL, host_default=_host_driver if t.kind == "local" else None)
        model_rem = model_remote(t, ctx.model.sha256, ctx.model_path)
        sent = push_files(t, [(ctx.model_path, model_rem)])
        rec.runtime.details.update(tools={TOOL: where}, pushed={"model": sent[model_rem]})
        costs, notes = model_costs(ctx.model_path, opts)
        rec.notes += notes

        rows = PhaseRows(rec)
        results: list[DriverResult] = []
        try:
            for point in opts.points():
                if ctx.cancel.is_set():
                    break
                res, failure = self._invoke(ctx, binary, model_rem, driver_options(ctx.config, opts, point))
                results.append(res)
                rows.add_driver(res, costs)  # the repetitions it finished, even when it failed after them
                if failure is not None:
                    raise failure
        finally:  # what was measured is kept, whatever stopped the sweep
            self._finish(rec, rows, results)
        if not ctx.cancel.is_set():
            rec.stop_reason = (f"{TOOL}: {ctx.config.stop.count} repetitions of each of {len(opts.points())} "
                               f"test point(s) after {ctx.config.stop.warmup_min} warm-up")

    def _invoke(self, ctx: RunContext, binary: str, model: str,
                options: DriverOptions) -> tuple[DriverResult, HarnessError | None]:
        """One driver invocation: what it measured, and why it failed (None: it did not)."""
        t, rec = ctx.transport, ctx.recorder
        rec.stage = "start"
        argv = options.argv(binary, model)
        rec.notes.append(f"{TOOL} command: " + shlex.join(pinned(argv, ctx.config.affinity_mask)))
        lines: list[str] = []

        def on_line(line: str) -> None:
            lines.append(line)
            if '"event":"rep"' in line:
                ctx.progress("ttft", {"point": f"pp{options.n_prompt} tg{options.n_gen} d{options.n_depth}"})

        out = ToolOutput()
        try:
            run_tool(t, with_pid_file(argv, ctx.pid_file), deadline_s=ctx.options.timeout_s or DEFAULT_TIMEOUT_S,
                     on_line=on_line, cancel=ctx.cancel, affinity_mask=ctx.config.affinity_mask, what=TOOL,
                     output=out, on_started=lambda: setattr(rec, "stage", "run"))
        finally:
            rec.add_raw("llm_driver", lines)
            if out.stderr.strip():
                rec.add_raw("llm_driver_stderr", out.stderr.splitlines())
        rec.stage = "parse"
        try:
            res = parse_driver_events(lines, source=f"{TOOL} output")
        except LlamaLogError as e:
            raise RuntimeFailure(str(e)) from None
        rec.warnings += [f"{TOOL}: {w}" for w in res.warnings if not (out.cancelled and "done event" in w)]
        if res.error is not None:
            rec.stage = "run"
            message = f"{TOOL} failed at {res.error.get('stage')}: {res.error.get('message')}"
            return res, error_from_device_text(f"{res.error.get('message')}\n{out.stderr}", message)
        if not out.cancelled and (out.returncode != 0 or not res.complete):
            rec.stage = "run"
            tail = " | ".join([ln for ln in out.stderr.strip().splitlines() if ln.strip()][-3:]) or "no error output"
            return res, error_from_device_text(out.stderr, f"{TOOL} exited with status {out.returncode} after "
                                                           f"{len(res.reps)} repetition(s): {tail}")
        return res, None

    @staticmethod
    def _finish(rec, rows: PhaseRows, results: list[DriverResult]) -> None:
        if not results:
            return
        first = results[0]
        rec.runtime.version = rec.runtime.version or first.hello.get("llama_commit")
        if first.load_s is not None:
            rec.phases.load_s = first.load_s
        peaks = [r.peak_rss_bytes for r in results if r.peak_rss_bytes]
        if peaks:
            rec.memory["peak_rss_bytes"] = float(max(peaks))
        hello = first.hello
        rec.runtime.details["driver"] = {k: hello.get(k) for k in ("llama_commit", "system_info", "n_ctx")}
        if rows.specs:
            rec.set_result(rows.result(
                TOOL, threads=hello.get("n_threads"), n_gpu_layers=hello.get("n_gpu_layers"),
                n_batch=hello.get("n_batch"), n_ubatch=hello.get("n_ubatch"),
                flash_attn=_FLASH_ATTN_NAME.get(hello.get("flash_attn")),
                model_type=first.load.get("model_desc"), model_n_params=first.load.get("model_n_params"),
                model_size_bytes=first.load.get("model_size_bytes"),
            ))
