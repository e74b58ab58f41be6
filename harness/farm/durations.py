"""How long a farm job will likely take, so the driver starts the longest first.

A plan ends when its last job ends: if a long job starts last, the other devices idle
while it runs. Taking jobs longest first (LPT) leaves the short ones for the end, so the
devices finish close together. The estimate of a job is the median of what it took
before — in this run or on earlier nights (the registry's ``durations``, for a farm
that runs the same plan every night) — else the median of its *family*: the same model
on the same class and runtime, i.e. the same work with other options (seed, inputs …).

Order (`Estimates.order`): pinned jobs (the canaries) first, as the plan puts them; then
jobs with no estimate yet — the family least often running first, so each family is
timed early; then the rest, longest estimate first. Ties keep the plan's order.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable

from harness.farm.plan import FarmJob
from harness.farm.registry import Registry


def family(job: FarmJob) -> str:
    return f"{job.model.sha256[:16]}/{job.device_class}/{job.runtime}"


class Estimates:
    def __init__(self, registry: Registry, jobs: Iterable[FarmJob]):
        self.registry = registry
        self.by_job: dict[str, list[float]] = defaultdict(list)
        self.by_family: dict[str, list[float]] = defaultdict(list)
        for job_key, fam, seconds in registry.durations(sorted({family(j) for j in jobs})):
            self.by_job[job_key].append(seconds)
            self.by_family[fam].append(seconds)
        #: medians by ("job", key) and ("family", name): the two never share an entry
        self._median: dict[tuple[str, str], float] = {}

    def learn(self, job: FarmJob, device: str, seconds: float) -> None:
        """A passed attempt of `job` took `seconds` on `device` (kept for later nights too)."""
        fam = family(job)
        self.by_job[job.key].append(seconds)
        self.by_family[fam].append(seconds)
        self._median.pop(("job", job.key), None)
        self._median.pop(("family", fam), None)
        self.registry.add_duration(job.key, fam, device, seconds)

    def _median_of(self, kind: str, name: str) -> float | None:
        samples = self.by_job if kind == "job" else self.by_family
        entry = (kind, name)
        if entry not in self._median:
            if not samples.get(name):
                return None
            self._median[entry] = statistics.median(samples[name])
        return self._median[entry]

    def estimate(self, job: FarmJob) -> float | None:
        """Seconds the job will likely take, or None when neither it nor its family ran before."""
        own = self._median_of("job", job.key)
        return own if own is not None else self._median_of("family", family(job))

    def order(self, running: Iterable[FarmJob]):
        """A sort key for the queue, given the jobs running (or queued on a device) now."""
        busy = Counter(family(j) for j in running)

        def key(job: FarmJob) -> tuple[int, float]:
            if job.pinned:
                return (0, 0.0)
            seconds = self.estimate(job)
            if seconds is None:
                return (1, float(busy[family(job)]))
            return (2, -seconds)

        return key
