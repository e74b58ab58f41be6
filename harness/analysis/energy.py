"""Energy from power samples: integration over a window, and the run summary.

Pure functions over arrays and telemetry rows; no I/O.

`integrate_power` is the one place that turns a power trace into joules. It is used
for phone/board rails sampled on the target and for external power-monitor streams
(MCU energy mode, between GPIO edges).
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError


def _clean_trace(t_s, power_w) -> tuple[np.ndarray, np.ndarray]:
    """Finite samples only, sorted by time (stable, so equal times keep their order)."""
    t = np.asarray(t_s, dtype=np.float64).ravel()
    p = np.asarray(power_w, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise HarnessError(f"power trace: {t.size} sample times but {p.size} power values")
    keep = np.isfinite(t) & np.isfinite(p)
    t, p = t[keep], p[keep]
    if t.size and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, p = t[order], p[order]
    return t, p


def integrate_power(t_s: np.ndarray, power_w: np.ndarray, start_s: float, end_s: float) -> float:
    """Energy (J) of a power trace over the window [start_s, end_s].

    - Samples may be unevenly spaced; they are integrated with the trapezoid rule,
      i.e. power is taken as linear between consecutive samples.
    - Window edges that fall between two samples get a linearly interpolated power
      value, so a window edge costs no accuracy beyond the trapezoid rule itself.
    - Gaps: a gap between two samples, however long, is bridged linearly. This
      function does not judge gaps; `coverage` reports how much of a window is
      covered by samples spaced no more than a given maximum apart.
    - Outside the sampled span (window starts before the first sample or ends after
      the last) power is held at the first/last sample's value. Check `coverage` when
      that matters.
    - Non-finite samples (NaN/inf time or power: a missing reading) are dropped
      before integrating. Unsorted times are sorted; duplicate times are kept (a
      zero-width step contributes nothing).
    - `end_s == start_s` gives 0.0; `end_s < start_s` or a trace with no finite
      sample raises `HarnessError`.
    """
    start_s, end_s = float(start_s), float(end_s)
    if not (np.isfinite(start_s) and np.isfinite(end_s)):
        raise HarnessError(f"energy window [{start_s}, {end_s}] s is not finite")
    if end_s < start_s:
        raise HarnessError(f"energy window ends ({end_s} s) before it starts ({start_s} s)")
    t, p = _clean_trace(t_s, power_w)
    if t.size == 0:
        raise HarnessError("power trace has no finite samples to integrate")
    if end_s == start_s:
        return 0.0
    inside = (t > start_s) & (t < end_s)
    edges_p = np.interp([start_s, end_s], t, p)  # holds first/last value outside the span
    tt = np.concatenate(([start_s], t[inside], [end_s]))
    pp = np.concatenate(([edges_p[0]], p[inside], [edges_p[1]]))
    return float(np.trapezoid(pp, tt))


def coverage(t_s: np.ndarray, start_s: float, end_s: float, max_gap_s: float) -> float:
    """Share (0..1) of [start_s, end_s] lying between consecutive samples at most `max_gap_s` apart.

    Time before the first sample, after the last, and inside any longer gap counts as
    uncovered. A window of zero length is fully covered if a sample lies on it.
    """
    t = np.asarray(t_s, dtype=np.float64).ravel()
    t = np.sort(t[np.isfinite(t)])
    if end_s <= start_s:
        return 1.0 if np.any(t == start_s) else 0.0
    if t.size < 2:
        return 0.0
    a, b = t[:-1], t[1:]
    ok = (b - a) <= max_gap_s
    lo = np.clip(a[ok], start_s, end_s)
    hi = np.clip(b[ok], start_s, end_s)
    return float(np.sum(hi - lo) / (end_s - start_s))
