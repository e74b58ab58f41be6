"""What llama-bench, the TTFT driver and saved llama.cpp / ExecuTorch logs measured, as a record:
sample rows (`harness.llm.results` lists them) and the `LlmResult` computed from those rows.

    phases = PhaseRows(rec)                          # collects the rows and the phases they form
    phases.add_bench_test(test, costs=...)           # one llama-bench test
    phases.add_driver(result, costs=...)             # one driver invocation (one test point)
    rec.set_result(phases.result(source="llama-bench", **config))

The runners (`harness.runners.llama_bench`, `harness.runners.llama_ttft`) and the ingest
formats (`harness.ingest.llama`) share this, so a run and an imported log read the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.llm.costs import TokenCosts, decode_costs, prefill_costs
from harness.llm.driver import DriverRep, DriverResult
from harness.llm.gguf_model import GgufModel
from harness.llm.results import WARMUP_PREFIX, LlmResult, phase_from_samples
from harness.logs.executorch import ExecuTorchRun
from harness.logs.llama_bench import BatchedBenchRow, LlamaBenchTest, LlamaConfig, bench_test_name
from harness.logs.llama_timings import LlamaTimings
from harness.store.results import AggregateStats
from harness.store.recorder import Recorder

#: (phase, n_prompt, n_gen, n_depth) -> static costs of one repetition, or None
CostsFor = Callable[[str, int, int, int], TokenCosts | None]


def costs_for_model(model: GgufModel | None, *, n_ubatch: int = 512, kv_type: str = "f16") -> CostsFor:
    """Static costs of a phase of a test point on `model` (None without a model, or for pp+tg tests).

    Prefill: `n_prompt` tokens on `n_depth` cached ones. Decode: llama-bench's ``tgN`` decodes N
    tokens from a context of `n_depth` (the first attends to n_depth + 1 cells); after a prompt
    (the driver), the first token comes out of the prefill and decode times the other n_gen − 1,
    the first of them attending to n_depth + n_prompt + 1 cells."""

    def costs(phase: str, n_prompt: int, n_gen: int, n_depth: int) -> TokenCosts | None:
        if model is None:
            return None
        try:
            kv = kv_type or "f16"
            if phase == "prefill" and n_prompt:
                return prefill_costs(model, n_prompt, n_depth, n_ubatch=n_ubatch, kv_type=kv)
            if phase == "decode" and not n_prompt and n_gen:
                return decode_costs(model, context=n_depth + 1, n_tokens=n_gen, kv_type=kv)
            if phase == "decode" and n_gen > 1:
                return decode_costs(model, context=n_depth + n_prompt + 1, n_tokens=n_gen - 1, kv_type=kv)
        except ValueError:  # a KV cache type the formulas do not know
            return None
        return None

    return costs


class PhaseRows:
    """Sample rows appended to a recorder, and the phases they form."""

    def __init__(self, rec: Recorder):
        self.rec = rec
        self.iteration = rec.rows("samples")
        self.specs: list[dict[str, Any]] = []

    def _row(self, phase: str, start_ns: int, total_ns: float, units: int) -> int:
        """One row: `total_ns` over `units` tokens (latency per token); its iteration number."""
        it = self.iteration
        self.rec.add_sample(it, phase, int(start_ns), int(round(total_ns / max(units, 1))), int(units))
        self.iteration += 1
        return it

    def _spec(self, name: str, n_prompt: int, n_gen: int, n_depth: int, rows: tuple[int, int] | None,
              costs: CostsFor | None, test: str | None = None, **extra: Any) -> None:
        self.specs.append(dict(name=name, test=test or bench_test_name(n_prompt, n_gen, n_depth), n_prompt=n_prompt,
                               n_gen=n_gen, n_depth=n_depth, rows=rows,
                               costs=costs(name, n_prompt, n_gen, n_depth) if costs else None, **extra))

    # -- llama-bench ---------------------------------------------------------------------

    def add_bench_test(self, t: LlamaBenchTest, costs: CostsFor | None = None) -> None:
        """One llama-bench test: a row per repetition when the output has per-repetition
        samples (json, jsonl), else the tool's aggregates only (md, csv)."""
        tokens = t.n_prompt + t.n_gen
        first = self.iteration
        for s in t.samples_s:
            self._row(t.phase, 0, s * 1e9, tokens)
        reported = {k: v for k, v in (("avg_ts", t.tokens_per_s), ("stddev_ts", t.tokens_per_s_stddev),
                                      ("avg_s", t.mean_s), ("stddev_s", t.stddev_s), ("line", t.line),
                                      ("ttft_s", t.ttft_s), ("itl_s", t.itl_s), ("e2e_s", t.e2e_s)) if v is not None}
        if t.samples_ttft_s:  # a fork's own latency samples, kept as it printed them
            reported.update(samples_ttft_s=t.samples_ttft_s, samples_itl_s=t.samples_itl_s)
        extra: dict[str, Any] = {"reported": reported, "units": tokens}
        if not t.samples_s:  # aggregates as printed: nothing to compute them from
            extra.update(rate_per_s=t.tokens_per_s, rate_std_per_s=t.tokens_per_s_stddev)
            if t.mean_s is not None:
                extra["time_s"] = AggregateStats(count=0, mean_s=t.mean_s, std_s=t.stddev_s)
        rows = (first, self.iteration - 1) if t.samples_s else None
        self._spec(t.phase, t.n_prompt, t.n_gen, t.n_depth, rows, costs, **extra)

    def add_batched(self, r: BatchedBenchRow) -> None:
        """One llama-batched-bench row: B sequences of PP prompt and TG generated tokens at once."""
        test = f"pp{r.n_prompt}+tg{r.n_gen} x{r.n_parallel}"
        reported = {"n_parallel": r.n_parallel, "n_kv": r.n_kv, "line": r.line, "total_s": r.total_s,
                    "tokens_per_s": r.tokens_per_s}
        for name, tokens, seconds, rate in (("prefill", r.n_prompt * r.n_parallel, r.prefill_s, r.prefill_tokens_per_s),
                                            ("decode", r.n_gen * r.n_parallel, r.decode_s, r.decode_tokens_per_s)):
            if tokens and seconds > 0:
                it = self._row(name, 0, seconds * 1e9, tokens)
                self._spec(name, r.n_prompt, r.n_gen, 0, (it, it), None, test=test, units=tokens,
                           reported={**reported, "rate_per_s": rate})

    # -- the TTFT driver -------------------------------------------------------------------

    def add_driver(self, res: DriverResult, costs: CostsFor | None = None) -> None:
        """One driver invocation (one test point): ttft/prefill/decode rows per repetition
        and one inter_token row per generated token after the first, on the device clock."""
        reps = res.measured
        first = self.iteration
        for r in res.reps:
            self._driver_rep(r)
        if not reps:  # stopped during warm-up: its rows are kept, no phase is measured
            return
        r0 = reps[0]
        rows = (first, self.iteration - 1)
        self._spec("prefill", r0.n_prompt, r0.n_gen, r0.n_depth, rows, costs, stamped=True, units=r0.n_prompt)
        if r0.n_gen > 1:
            self._spec("decode", r0.n_prompt, r0.n_gen, r0.n_depth, rows, costs, stamped=True, units=r0.n_gen - 1)

    def _driver_rep(self, r: DriverRep) -> None:
        pre = WARMUP_PREFIX if r.warmup else ""
        self._row(pre + "ttft", r.t_start_ns, r.t_first_token_ns - r.t_start_ns, 1)
        self._row(pre + "prefill", r.t_start_ns, r.t_prefill_end_ns - r.t_start_ns, r.n_prompt)
        if r.n_gen > 1 and len(r.token_t_ns) > 1:
            self._row(pre + "decode", r.t_first_token_ns, r.t_end_ns - r.t_first_token_ns, r.n_gen - 1)
            for a, b in zip(r.token_t_ns, r.token_t_ns[1:]):
                self._row(pre + "inter_token", a, b - a, 1)

    # -- saved logs ------------------------------------------------------------------------

    def add_timings(self, b: LlamaTimings, costs: CostsFor | None = None) -> None:
        """A llama.cpp timing block: prompt eval is the prefill, eval the decode after the first token."""
        first = self.iteration
        n_prompt = b.prompt_eval.count if b.prompt_eval and b.prompt_eval.count else 0
        n_eval = b.eval.count if b.eval and b.eval.count is not None else None
        n_gen = n_eval + 1 if n_eval is not None else 0
        if n_prompt and b.prompt_eval.time_s > 0:
            self._row("prefill", 0, b.prompt_eval.time_s * 1e9, n_prompt)
            self._spec("prefill", n_prompt, n_gen, 0, (first, first), costs, units=n_prompt)
        if n_eval and b.eval.time_s > 0:
            it = self._row("decode", 0, b.eval.time_s * 1e9, n_eval)
            self._spec("decode", n_prompt, n_gen, 0, (it, it), costs, units=n_eval)
        p = b.predict  # March 2023: prompt and generation timed together, as a time per token
        if p is not None and p.time_s > 0 and (p.count or p.per_token_s):
            tokens = p.count or round(p.time_s / p.per_token_s)
            it = self._row("prefill+decode", 0, p.time_s * 1e9, tokens)
            self._spec("prefill+decode", 0, 0, 0, (it, it), None, test=f"{tokens} tokens", units=tokens,
                       reported={"per_token_s": p.per_token_s})

    def add_executorch(self, run: ExecuTorchRun) -> None:
        """An ExecuTorch observer run: TTFT (tokenisation included), prefill, decode (its generated tokens)."""
        first = self.iteration
        self._row("ttft", 0, run.ttft_s * 1e9, 1)
        if run.prefill_s > 0:
            self._row("prefill", 0, run.prefill_s * 1e9, run.prompt_tokens)
        if run.decode_s > 0 and run.generated_tokens:
            self._row("decode", 0, run.decode_s * 1e9, run.generated_tokens)
        rows = (first, self.iteration - 1)
        self._spec("prefill", run.prompt_tokens, run.generated_tokens, 0, rows, None, units=run.prompt_tokens)
        if run.decode_s > 0 and run.generated_tokens:
            self._spec("decode", run.prompt_tokens, run.generated_tokens, 0, rows, None,
                       units=run.generated_tokens)

    # -- the result ------------------------------------------------------------------------

    def result(self, source: str, **fields: Any) -> LlmResult:
        """The phases, their figures computed from the rows now in the recorder."""
        samples = self.rec.table("samples")
        return LlmResult(source=source, phases=[phase_from_samples(samples, **s) for s in self.specs], **fields)


def bench_config(t: LlamaBenchTest) -> dict[str, Any]:
    """The LlmResult fields a llama-bench test states about its configuration."""
    return dict(threads=t.n_threads, **t.model_dump(include=set(LlamaConfig.model_fields)))
