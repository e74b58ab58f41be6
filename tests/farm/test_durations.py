"""The queue's order: pinned jobs first, unknown families timed early, then longest first."""

from __future__ import annotations

from harness.farm.durations import Estimates, family
from harness.farm.plan import FarmJob
from harness.farm.registry import Registry
from harness.store.record import ModelRef


def _job(model: str, seed: int, pinned: str | None = None) -> FarmJob:
    ref = ModelRef(name=model, path=f"/models/{model}.tflite", sha256=model * 8, format="tflite", size_bytes=1)
    return FarmJob(key=f"{model}-{seed}", name=f"{model} seed={seed}", device_class="board", model=ref,
                   runtime="tflite", options_label=f"seed={seed}", planned={"b1": None, "b2": None},  # type: ignore[dict-item]
                   pinned=pinned)


def _queue_order(est: Estimates, queue: list[FarmJob], running: list[FarmJob] = ()) -> list[str]:
    return [j.key for j in sorted(queue, key=est.order(running))]


def test_longest_known_first_and_a_family_learns_from_its_siblings(tmp_path):
    reg = Registry(tmp_path)
    short, long_ = [_job("aaaa", s) for s in range(3)], [_job("bbbb", s) for s in range(3)]
    est = Estimates(reg, short + long_)
    assert est.estimate(short[0]) is None
    est.learn(short[0], "b1", 1.0)
    est.learn(long_[0], "b2", 4.0)
    est.learn(long_[1], "b1", 6.0)
    # the job's own history wins over its family's; siblings get the family's median
    assert est.estimate(long_[1]) == 6.0 and est.estimate(long_[2]) == 5.0 and est.estimate(short[2]) == 1.0
    assert _queue_order(est, [short[1], short[2], long_[2]]) == ["bbbb-2", "aaaa-1", "aaaa-2"]


def test_pinned_first_then_unknown_families_spread_then_known(tmp_path):
    reg = Registry(tmp_path)
    a, b, c = [_job("aaaa", s) for s in range(2)], [_job("bbbb", s) for s in range(2)], [_job("cccc", 0)]
    canary = _job("aaaa", 99, pinned="b1")
    est = Estimates(reg, [*a, *b, *c, canary])
    est.learn(c[0], "b1", 30.0)  # known, however long, after the unknown ones: those may be longer
    order = _queue_order(est, [a[1], b[0], b[1], c[0], canary], running=[a[0]])
    # family aaaa is being timed already (a[0] runs): bbbb's first
    assert order == ["aaaa-99", "bbbb-0", "bbbb-1", "aaaa-1", "cccc-0"]


def test_durations_are_remembered_for_the_next_night(tmp_path):
    jobs = [_job("aaaa", 0), _job("bbbb", 0)]
    tonight = Estimates(Registry(tmp_path), jobs)
    tonight.learn(jobs[0], "b1", 2.0)
    tonight.learn(jobs[1], "b2", 8.0)
    tomorrow = Estimates(Registry(tmp_path), jobs)
    assert tomorrow.estimate(jobs[0]) == 2.0 and tomorrow.estimate(jobs[1]) == 8.0
    assert _queue_order(tomorrow, jobs) == ["bbbb-0", "aaaa-0"]
    assert family(jobs[0]) != family(jobs[1])
