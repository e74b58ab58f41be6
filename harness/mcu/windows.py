"""MLPerf Tiny windows: how many, of how many inferences, after how many warmups.

Shared by the MCU runner's performance mode and its energy mode (`harness.mcu.energy_mode`).
"""

from __future__ import annotations

from typing import NamedTuple

from harness.errors import HarnessError

#: MLPerf Tiny's default (inferences, warmups) per window, by model
REFERENCE_N_W = {"kws01": (70, 10), "ic01": (20, 5), "vww01": (20, 5), "ad01": (1500, 10)}
MIN_WINDOW_S = 10.0
MIN_INFERENCES = 10


class WindowPlan(NamedTuple):
    windows: int
    inferences: int | None  # None: calibrate N until a window lasts the minimum time
    warmups: int
    relaxed: bool


def plan_windows(windows: int, inferences: int | None, warmups: int | None, relaxed: bool,
                 model_key: str | None) -> WindowPlan:
    """The plan from the runner's options; a relaxed (quick) run defaults to one warmup and
    one timed inference per window, a strict one to MLPerf Tiny's per-model warmups."""
    _, ref_w = REFERENCE_N_W.get(model_key or "", (10, 1))
    w = warmups if warmups is not None else (min(ref_w, 1) if relaxed else ref_w)
    if windows < 1 or (inferences is not None and inferences < 1) or w < 0:
        raise HarnessError("tinyml runner: windows and inferences must be ≥ 1, warmups ≥ 0")
    n = 1 if inferences is None and relaxed else inferences
    return WindowPlan(windows, n, w, relaxed)


def reference_inferences(model_key: str | None) -> int:
    """MLPerf Tiny's N for a model (10 for one it does not list)."""
    return REFERENCE_N_W.get(model_key or "", (10, 1))[0]


def infer_timeout(base_s: float, n: int, w: int, per_inference_s: float | None) -> float:
    """How long one `infer N W` may take: the profile's timeout, plus 3× the expected time."""
    if per_inference_s is None:
        return base_s
    return base_s + 3.0 * per_inference_s * (n + w)
