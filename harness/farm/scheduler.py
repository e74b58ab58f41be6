"""The driver of a farm run: jobs to device actors, results to the one store, health kept.

Ray places each device's actor on the node that advertises the device; the driver only
decides *which* job goes to *which* device, which is what the farm knows and Ray does not
(classes, health, reservations, retries). Jobs of a class go to any schedulable device
of it, one at a time per device, longest (estimated) first so the plan ends evenly
(`harness.farm.durations`). A second job may wait in a busy actor's queue when no idle
device could take it, so the device starts it the moment its current one ends, with no
round trip to the driver in between; a device that falls idle while such a queued job
has not started takes it back (`withdraw`) and runs it, and so does a reservation or a
quarantine: a queued job never waits behind a device that will not run it.

Nothing waits without a limit: actor start-up, every `ray.wait` and `ray.get`, and each
job (`job_timeout_s`: then the job is aborted, and after a grace period its actor is
killed) have timeouts. Before an actor is created, Ray's node table must show a live node
advertising the device: a request for a resource nobody has would wait forever.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from harness.farm import cluster
from harness.farm.actor import DeviceActor
from harness.farm.durations import Estimates
from harness.farm.gate import RegressionGate
from harness.farm.health import apply_outcome, robust_z
from harness.farm.inventory import HOST_LABEL, Device
from harness.farm.plan import FarmJob, Plan
from harness.farm.records import PackedRun, import_run, lost_attempt
from harness.farm.registry import SCHEDULABLE, Registry
from harness.farm.results import (
    ABORTED, FAILED, INFRA, PASSED, SKIPPED, Attempt, DeviceReport, FarmRunResult, JobResult,
)
from harness.store.record import ErrorInfo, RunManifest
from harness.store.store import RunStore

TRANSIENT_OUTCOMES = ("transient", "node_lost")

Event = Callable[[str, dict[str, Any]], None]


@dataclass
class _Call:
    ref: Any
    job: FarmJob
    dispatched: float  # monotonic
    started_utc: dt.datetime
    token: str
    abort_sent: float | None = None
    withdrawing: bool = False  # the actor was asked to give it back unrun


@dataclass
class _Slot:
    device: Device
    actor: Any = None
    state: str = "starting"  # starting | recovering | ready | quarantined | gone
    reason: str | None = None
    pending: Any = None  # the where()/recover() call while starting/recovering
    pending_since: float = 0.0
    calls: list[_Call] = field(default_factory=list)
    host: str | None = None
    node_id: str | None = None
    reserved: bool = False
    last_end: float | None = None  # monotonic: when its last call came back
    jobs: int = 0
    busy_s: float = 0.0
    ready_at: float | None = None  # wall clock: when its actor was up and the device could take jobs
    suspect: bool = False

    @property
    def alive(self) -> bool:
        return self.state in ("starting", "recovering", "ready")


@dataclass
class Timeouts:
    actor_start_s: float = 180.0
    abort_grace_s: float = 30.0
    poll_s: float = 0.2
    get_s: float = 60.0
    cancel_wait_s: float = 60.0


class FarmRun:
    def __init__(self, plan: Plan, store: RunStore, *, tags: dict[str, str] | None = None,
                 cancel: threading.Event | None = None, on_event: Event | None = None,
                 gate: RegressionGate | None = None, timeouts: Timeouts | None = None):
        self.plan = plan
        self.farm = plan.farm
        self.policy = plan.farm.policy
        self.store = store
        self.registry = Registry(store.root)
        self.estimates = Estimates(self.registry, plan.jobs)
        self.tags = {**plan.tags, **(tags or {})}
        self.night = self.tags.get("nightly") or f"{dt.date.today():%Y%m%d}-{uuid.uuid4().hex[:6]}"
        self.cancel = cancel or threading.Event()
        self.on_event = on_event or (lambda *_: None)
        self.gate = gate
        self.t = timeouts or Timeouts()
        self.queue: list[FarmJob] = list(plan.jobs)
        self.results: list[JobResult] = []
        self.attempts: dict[int, list[Attempt]] = {}  # id(job) -> attempts so far
        self.slots: dict[str, _Slot] = {}
        self.withdrawals: dict[Any, tuple[_Slot, _Call]] = {}  # withdraw() call -> the queued call it asks back
        self.blobs: dict[str, Any] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="harness-farm-driver-"))
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.regressions: list[str] = []
        self.aborting = False

    # -- set-up --------------------------------------------------------------------------

    def _start_devices(self) -> None:
        classes = {j.device_class for j in self.plan.jobs}
        advertised = cluster.advertised()
        for device in self.farm.devices.values():
            if device.device_class not in classes:
                continue
            slot = self.slots[device.id] = _Slot(device)
            health = self.registry.health(device.id)
            slot.suspect = health.state == "suspect"
            if health.state in ("maintenance", "retired"):
                self._gone(slot, f"{health.state}: {health.reason or 'set by a person'}", state=health.state)
                continue
            if device.resource not in advertised:
                self._gone(slot, f"offline: no live Ray node advertises {device.resource} "
                                 f"(is `harness farm host` running on {device.host}?)")
                continue
            if advertised[device.resource] != device.host:  # two farm files disagree: Ray would wait forever
                self._gone(slot, f"offline: {device.resource} is advertised by host {advertised[device.resource]!r}, "
                                 f"but the farm file attaches it to {device.host!r}")
                continue
            slot.actor = DeviceActor.options(
                resources={device.resource: 1},
                label_selector={HOST_LABEL: device.host},
                max_concurrency=1,
            ).remote(device, self.policy)
            slot.pending, slot.pending_since = slot.actor.where.remote(), time.monotonic()
            self._event("device", slot)

    def _model_blob(self, job: FarmJob) -> Any:
        sha = job.model.sha256
        if sha not in self.blobs:
            any_run = next(iter(job.planned.values()))
            self.blobs[sha] = ray.put(any_run.model_path.read_bytes())
        return self.blobs[sha]

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> FarmRunResult:
        self.registry.driver_started(self.plan.name)
        try:
            self._start_devices()
            rounds = 0
            while True:
                self._loop()
                if self.aborting or self.gate is None:
                    break
                decision = self.gate(self.store, self.results)
                self.regressions = list(decision.regressions)
                latest: dict[str, FarmJob] = {}
                for r in self.results:  # the last repetition of each job the gate asks about
                    if r.job.key in decision.measure_more and r.job.repetition >= latest.get(r.job.key, r.job).repetition:
                        latest[r.job.key] = r.job
                if not latest or rounds >= self.gate.max_rounds:
                    break
                rounds += 1
                for job in latest.values():
                    self.queue.append(dataclasses.replace(job, repetition=job.repetition + 1, tried=[]))
        finally:
            for slot in self.slots.values():
                if slot.actor is not None:
                    ray.kill(slot.actor)
            self.registry.driver_stopped()
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self._result()

    def _loop(self) -> None:
        last_beat = last_res = 0.0
        while True:
            now = time.monotonic()
            if self.cancel.is_set() and not self.aborting:
                self._abort_all()
            if now - last_res > 0.5:
                self._refresh()
                last_res = now
            if not self.aborting:
                self._dispatch()
                self._drop_unrunnable()
            # a request for a call its slot no longer holds (lost, came back) needs no answer
            self.withdrawals = {r: (s, c) for r, (s, c) in self.withdrawals.items()
                                if s.actor is not None and c in s.calls}
            waiting = {s.pending: s for s in self.slots.values() if s.pending is not None}
            heads = {s.calls[0].ref: s for s in self.slots.values() if s.calls}
            if not waiting and not heads and not self.withdrawals:
                if not self.queue:
                    return
                time.sleep(self.t.poll_s)  # jobs wait for a reservation to end
            else:
                refs = list(waiting) + list(heads) + list(self.withdrawals)
                ready, _ = ray.wait(refs, num_returns=1, timeout=self.t.poll_s)
                for ref in ready:
                    if ref in waiting:
                        self._on_pending(waiting[ref], ref)
                    elif ref in self.withdrawals:
                        self._on_withdrawn(ref)
                    else:
                        self._on_call(heads[ref])
            self._check_deadlines()
            if now - last_beat > 2.0:
                running = sum(len(s.calls) for s in self.slots.values())
                self.registry.heartbeat(len(self.queue), running, len(self.results))
                last_beat = now

    # -- dispatch ------------------------------------------------------------------------

    def _can_take(self, slot: _Slot, job: FarmJob) -> bool:
        return slot.device.id in job.candidates() and slot.device.id not in job.tried

    def _dispatch(self) -> None:
        open_slots = [s for s in self.slots.values() if s.state == "ready" and not s.reserved]
        # a suspect device gets one job at a time: its next starts only once its last one's
        # outcome is known, so a failing device cannot take a queued job into quarantine
        # first every idle device gets a job; then a busy one gets one more in its queue, so it
        # does not idle between jobs, but only a job no idle or starting device could take
        for depth in (0, 1):
            for slot in open_slots:
                if len(slot.calls) != depth or (depth and slot.suspect):
                    continue
                jobs = [j for j in self.queue if self._can_take(slot, j)
                        and (depth == 0 or not self._someone_free(slot, j))]
                if jobs:
                    job = min(jobs, key=self._order())
                    self.queue.remove(job)
                    self._submit(slot, job)
        for slot in open_slots:
            if not slot.calls:
                self._steal_for(slot)

    def _order(self) -> Callable[[FarmJob], tuple]:
        return self.estimates.order(c.job for s in self.slots.values() for c in s.calls)

    def _steal_for(self, idle: _Slot) -> None:
        """An idle device with nothing in the queue for it asks back a job queued on a busy one
        (not started yet), the longest first: otherwise it would idle while that job waits.
        The job, once given back, is queued again and so goes to the idle device."""
        idle_now = sum(1 for s in self.slots.values() if s.state == "ready" and not s.reserved and not s.calls)
        if len(self.withdrawals) >= idle_now:
            return  # enough jobs are being asked back already
        queued = [(s, c) for s in self.slots.values() if s is not idle and s.actor is not None
                  for c in s.calls[1:] if not c.withdrawing and self._can_take(idle, c.job)]
        if queued:
            order = self._order()
            self._withdraw(*min(queued, key=lambda sc: order(sc[1].job)))

    def _withdraw(self, slot: _Slot, call: _Call) -> None:
        """Ask the actor to give a queued call back unrun; the answer comes in the loop (`_on_withdrawn`)."""
        if call.withdrawing or slot.actor is None:
            return
        call.withdrawing = True
        self.withdrawals[slot.actor.withdraw.remote(call.token)] = (slot, call)

    def _on_withdrawn(self, ref: Any) -> None:
        slot, call = self.withdrawals.pop(ref)
        try:
            taken = ray.get(ref, timeout=self.t.get_s)
        except (RayActorError, RayTaskError, GetTimeoutError):
            return  # its actor is gone: `_lost` gives its calls back
        # not in its calls any more: it came back 'withdrawn' first, or its actor was lost
        if taken and call in slot.calls:
            slot.calls.remove(call)
            self.registry.set_live(slot.device.id, slot.calls[0].job.name if slot.calls else None)
            self._event("withdrawn", slot, job=call.job)
            self._requeue(call.job)

    def _take_back_queued(self, slot: _Slot) -> None:
        """Jobs waiting on a device that will not run them (reserved, quarantined) are asked
        back; the one running is never stopped, and one that starts meanwhile meets the hold."""
        for call in slot.calls:
            self._withdraw(slot, call)

    def _someone_free(self, busy: _Slot, job: FarmJob) -> bool:
        return any(s is not busy and s.alive and not s.reserved and not s.calls and self._can_take(s, job)
                   for s in self.slots.values())

    def _submit(self, slot: _Slot, job: FarmJob) -> None:
        planned = job.planned[slot.device.id]
        token = uuid.uuid4().hex
        ref = slot.actor.run_job.remote(token, planned, self._model_blob(job))
        slot.calls.append(_Call(ref, job, time.monotonic(), dt.datetime.now(dt.timezone.utc), token))
        if self.t_first is None:
            self.t_first = time.time()
        if len(slot.calls) == 1:
            self.registry.set_live(slot.device.id, job.name)
        self._event("dispatched", slot, job=job)

    def _drop_unrunnable(self) -> None:
        """Jobs no live device can take any more end now, with the reason (never a hang)."""
        for job in list(self.queue):
            if any(s.alive and self._can_take(s, job) for s in self.slots.values()):
                continue
            self.queue.remove(job)
            tried = [a for a in self.attempts.get(id(job), []) if a.outcome in TRANSIENT_OUTCOMES]
            if tried:
                reason = (f"transient failure on {', '.join(a.device for a in tried)}; "
                          f"no other device of class {job.device_class} left to retry on")
            else:
                states = [f"{d}: {self.slots[d].reason or self.slots[d].state}" for d in job.candidates()
                          if d in self.slots]
                reason = f"no healthy device of class {job.device_class} ({'; '.join(states) or 'none'})"
            self._final(job, INFRA if tried else SKIPPED, reason)

    # -- results -------------------------------------------------------------------------

    def _on_pending(self, slot: _Slot, ref: Any) -> None:
        slot.pending = None
        try:
            out = ray.get(ref, timeout=self.t.get_s)
        except (RayActorError, RayTaskError, GetTimeoutError) as e:
            self._gone(slot, f"its actor did not start: {type(e).__name__}: {str(e).splitlines()[0]}")
            return
        if slot.state == "recovering":
            self._after_recovery(slot, out)
            return
        slot.host, slot.node_id = out["host"], out["node_id"]
        if self.registry.health(slot.device.id).state == "quarantined":
            # quarantined on an earlier night: its recovery command, then the checks, before any job
            slot.state = "recovering"
            slot.pending = slot.actor.recover.remote(self.policy.recovery_checks, self.policy.recovery_check_interval_s)
            slot.pending_since = time.monotonic()
        else:
            slot.state, slot.ready_at = "ready", time.time()
        self._event("device", slot)

    def _after_recovery(self, slot: _Slot, out: dict) -> None:
        for check in out["checks"]:
            self.registry.record_check(slot.device.id, check["ok"], check["detail"])
        if out["ok"]:
            self.registry.set_state(slot.device.id, "good", None)
            slot.state, slot.ready_at = "ready", time.time()
        else:
            failed = next((c["detail"] for c in out["checks"] if not c["ok"]), "no check passed")
            self.registry.set_state(slot.device.id, "quarantined", f"recovery failed: {failed}")
            slot.state, slot.reason = "quarantined", f"quarantined (recovery failed: {failed})"
        self._event("device", slot)

    def _on_call(self, slot: _Slot) -> None:
        call = slot.calls[0]
        try:
            out = ray.get(call.ref, timeout=self.t.get_s)
        except RayActorError as e:
            self._lost(slot, "node_lost", f"the actor of {slot.device.id} on host {slot.host} was lost "
                                          f"({'node dead' if not self._node_alive(slot) else 'node not yet declared dead'}): "
                                          f"{type(e).__name__}")
            return
        except GetTimeoutError:
            return
        except RayTaskError as e:  # a bug in the farm's own code on the host: recorded, not retried
            slot.calls.pop(0)
            packed = lost_attempt(self.scratch, call.job.planned[slot.device.id], call.started_utc,
                                  ErrorInfo(message=f"farm actor error: {str(e).splitlines()[0]}", stage="farm",
                                            kind="internal", transient=False), str(e).splitlines())
            self._record(slot, call, packed, None)
            return
        slot.calls.pop(0)
        self._account(slot, out)
        kind = out["kind"]
        if kind in ("deferred", "withdrawn"):
            self._requeue(call.job)
        elif kind == "check_failed":
            self.registry.record_check(slot.device.id, False, out["detail"])
            apply_outcome(self.registry, slot.device.id, "check_failed", self.policy, job=call.job.key,
                          detail=out["detail"])
            slot.state, slot.reason = "quarantined", f"quarantined: liveness check failed: {out['detail']}"
            self._requeue(call.job)
            self._event("device", slot)
        else:
            self.registry.record_check(slot.device.id, True, out["liveness"]["detail"])
            error = None
            if call.abort_sent is not None and not self.aborting:
                error = ErrorInfo(message=f"the farm abandoned the job after its limit of {self.plan.spec.job_timeout_s:g} s "
                                          f"(job_timeout_s)", stage="run", kind="timeout", transient=True)
            self._record(slot, call, out["run"], error, out)
        self.registry.set_live(slot.device.id, slot.calls[0].job.name if slot.calls else None)

    def _account(self, slot: _Slot, out: dict) -> None:
        slot.last_end = time.monotonic()
        self.t_last = time.time()
        if out.get("kind") == "ran":
            slot.jobs += 1
            slot.busy_s += out["t_end"] - out["t_start"]

    def _outcome(self, manifest: RunManifest) -> str:
        if manifest.status == "ok":
            return "ok"
        if manifest.status == "aborted" and self.aborting:
            return "aborted"
        if manifest.error is not None and manifest.error.kind == "node_lost":
            return "node_lost"
        if manifest.error is not None and manifest.error.transient:
            return "transient"
        return "permanent"  # unclassified failures are not retried: reported once

    def _record(self, slot: _Slot, call: _Call, packed: PackedRun, error: ErrorInfo | None,
                out: dict | None = None) -> None:
        job = call.job
        attempts = self.attempts.setdefault(id(job), [])
        manifest = RunManifest.model_validate_json(packed["manifest.json"])
        if error is not None:
            error.raw_output = manifest.error.raw_output if manifest.error else None
            manifest.error = error
        outcome = self._outcome(manifest)
        median = manifest.summary.latency.median_s if manifest.summary.latency else None
        if outcome == "ok" and out is not None and slot.jobs > 1:  # a device's first job pays its cold start
            self.estimates.learn(job, slot.device.id, out["t_end"] - out["t_start"])
        if job.canary and outcome == "ok" and median is not None:
            self._canary(slot, job, manifest.run_id, median)
        degraded = self.registry.health(slot.device.id).degraded
        metadata = {
            **self.tags,
            "farm.plan": self.plan.name,
            "farm.night": self.night,
            "farm.job": job.key,
            "farm.job_name": job.name,
            "farm.attempt": str(len(attempts) + 1),
            "farm.repetition": str(job.repetition),
            "farm.host": slot.host or slot.device.host,
            "farm.device_class": job.device_class,
        }
        if job.canary:
            metadata["farm.canary"] = "1"
        if degraded:
            metadata["farm.degraded"] = "1"
        manifest = import_run(self.store, packed, metadata, error)
        err = manifest.error
        attempt = Attempt(
            device=slot.device.id, host=slot.host or slot.device.host, outcome=outcome, run_id=manifest.run_id,
            message=err.message if err else None, kind=err.kind if err else None,
            raw_output=f"{manifest.run_id}/raw" if err and err.raw_output else None,
            t_start=out["t_start"] if out else None, t_end=out["t_end"] if out else None,
            degraded=degraded, median_s=median,
        )
        attempts.append(attempt)
        if outcome != "aborted":
            state = apply_outcome(self.registry, slot.device.id, outcome, self.policy, job=job.key,
                                  run_id=manifest.run_id, detail=attempt.message)
            slot.suspect = state == "suspect"
        self._event("finished", slot, job=job, attempt=attempt)
        if outcome == "ok":
            self._final(job, PASSED)
        elif outcome == "aborted" or self.aborting:
            self._final(job, ABORTED, "the farm run was interrupted")
        elif outcome == "permanent":
            self._final(job, FAILED, attempt.message)
        else:
            job.tried.append(slot.device.id)
            retries = sum(1 for a in attempts if a.outcome in TRANSIENT_OUTCOMES) - 1
            if retries < self.policy.max_retries:
                self._requeue(job)  # _drop_unrunnable ends it if no other device can take it
            else:
                self._final(job, INFRA, f"transient failure, {retries} retries used: {attempt.message}")
        if self.registry.health(slot.device.id).state == "quarantined" and slot.state == "ready":
            slot.state = "quarantined"
            slot.reason = f"quarantined: {self.registry.health(slot.device.id).reason}"
            if slot.actor is not None and slot.calls:
                slot.actor.hold.remote(True)  # a job queued on it comes back unrun
                self._take_back_queued(slot)
            self._event("device", slot)

    def _canary(self, slot: _Slot, job: FarmJob, run_id: str, median_s: float) -> None:
        canary = self.plan.spec.canary
        assert canary is not None
        history = self.registry.canary_history(slot.device.id, job.key, canary.history)
        z = robust_z(median_s, history) if len(history) >= canary.min_history else None
        if z is not None:
            drift = abs(z) > canary.z_threshold
            reason = (f"canary {job.model.name}: median {median_s:.6g} s is {z:+.1f} robust z from its last "
                      f"{len(history)} nights") if drift else None
            self.registry.set_degraded(slot.device.id, drift, reason)
        self.registry.add_canary(slot.device.id, job.key, self.night, run_id, median_s, z)

    def _requeue(self, job: FarmJob) -> None:
        if self.aborting:
            self._final(job, ABORTED, "the farm run was interrupted before it started")
        else:
            self.queue.insert(0, job)

    def _final(self, job: FarmJob, status: str, reason: str | None = None) -> None:
        self.results.append(JobResult(job, status, self.attempts.get(id(job), []), reason))
        self._event("job", None, job=job, status=status, reason=reason)

    # -- faults --------------------------------------------------------------------------

    def _node_alive(self, slot: _Slot) -> bool:
        return slot.node_id is not None and cluster.node_alive(slot.node_id)

    def _lost(self, slot: _Slot, kind: str, message: str) -> None:
        """The actor is gone (its node died, or it was killed): the running job's attempt is
        recorded as a transient failure and retried elsewhere; queued ones go back to the queue."""
        calls, slot.calls = slot.calls, []
        for i, call in enumerate(calls):
            if i > 0:
                self._requeue(call.job)
                continue
            planned = call.job.planned[slot.device.id]
            packed = lost_attempt(self.scratch, planned, call.started_utc,
                                  ErrorInfo(message=message, stage="run", kind=kind, transient=True), [message])
            self._record(slot, call, packed, None)
        self._gone(slot, f"lost: {message}")
        self.registry.set_live(slot.device.id, None)

    def _gone(self, slot: _Slot, reason: str, state: str = "gone") -> None:
        slot.state, slot.reason = state, reason
        if slot.actor is not None:
            ray.kill(slot.actor)
            slot.actor = None
        slot.pending = None
        self._event("device", slot)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        limit = self.plan.spec.job_timeout_s
        for slot in self.slots.values():
            if slot.pending is not None and now - slot.pending_since > self.t.actor_start_s:
                what = "start" if slot.state == "starting" else "recover"
                self._gone(slot, f"its actor did not {what} within {self.t.actor_start_s:g} s")
                continue
            if not slot.calls:
                continue
            call = slot.calls[0]
            started = max(call.dispatched, slot.last_end or call.dispatched)
            if call.abort_sent is None and now - started > limit:
                call.abort_sent = now
                slot.actor.abort.remote(call.token)
            elif call.abort_sent is not None and now - call.abort_sent > self.t.abort_grace_s:
                self._lost(slot, "timeout", f"the job outlived its limit of {limit:g} s and did not stop "
                                            f"within {self.t.abort_grace_s:g} s of being aborted")

    def _abort_all(self) -> None:
        self.aborting = True
        for job in self.queue:
            self._final(job, ABORTED, "the farm run was interrupted before it started")
        self.queue.clear()
        deadline = time.monotonic() + self.t.cancel_wait_s
        for slot in self.slots.values():
            if slot.calls:
                slot.actor.abort.remote(queued_too=True)
                for call in slot.calls:
                    call.abort_sent = deadline - self.t.abort_grace_s  # killed if not back by then

    def _refresh(self) -> None:
        """Reservations and health set from outside (a person's `farm reserve`, `farm mark`)."""
        reserved = self.registry.reservations()
        for slot in self.slots.values():
            if slot.actor is not None and slot.state in ("ready", "maintenance", "retired"):
                health = self.registry.health(slot.device.id)
                if slot.state == "ready" and health.state in ("maintenance", "retired"):
                    slot.state, slot.reason = health.state, f"{health.state}: {health.reason or 'set by a person'}"
                    self._event("device", slot)
                elif slot.state != "ready" and health.state in SCHEDULABLE:
                    slot.state, slot.reason = "ready", None
                    self._event("device", slot)
            now_reserved = slot.device.id in reserved
            if now_reserved != slot.reserved and slot.actor is not None:
                slot.actor.hold.remote(now_reserved)
                if now_reserved:
                    self._take_back_queued(slot)
                self._event("reserved" if now_reserved else "released", slot)
            slot.reserved = now_reserved

    def _event(self, what: str, slot: _Slot | None, **info: Any) -> None:
        if slot is not None:
            info.update(device=slot.device.id, state=slot.state, reason=slot.reason, host=slot.host)
        self.on_event(what, info)

    # -- the outcome ---------------------------------------------------------------------

    def _result(self) -> FarmRunResult:
        devices = []
        for slot in self.slots.values():
            h = self.registry.health(slot.device.id)
            devices.append(DeviceReport(
                id=slot.device.id, device_class=slot.device.device_class, host=slot.device.host, state=h.state,
                reason=slot.reason if slot.state in ("gone",) else h.reason, degraded=h.degraded,
                degraded_reason=h.degraded_reason, jobs=slot.jobs, busy_s=slot.busy_s, ready_at=slot.ready_at,
            ))
        order = {id(j): i for i, j in enumerate(self.plan.jobs)}
        results = sorted(self.results, key=lambda r: (order.get(id(r.job), len(order)), r.job.repetition))
        return FarmRunResult(
            plan=self.plan.name, night=self.night, results_dir=str(self.store.root), results=results,
            devices=devices, not_applicable=self.plan.not_applicable, regressions=self.regressions,
            aborted=self.aborting, t_first_dispatch=self.t_first, t_last_result=self.t_last,
        )


def run_plan(plan: Plan, store: RunStore, address: str | None = None, host: str | None = None, **kw: Any) -> FarmRunResult:
    """Connect to the farm's Ray cluster (or start a local one for this host) and run the plan."""
    with cluster.connect(plan.farm, address, host):
        return FarmRun(plan, store, **kw).run()
