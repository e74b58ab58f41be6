"""What a farm run produced: one `JobResult` per job (every attempt), and the exit code CI reads.

Exit codes: 0 every job passed; 1 a job failed for a reason a retry cannot cure (a
permanent failure), or the regression gate found a regression; 3 everything that went
wrong was infrastructure (transient failures that outlived their retries, jobs no healthy
device could take); 130 interrupted. (2 stays the CLI's "bad input".)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.farm.plan import FarmJob

#: a job's final status
PASSED, FAILED, INFRA, SKIPPED, ABORTED = "passed", "failed", "infra", "skipped", "aborted"

EXIT_OK, EXIT_FAILED, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass
class Attempt:
    device: str
    host: str | None
    outcome: str  # ok | permanent | transient | node_lost | aborted
    run_id: str | None = None
    message: str | None = None
    kind: str | None = None
    raw_output: str | None = None  # folder of the device's raw output, relative to the results store
    t_start: float | None = None  # wall clock on the device's host (s since the epoch)
    t_end: float | None = None
    degraded: bool = False
    median_s: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.t_start is None or self.t_end is None else self.t_end - self.t_start


@dataclass
class JobResult:
    job: FarmJob
    status: str
    attempts: list[Attempt] = field(default_factory=list)
    reason: str | None = None  # why it is skipped/infra/failed, in one line

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


@dataclass
class DeviceReport:
    id: str
    device_class: str
    host: str
    state: str
    reason: str | None = None
    degraded: bool = False
    degraded_reason: str | None = None
    jobs: int = 0
    busy_s: float = 0.0
    ready_at: float | None = None  # wall clock: its actor was up


@dataclass
class FarmRunResult:
    plan: str
    night: str
    results_dir: str
    results: list[JobResult]
    devices: list[DeviceReport]
    not_applicable: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    aborted: bool = False
    #: the run phase: from the first job dispatched to the last result (wall clock)
    t_first_dispatch: float | None = None
    t_last_result: float | None = None

    def run_ids(self) -> list[str]:
        """Every record this run wrote (failed attempts too)."""
        return [a.run_id for r in self.results for a in r.attempts if a.run_id]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        if self.aborted:
            return EXIT_INTERRUPTED
        if self.regressions or self.count(FAILED):
            return EXIT_FAILED
        if self.count(INFRA) or self.count(SKIPPED):
            return EXIT_INFRA
        return EXIT_OK

    def as_dict(self) -> dict:
        return {
            "plan": self.plan,
            "night": self.night,
            "results": self.results_dir,
            "exit_code": self.exit_code,
            "counts": {s: self.count(s) for s in (PASSED, FAILED, INFRA, SKIPPED, ABORTED)},
            "regressions": self.regressions,
            "not_applicable": self.not_applicable,
            "jobs": [
                {
                    "key": r.job.key,
                    "name": r.job.name,
                    "class": r.job.device_class,
                    "canary": r.job.canary,
                    "repetition": r.job.repetition,
                    "status": r.status,
                    "reason": r.reason,
                    "attempts": [a.__dict__ for a in r.attempts],
                }
                for r in self.results
            ],
            "devices": [d.__dict__ for d in self.devices],
        }
