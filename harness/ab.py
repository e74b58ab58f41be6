"""Same-device A/B: baseline and candidate run interleaved (ABAB…), each run a fresh run.

Drift and heat hit both arms alike when their runs alternate on one device, so the
difference left is the candidate's: the strongest design there is for "did my change make
it slower?". Each run is a full session run (`harness.session.run_planned`: its own
process, its own record); the run is the unit of replication, so a look of `repeat` pairs
gives `repeat` + `repeat` run medians to the rank test.

The rule (`harness.analysis.regression.SequentialRule`): judge after each look of
`repeat` pairs; while a measure is ``unknown`` and its test leans towards a change (one-sided
p ≤ 0.2), run `repeat` more pairs, at most `reruns` times (default 1: with 2 the benchmark gave 1.33 false alarms per 100 nights); the α is spent over the looks,
so re-running does not raise the chance of a false verdict. Every record carries ``ab.id``, ``ab.arm`` (baseline | candidate),
``ab.look``, ``ab.pair`` and ``ab.spec`` in its metadata. A run that fails is recorded
and is absent evidence; an arm with no ok run after a look ends the A/B.

An arm is written ``MODEL`` or ``KEY=VALUE,…`` with keys ``model``, ``profile`` (another
profile of the same device: e.g. another Python or tool build, i.e. another runtime
version), ``runtime``, ``threads``, ``delegate``, ``cluster``; any other key is a runner
option (``-o``). What an arm does not say comes from the shared ``-m``/``-o``/flags.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import session
from harness.analysis.comparison import KeyComparison, compare_runs
from harness.analysis.regression import AB_ALPHA, DEFAULT_THRESHOLD, SequentialRule
from harness.errors import HarnessError
from harness.store.record import RunManifest
from harness.store.store import RunStore, StoredRun

ARMS = ("baseline", "candidate")
ARM_FIELDS = ("model", "profile", "runtime", "threads", "delegate", "cluster")


@dataclass
class ArmPlan:
    name: str
    spec: str
    planned: session.PlannedRun


@dataclass
class Look:
    look: int
    alpha: float
    comparisons: list[KeyComparison]


@dataclass
class AbResult:
    ab_id: str
    device: str
    arms: list[ArmPlan]
    runs: dict[str, list[RunManifest]] = field(default_factory=lambda: {a: [] for a in ARMS})
    looks: list[Look] = field(default_factory=list)
    stopped: str | None = None  # why it ended early (an arm without ok runs, interrupted)

    @property
    def final(self) -> list[KeyComparison]:
        return self.looks[-1].comparisons if self.looks else []

    @property
    def regressed(self) -> bool:
        return any(c.verdict is not None and c.verdict.verdict == "regressed" for c in self.final)

    @property
    def failed_runs(self) -> int:
        return sum(m.status != "ok" for runs in self.runs.values() for m in runs)

    def as_dict(self) -> dict:
        return {
            "ab_id": self.ab_id, "device": self.device, "stopped": self.stopped,
            "arms": {a.name: {"spec": a.spec, "model": a.planned.model.name, "profile": a.planned.profile.id,
                              "runtime": a.planned.config.runtime, "threads": a.planned.config.threads,
                              "options": a.planned.config.options,
                              "runs": [m.run_id for m in self.runs[a.name]],
                              "failed": [m.run_id for m in self.runs[a.name] if m.status != "ok"]}
                     for a in self.arms},
            "looks": [{"look": lk.look, "alpha": lk.alpha, "measures": [c.model_dump(mode="json") for c in lk.comparisons]}
                      for lk in self.looks],
        }


def parse_arm(text: str) -> tuple[dict[str, str], dict[str, object]]:
    """(arm fields, runner options) of ``MODEL`` or ``KEY=VALUE,…``."""
    import yaml

    fields: dict[str, str] = {}
    options: dict[str, object] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            if "model" in fields:
                raise HarnessError(f"arm {text!r}: two models ({fields['model']!r} and {part!r})")
            fields["model"] = part
        elif not key:
            raise HarnessError(f"arm {text!r}: {part!r} has no key (expected KEY=VALUE)")
        elif key in ARM_FIELDS:
            fields[key] = value.strip()
        else:
            try:
                options[key] = yaml.safe_load(value) if value else ""
            except yaml.YAMLError:
                options[key] = value
    return fields, options


def plan_arm(name: str, text: str, device: str, shared: session.RunOptions, model: str | None,
             profile_dirs: list[Path] | None = None) -> ArmPlan:
    fields, options = parse_arm(text)
    chosen = fields.get("model") or model
    if not chosen:
        raise HarnessError(f"--{name} {text!r}: which model? (give it in the arm, or -m for both arms)")
    threads = fields.get("threads")
    try:
        n_threads = int(threads) if threads else shared.threads
    except ValueError:
        raise HarnessError(f"--{name} {text!r}: threads={threads!r} is not a number") from None
    opts = dataclasses.replace(
        shared, runtime=fields.get("runtime") or shared.runtime, threads=n_threads,
        delegate=fields.get("delegate") or shared.delegate, cluster=fields.get("cluster") or shared.cluster,
        options={**shared.options, **options}, metadata=dict(shared.metadata),
    )
    plan = session.plan_runs([fields.get("profile") or device], [chosen], opts, profile_dirs)
    return ArmPlan(name, text, plan[0])


def check_same_device(a: ArmPlan, b: ArmPlan) -> None:
    """Both arms must reach the same device: same transport settings."""
    _same_transport(a.planned.profile, b.planned.profile)


def check_arm_devices(baseline: str, candidate: str, device: str, profile_dirs: list[Path] | None = None) -> None:
    """Refuse arms on different devices before anything else about them is checked."""
    from harness.profiles import load_profile

    pa, pb = (load_profile(parse_arm(t)[0].get("profile") or device, profile_dirs) for t in (baseline, candidate))
    _same_transport(pa, pb)


def _same_transport(pa, pb) -> None:
    if pa.transport.model_dump(mode="json") != pb.transport.model_dump(mode="json"):
        raise HarnessError(f"the arms run on different devices (profiles {pa.id!r} and {pb.id!r} have different "
                           "transports): an A/B needs one device")


def run_ab(
    baseline: ArmPlan,
    candidate: ArmPlan,
    store: RunStore,
    *,
    repeat: int = 5,
    reruns: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    overrides: dict[str, float] | None = None,
    alpha: float = AB_ALPHA,
    cancel: threading.Event | None = None,
    on_run: Callable[[str, RunManifest], None] | None = None,
) -> AbResult:
    """Interleave the arms on their device, `repeat` pairs a look, judging after each."""
    if repeat < 2:
        raise HarnessError(f"--repeat must be at least 2 (runs of each arm per look; got {repeat})")
    if reruns < 0:
        raise HarnessError(f"--reruns must be ≥ 0 (got {reruns})")
    check_same_device(baseline, candidate)
    cancel = cancel or threading.Event()
    rule = SequentialRule(reruns=reruns, alpha=alpha, threshold=threshold)
    result = AbResult(uuid.uuid4().hex[:12], baseline.planned.profile.id, [baseline, candidate])
    pair = 0
    for look in range(1, rule.looks + 1):
        for _ in range(repeat):
            for arm in (baseline, candidate):
                if cancel.is_set():
                    result.stopped = "interrupted"
                    return result
                meta = {**arm.planned.metadata, "ab.id": result.ab_id, "ab.arm": arm.name, "ab.look": str(look),
                        "ab.pair": str(pair), "ab.spec": arm.spec}
                manifest = session.run_planned(dataclasses.replace(arm.planned, metadata=meta), store, cancel)
                result.runs[arm.name].append(manifest)
                if on_run:
                    on_run(arm.name, manifest)
            pair += 1
        ok = {a: [StoredRun(m, store.root / m.run_id) for m in result.runs[a] if m.status == "ok"] for a in ARMS}
        empty = [a for a in ARMS if not ok[a]]
        if empty:
            result.stopped = f"no ok run of the {' and '.join(empty)} arm: nothing to compare"
            return result
        comparisons = compare_runs(ok["baseline"], ok["candidate"], threshold=threshold, overrides=overrides,
                                   alpha=rule.alpha_at(look))
        result.looks.append(Look(look, rule.alpha_at(look), comparisons))
        if not any(c.verdict is not None and rule.rerun(c.verdict, look) for c in comparisons):
            break
    return result
