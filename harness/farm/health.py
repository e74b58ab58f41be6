"""Health rules of the farm (states after LAVA; thresholds from FAI-PEP's lab).

- A job outcome is one of: ``ok``; ``permanent`` (the model's or the configuration's
  fault: the device did its job); ``transient`` (an infrastructure failure a retry on an
  equivalent device may cure); ``node_lost`` (the Ray node carrying the device vanished:
  the device may be fine — Ray declares nodes dead under load too — so it only becomes
  ``unknown``); ``check_failed`` (the liveness check before the job failed).
- A transient failure makes the device ``suspect``; the quarantine window's
  `quarantine_failures` transient failures, or a failed liveness check, make it
  ``quarantined``. A passing job brings ``unknown``/``suspect`` back to ``good``.
- Only a person moves a device in or out of ``maintenance``/``retired``.
- The canary: a device whose canary median lies more than `z_threshold` robust z-scores
  from its own recent nights is *degraded*: its results are kept, flagged in their
  metadata, so a regression gate can leave them out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import median_abs_deviation

from harness.farm.inventory import HealthPolicy
from harness.farm.registry import SCHEDULABLE, Registry

OUTCOMES = ("ok", "permanent", "transient", "node_lost", "check_failed")


def apply_outcome(registry: Registry, device: str, outcome: str, policy: HealthPolicy, *, job: str | None = None,
                  run_id: str | None = None, detail: str | None = None) -> str:
    """Record one job outcome on a device and return its health state afterwards."""
    assert outcome in OUTCOMES, outcome
    registry.record_outcome(device, outcome, job, run_id, detail)
    health = registry.health(device)
    if health.state not in SCHEDULABLE and outcome != "check_failed":
        return health.state  # quarantined/maintenance/retired stay so until recovered or changed by a person
    if outcome == "check_failed":
        if health.state in SCHEDULABLE:
            registry.set_state(device, "quarantined", f"liveness check failed: {detail}")
        return registry.health(device).state
    if outcome == "transient":
        recent = registry.recent_outcomes(device, policy.quarantine_window)
        failures = recent.count("transient")
        if failures >= policy.quarantine_failures:
            registry.set_state(
                device, "quarantined",
                f"{failures} transient failures in its last {len(recent)} jobs (latest: {detail})",
            )
        else:
            registry.set_state(device, "suspect", f"transient failure: {detail}")
    elif outcome == "node_lost":
        registry.set_state(device, "unknown", f"its node was lost: {detail}")
    elif outcome in ("ok", "permanent") and health.state in ("unknown", "suspect"):
        registry.set_state(device, "good", None)
    return registry.health(device).state


def robust_z(value: float, history: Sequence[float]) -> float:
    """(value − median) / (1.4826 · MAD) of the history; the MAD floored at 0.1 % of the
    median so a quantised timer's identical nights do not make every change infinite."""
    h = np.asarray(history, dtype=float)
    med = float(np.median(h))
    scale = max(float(median_abs_deviation(h, scale="normal")), 1e-3 * abs(med) * 1.4826)
    if scale == 0:
        return 0.0 if value == med else float("inf")
    return (value - med) / scale
