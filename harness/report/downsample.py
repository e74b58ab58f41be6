"""Keep plots small however long the series: the raw data stays in the run record.

- `minmax_buckets`: a time series cut into equal-count buckets, each kept as its
  minimum and maximum in time order, so spikes and dips survive (a mean would hide a
  throttling dip; a stride would skip a spike). At most 2 × buckets points.
- `bucket_stats`: a time series cut into equal-count buckets (at least a few samples
  each), each kept as its median and its min–max band: the typical value and the spread.
- `log_histogram`: latencies binned on a log scale with a fixed number of bins per
  decade, so runs whose latencies differ by orders of magnitude share one axis and
  their histograms stay comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Buckets:
    x: np.ndarray  # each bucket's middle sample's x
    low: np.ndarray
    median: np.ndarray
    high: np.ndarray
    size: int  # samples per bucket (the last one may hold fewer)


def bucket_stats(x: np.ndarray, y: np.ndarray, buckets: int = 1000, min_size: int = 5) -> Buckets:
    """At most `buckets` consecutive buckets of (x, y), each of at least `min_size` samples
    when there are that many, as (middle x, min, median, max) in x order."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n == 0:
        empty = np.array([])
        return Buckets(empty, empty, empty, empty, 0)
    size = max(-(-n // max(1, buckets)), min(min_size, n))
    starts = np.arange(0, n, size)
    low = np.minimum.reduceat(y, starts)
    high = np.maximum.reduceat(y, starts)
    median = np.array([np.median(y[s:s + size]) for s in starts]) if size > 1 else y.copy()
    mid = np.minimum(starts + size // 2, n - 1)
    return Buckets(x[mid], low, median, high, int(size))


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
