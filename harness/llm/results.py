"""An LLM run's typed result: its phases (prefill, decode) in tokens, each traced to sample rows.

`LlmResult` (kind ``llm``) is a multi-phase result (`harness.store.results.PhasedResult`):
one `LlmPhase` per timed phase of each test point (a prompt of ``n_prompt`` tokens on
``n_depth`` cached ones, ``n_gen`` generated). Its figures are computed from the record's
``samples`` table by `phase_from_samples`, the one place they are derived, so each one traces
to raw rows. Rows of the samples table (``phase`` column), tokens as the unit:

``prefill``      one per repetition: ``latency_ns`` = prefill time per prompt token, ``inferences`` = prompt tokens
``decode``       one per repetition: time per generated token, ``inferences`` = tokens timed
``prefill+decode``  llama-bench's ``pp+tg`` tests, one per repetition
``ttft``         one per repetition (the TTFT driver): time to first token, ``inferences`` = 1
``inter_token``  one per generated token after the first (the driver): the gap to the previous token
``warmup_*``     the same rows of warm-up repetitions (kept, never summarised)

``start_ns`` is the device's CLOCK_MONOTONIC stamp where the tool gives one (the driver:
`LlmPhase.stamped`); llama-bench and saved logs give none (0). A point's rows are the
iterations ``rows[0]..rows[1]`` with its phase name.

Definitions: a phase's ``rate_per_s`` is the mean over repetitions of tokens ÷ repetition
time (llama-bench's ``avg_ts``), ``time_s`` the seconds per repetition; TTFT = first token −
request start; inter-token latencies are the gaps between consecutive generated tokens.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from harness.llm.costs import TokenCosts
from harness.logs.llama_bench import LlamaConfig
from harness.stats import summarize
from harness.store.record import LatencySummary
from harness.store.results import AggregateStats, PhasedResult, WorkloadPhase

PhaseName = Literal["prefill", "decode", "prefill+decode"]
WARMUP_PREFIX = "warmup_"


class LlmPhase(WorkloadPhase):
    """One timed phase of one test point; ``units`` are tokens per repetition."""

    name: PhaseName
    unit: str = "token"
    test: str = Field(description="the test point, llama-bench's naming: pp512, tg128 @ d1024, pp64+tg16")
    n_prompt: int
    n_gen: int
    n_depth: int = 0
    rows: tuple[int, int] | None = Field(None, description="first and last iteration of the point's sample rows")
    stamped: bool = Field(False, description="its rows' start_ns are device-clock stamps (phase energy needs them)")
    ttft_s: LatencySummary | None = Field(None, description="time to first token per repetition (prefill phases)")
    inter_token_s: LatencySummary | None = Field(None, description="gaps between generated tokens (decode phases)")
    costs: TokenCosts | None = Field(None, description="static FLOPs and bytes of one repetition (harness.llm.costs)")
    reported: dict[str, Any] = Field(default_factory=dict, description="what the tool printed for it, as printed")

    @property
    def label(self) -> str:
        return f"{self.name} {self.test}"


class LlmResult(LlamaConfig, PhasedResult):
    """An LLM workload (llama-bench, the TTFT driver, a saved llama.cpp/ExecuTorch log)."""

    kind: Literal["llm"] = "llm"
    phases: list[LlmPhase]
    threads: int | None = None

    # the phases stand for the steady state: no "no steady-state samples" warning
    stands_for_samples: ClassVar[bool] = True

    def of(self, name: str) -> list[LlmPhase]:
        return [p for p in self.phases if p.name == name]


# -- figures from the samples table ------------------------------------------------------------


def rows_of(samples: pa.Table, phase: str, rows: tuple[int, int] | None) -> pa.Table:
    """The sample rows of one phase of one point."""
    if rows is None:
        return samples.schema.empty_table()
    it = samples["iteration"]
    mask = pc.and_(pc.equal(samples["phase"], phase), pc.and_(pc.greater_equal(it, rows[0]), pc.less_equal(it, rows[1])))
    return samples.filter(mask)


def _seconds(rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(seconds per row, tokens per row) of rows whose latency is per token."""
    lat = rows["latency_ns"].to_numpy().astype(float) / 1e9
    n = rows["inferences"].to_numpy().astype(float)
    return lat * n, n


def phase_from_samples(samples: pa.Table, **fields: Any) -> LlmPhase:
    """An `LlmPhase` whose figures are computed from its rows of `samples` (``fields``: name,
    test, n_prompt, n_gen, n_depth, rows, stamped, costs, reported). Without rows (a tool that
    printed aggregates only), the figures given in `fields` are kept as they are."""
    phase = LlmPhase(**fields)
    reps = rows_of(samples, phase.name, phase.rows)
    if reps.num_rows:
        time_s, tokens = _seconds(reps)
        rates = tokens / time_s
        phase.repetitions = reps.num_rows
        phase.units = int(tokens[0]) if np.all(tokens == tokens[0]) else phase.units
        phase.time_s = AggregateStats.from_tool(_stats(time_s))
        phase.rate_per_s = float(rates.mean())
        phase.rate_std_per_s = float(rates.std(ddof=1)) if rates.size > 1 else 0.0
    if phase.name == "prefill":
        ttft = rows_of(samples, "ttft", phase.rows)
        if ttft.num_rows:
            phase.ttft_s = summarize(ttft["latency_ns"].to_numpy().astype(float) / 1e9)
    if phase.name == "decode":
        gaps = rows_of(samples, "inter_token", phase.rows)
        if gaps.num_rows:
            phase.inter_token_s = summarize(gaps["latency_ns"].to_numpy().astype(float) / 1e9)
    return phase


def _stats(x: np.ndarray) -> dict[str, Any]:
    return {"count": int(x.size), "min_s": float(x.min()), "max_s": float(x.max()), "mean_s": float(x.mean()),
            "std_s": float(x.std(ddof=1)) if x.size > 1 else 0.0, "median_s": float(np.median(x))}


def phase_windows(samples: pa.Table, phase: LlmPhase) -> tuple[list[tuple[int, int]], int]:
    """(device-clock windows [start, end] ns of each repetition, tokens in them) of a stamped phase."""
    if not phase.stamped:
        return [], 0
    reps = rows_of(samples, phase.name, phase.rows)
    start = reps["start_ns"].to_numpy()
    n = reps["inferences"].to_numpy()
    end = start + reps["latency_ns"].to_numpy() * n
    return [(int(a), int(b)) for a, b in zip(start, end)], int(n.sum())
