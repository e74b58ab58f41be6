"""Small seeded nightly series for the history tests (the full simulator is benchmarks/regression.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def nightly(key: str, nights: int = 70, *, step: float = 0.0, step_night: int = 40, seed: int = 0,
            night_sd: float = 0.03, rep_sd: float = 0.05, reps: int = 5, level: float = 0.010,
            hot_p: float = 0.0, drift: float = 0.0) -> pd.DataFrame:
    """One key: `reps` samples a night, multiplicative noise, a step of `step` from `step_night` on,
    and a drift of `drift` (0.001 = 0.1 %) per night."""
    rng = np.random.default_rng(seed)
    t = np.arange(nights)
    shared = rng.normal(0, night_sd, nights) + np.where(rng.random(nights) < hot_p, math.log(1.25), 0.0)
    log_level = math.log(level) + shared + drift * t + np.where(t >= step_night, math.log1p(step), 0.0)
    values = np.exp(log_level[:, None] + rng.normal(0, rep_sd, (nights, reps)))
    return pd.DataFrame({"key": key, "night": np.repeat(t, reps), "value": values.ravel()})
