"""The hook a regression gate plugs into (issue 16 builds the gate itself).

After every job of a plan has its result, the farm calls the gate with the results store
and the night's results. The gate answers with regressions (the run then exits 1; each
line goes into the markdown summary and the JUnit file) and with the jobs it wants
measured again ("measure more": its verdict was unknown). The farm runs those jobs once
more, as a new repetition (``farm.repetition`` in the records' metadata), and asks again,
at most `max_rounds` times. Records of degraded devices carry ``farm.degraded=1``: a gate
leaves them out.

No gate: no regression verdicts, no repetitions.
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
