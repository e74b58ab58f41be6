"""One Ray actor per physical device: the lease on it.

The actor is placed by the device's custom resource (``device:<id>``, one unit, which
only the node of the host the device is attached to advertises) and the host label, so
it lives where the device is plugged in. It is the only thing on the farm that talks to
the device: its jobs run one at a time (the default concurrency group holds one call),
each one a liveness check and then `harness.session.run_planned`, whose record is packed
and handed back to the driver. A second, one-slot concurrency group ("control") lets
the driver abort the running job, hold the queued ones or take one back (`withdraw`:
another device is free for it) without waiting behind them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray

from harness.errors import DeviceBusy
from harness.farm.inventory import HOST_LABEL, Device, HealthPolicy
from harness.farm.liveness import check_liveness
from harness.farm.records import pack_run
from harness.session import PlannedRun, run_planned
from harness.store.store import RunStore

CONTROL = "control"


def model_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "harness" / "farm-models"


def _sha256(path: Path) -> str:
    from harness.digest import sha256_of

    return sha256_of(path)


@ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0, concurrency_groups={CONTROL: 1})
class DeviceActor:
    def __init__(self, device: Device, policy: HealthPolicy):
        self.device = device
        self.policy = policy
        self.cancel = threading.Event()
        self.held = False
        self.current: str | None = None  # the token of the job running now
        self.lock = threading.Lock()  # run_job and withdraw run on different threads
        self.started: set[str] = set()
        self.withdrawn: set[str] = set()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"harness-farm-{device.id}-"))

    def where(self) -> dict[str, Any]:
        ctx = ray.get_runtime_context()
        labels = ctx.get_node_labels() if hasattr(ctx, "get_node_labels") else {}
        return {"host": labels.get(HOST_LABEL), "node_id": ctx.get_node_id(), "hostname": socket.gethostname(),
                "pid": os.getpid()}

    # -- control: runs beside a job ----------------------------------------------------

    @ray.method(concurrency_group=CONTROL)
    def abort(self, job: str | None = None, queued_too: bool = False) -> bool:
        """Stop the running job — only if it is `job`, when given: the driver's deadline may
        pass just as that job ends and the next begins. `queued_too`: start no queued one."""
        if queued_too:
            self.held = True
        if job is None or job == self.current:
            self.cancel.set()
            return True
        return False

    @ray.method(concurrency_group=CONTROL)
    def hold(self, held: bool) -> bool:
        """Held: queued jobs come back unrun ('deferred'), e.g. while a person holds a reservation."""
        self.held = held
        return True

    @ray.method(concurrency_group=CONTROL)
    def withdraw(self, token: str) -> bool:
        """Take back the queued job `token` if it has not started: it will come back
        unrun ('withdrawn'). False when it started (or ran) already."""
        with self.lock:
            if token in self.started:
                return False
            self.withdrawn.add(token)
            return True

    # -- jobs: one at a time -----------------------------------------------------------

    def _model_path(self, planned: PlannedRun, blob: Any) -> Path:
        """The model on this host: the planned path if it holds the same bytes, else the cache."""
        ref = planned.model
        if planned.model_path.is_file() and _sha256(planned.model_path) == ref.sha256:
            return planned.model_path
        cached = model_cache() / ref.sha256 / planned.model_path.name
        if not cached.is_file():
            data = ray.get(blob, timeout=600)
            if hashlib.sha256(data).hexdigest() != ref.sha256:
                raise RuntimeError(f"model {ref.name}: the bytes received do not match sha256 {ref.sha256}")
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(cached.suffix + f".{os.getpid()}.part")
            tmp.write_bytes(data)
            os.replace(tmp, cached)
        return cached

    def run_job(self, token: str, planned: PlannedRun, model_blob: Any) -> dict[str, Any]:
        """Check the device, run the job, return its packed record and the actor's timings.
        `token` names this call (for `abort`)."""
        t_start = time.time()
        with self.lock:
            if token in self.withdrawn:
                self.withdrawn.discard(token)
                return {"kind": "withdrawn", "t_start": t_start, "t_end": time.time()}
            self.started.add(token)
        self.current = token
        self.cancel.clear()
        if self.held:
            return {"kind": "deferred", "t_start": t_start, "t_end": time.time()}
        live = check_liveness(self.device.profile, self.policy)
        if not live.ok:
            self.held = True  # the driver quarantines the device: do not try the next queued job
            return {"kind": "check_failed", "detail": live.detail, "liveness": asdict(live),
                    "t_start": t_start, "t_end": time.time()}
        if self.held:  # held (or the farm interrupted) while it was being checked
            return {"kind": "deferred", "t_start": t_start, "t_end": time.time()}
        job = dataclasses.replace(planned, profile=self.device.profile,
                                  model_path=self._model_path(planned, model_blob))
        store = RunStore(self.scratch)
        try:
            manifest = run_planned(job, store, self.cancel)
        except DeviceBusy:  # a session outside the farm holds the device: the job waits its turn
            return {"kind": "deferred", "t_start": t_start, "t_end": time.time()}
        return {"kind": "ran", "run": pack_run(store.root / manifest.run_id), "liveness": asdict(live),
                "t_start": t_start, "t_end": time.time()}

    def recover(self, checks: int, interval_s: float) -> dict[str, Any]:
        """The device's recovery command (on this host), then `checks` liveness checks that must all pass."""
        steps: list[str] = []
        cmd = self.device.recovery
        if cmd:
            try:
                res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=self.device.recovery_timeout_s)
                steps.append(f"recovery command exited {res.returncode}: {(res.stderr or res.stdout).strip()[-200:]}")
            except (OSError, subprocess.TimeoutExpired) as e:
                steps.append(f"recovery command failed: {e}")
        results = []
        for i in range(checks):
            if i:
                time.sleep(interval_s)
            live = check_liveness(self.device.profile, self.policy)
            results.append(asdict(live))
            if not live.ok:
                break
        ok = len(results) == checks and all(r["ok"] for r in results)
        if ok:
            self.held = False
        return {"ok": ok, "steps": steps, "checks": results}
