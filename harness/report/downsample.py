"""Keep plots small however long the series: the raw data stays in the run record.

- `minmax_buckets`: a time series cut into equal-count buckets, each kept as its
  minimum and maximum in time order, so spikes and dips survive (a mean would hide a
  throttling dip; a stride would skip a spike). At most 2 × buckets points.
- `log_histogram`: latencies binned on a log scale with a fixed number of bins per
  decade, so runs whose latencies differ by orders of magnitude share one axis and
  their histograms stay comparable.
"""

from __future__ import annotations

import numpy as np


def minmax_buckets(x: np.ndarray, y: np.ndarray, buckets: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """At most 2·buckets points of (x, y) keeping each bucket's extremes, in x order."""
    x = np.asarray(x)
    y = np.asarray(y)
    n = len(y)
    if n <= 2 * buckets:
        return x, y
    size = -(-n // buckets)  # ceil: every bucket but the last is full
    pad = size * buckets - n
    yy = np.concatenate([y.astype(float), np.full(pad, np.nan)]).reshape(buckets, size)
    valid = ~np.all(np.isnan(yy), axis=1)
    yy = yy[valid]
    starts = np.arange(buckets)[valid] * size
    lo = np.nanargmin(yy, axis=1) + starts
    hi = np.nanargmax(yy, axis=1) + starts
    idx = np.sort(np.concatenate([lo, hi]))
    idx = idx[np.concatenate([[True], idx[1:] != idx[:-1]])]
    return x[idx], y[idx]


def log_histogram(values: np.ndarray, per_decade: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, fraction of values per bin) on log-spaced bins; empty for no positive values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return np.array([]), np.array([])
    lo, hi = np.log10(v.min()), np.log10(v.max())
    lo = np.floor(lo * per_decade) / per_decade
    hi = max(np.ceil(hi * per_decade) / per_decade, lo + 1 / per_decade)
    edges = 10 ** np.linspace(lo, hi, int(round((hi - lo) * per_decade)) + 1)
    counts, edges = np.histogram(v, bins=edges)
    centres = np.sqrt(edges[:-1] * edges[1:])
    return centres, counts / v.size
