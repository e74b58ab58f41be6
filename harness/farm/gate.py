"""The hook a regression gate plugs into (issue 16 builds the gate itself).

After every job of a plan has its result, the farm calls the gate with the results store
and the night's results. The gate answers with regressions (the run then exits 1; each
line goes into the markdown summary and the JUnit file) and with the jobs it wants
measured again ("measure more": its verdict was unknown). The farm runs those jobs once
more, as a new repetition (``farm.repetition`` in the records' metadata), and asks again,
at most `max_rounds` times. Records of degraded devices carry ``farm.degraded=1``: a gate
leaves them out.

No gate: no regression verdicts, no repetitions. `StoreGate` is the gate harness ships
(`harness farm run --gate`): history and pinned baselines, see `harness.analysis.gate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from harness.farm.results import JobResult
    from harness.store.store import RunStore


@dataclass
class GateDecision:
    regressions: list[str] = field(default_factory=list)
    #: keys (`FarmJob.key`) of jobs to run once more
    measure_more: list[str] = field(default_factory=list)


class RegressionGate(Protocol):
    max_rounds: int

    def __call__(self, store: RunStore, results: list[JobResult]) -> GateDecision: ...


@dataclass
class StoreGate:
    """The gate `harness farm run --gate` plugs in: `harness.analysis.gate.run_gate` on the
    night's ok records (history and pinned baselines, degraded devices left out).

    Each call is one look: the first on the plan's runs, then one per "measure more"
    round, the α of the baseline comparisons spent over the `max_rounds` + 1 looks. A key
    whose verdict is ``unknown`` asks for its jobs again (every job whose record carries
    that benchmark key)."""

    max_rounds: int = 2
    threshold: float = 0.05
    overrides: dict[str, float] = field(default_factory=dict)
    min_effect: float = 0.0
    baseline_nights: int = 2
    #: the last look's report, for the CLI's outputs
    report: object | None = None
    looks_done: int = 0

    def __call__(self, store: RunStore, results: list[JobResult]) -> GateDecision:
        from harness.analysis.gate import run_gate
        from harness.analysis.history import HistoryConfig

        run_ids = [a.run_id for r in results for a in r.attempts if a.run_id and a.outcome == "ok"]
        if not run_ids:
            return GateDecision()
        self.looks_done += 1
        report = run_gate(store, tonight_runs=run_ids, threshold=self.threshold, overrides=self.overrides,
                          config=HistoryConfig(min_effect=self.min_effect),
                          look=min(self.looks_done, self.max_rounds + 1), looks=self.max_rounds + 1,
                          baseline_nights=self.baseline_nights)
        self.report = report
        unsure = {run for f in report.measure_more for run in f.runs}
        job_of = {a.run_id: r.job.key for r in results for a in r.attempts if a.run_id}
        more = sorted({job_of[run] for run in unsure if run in job_of})
        return GateDecision(regressions=[f.line for f in report.regressions], measure_more=more)
