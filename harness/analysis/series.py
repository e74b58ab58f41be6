"""Read a long-format history table (key, night, value[, degraded]) from CSV or Parquet.

One row per sample. ``night`` is an integer or an ISO date (YYYY-MM-DD), one kind for
the whole file; ``value`` a positive number (the history is compared on a log scale);
``degraded`` (optional) true/false, 1/0, yes/no or empty (= false). Other columns are
kept as they are. Every problem is one `HarnessError` naming the file, the line (CSV,
counting the header as line 1) or row (Parquet), the column and the cause.

`store_series` makes the same table from a results store: per measure key (benchmark
key, plus the phase for multi-phase runs) one row per ok run, its night the run's
``nightly`` tag or else its UTC start date, flagged degraded when the farm marked it
(``farm.degraded=1``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError

REQUIRED = ("key", "night", "value")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def read_series(path: str | Path) -> pd.DataFrame:
    """The table with ``key`` (str), ``night`` (int, or 'YYYY-MM-DD' str), ``value`` (float),
    ``degraded`` (bool), plus any extra columns."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        df, where = _read_parquet(path), "row"
    elif suffix in (".csv", ".txt", ""):
        df, where = _read_csv(path), "line"
    else:
        raise HarnessError(f"{path}: unknown table format {suffix!r} (expected .csv or .parquet)")
    return _validate(df, path, where)


def _read_csv(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise HarnessError(f"{path}: empty file (expected a header line: key,night,value)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: not a readable CSV table: {str(e).strip().splitlines()[0]}") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise HarnessError(f"{path}: not a readable Parquet file: {str(e).strip().splitlines()[0]}") from None
    return table.to_pandas()


def _validate(df: pd.DataFrame, path: Path, where: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns)) or "none"
        raise HarnessError(f"{path}: missing column {missing[0]!r} (columns: {have}; expected key, night, value)")
    if df.empty:
        raise HarnessError(f"{path}: no rows (only a header)")
    first = 2 if where == "line" else 1  # CSV: the header is line 1

    def fail(row: int, message: str) -> HarnessError:
        return HarnessError(f"{path} {where} {row + first}: {message}")

    out = df.copy()
    keys = out["key"].astype(str).str.strip()
    bad = np.flatnonzero((keys == "").to_numpy() | out["key"].isna().to_numpy())
    if bad.size:
        raise fail(int(bad[0]), "key is empty")
    out["key"] = keys
    out["value"] = _values(out["value"], fail)
    out["night"] = _nights(out["night"], fail)
    out["degraded"] = _flags(out["degraded"], fail) if "degraded" in out else False
    return out


def _values(col: pd.Series, fail) -> pd.Series:
    values = pd.to_numeric(col, errors="coerce").astype(float)
    bad = np.flatnonzero(values.isna().to_numpy())
    if bad.size:
        raise fail(int(bad[0]), f"value {col.iloc[bad[0]]!r} is not a number")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy()) | (values.to_numpy() <= 0))
    if bad.size:
        raise fail(int(bad[0]), f"value {col.iloc[bad[0]]!r} must be a positive number "
                                "(histories are compared as ratios, on a log scale)")
    return values


def _nights(col: pd.Series, fail) -> pd.Series:
    """All integers, or all ISO dates (returned as 'YYYY-MM-DD')."""
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.astype("int64")
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return col.dt.strftime("%Y-%m-%d")
    text = col.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else ("" if v is None else str(v))).str.strip()
    is_int = text.str.fullmatch(r"[+-]?\d+").to_numpy()
    dates = pd.to_datetime(text.where(~is_int), format="%Y-%m-%d", errors="coerce")
    is_date = dates.notna().to_numpy()
    bad = np.flatnonzero(~(is_int | is_date))
    if bad.size:
        raise fail(int(bad[0]), f"night {text.iloc[bad[0]]!r} is neither an integer nor an ISO date (YYYY-MM-DD)")
    if is_int.any() and is_date.any():
        row = int(np.flatnonzero(is_date if is_int[0] else is_int)[0])
        kinds = ("an ISO date", "integers") if is_int[0] else ("an integer", "ISO dates")
        raise fail(row, f"night {text.iloc[row]!r} is {kinds[0]} but the nights before it are {kinds[1]}")
    if is_int.all():
        return text.astype("int64")
    return dates.dt.strftime("%Y-%m-%d")


def _flags(col: pd.Series, fail) -> pd.Series:
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype(bool)
    text = col.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    text = text.str.strip().str.lower().str.removesuffix(".0")
    ok = text.isin(_TRUE | _FALSE).to_numpy()
    bad = np.flatnonzero(~ok)
    if bad.size:
        raise fail(int(bad[0]), f"degraded {col.iloc[bad[0]]!r} is not true/false (or 1/0, yes/no, empty)")
    return text.isin(_TRUE)


# --------------------------------------------------------------------------- the results store


DEGRADED_TAG = "farm.degraded"  # the farm's flag on records of a device it found drifting


def night_of(m) -> str:
    """A run's night: its ``nightly`` tag, else the UTC date it started (YYYY-MM-DD)."""
    tag = (m.metadata.get("nightly") or "").strip()
    return tag or m.started_at.astimezone(dt.timezone.utc).date().isoformat()


@dataclass
class StoreSeries:
    """Every ok run's measures as a history table, nights numbered in the order they ran.

    ``table``: one row per run and measure: ``key`` (measure key), ``night`` (0, 1, … in
    order of each night's first run), ``value`` (the run's typical figure, SI), ``degraded``,
    ``run_id``, ``started_at``, ``build`` (metadata ``build``, or None). ``nights`` are the
    night names by number; ``labels``, ``units`` and ``higher_is_better`` are per key."""

    table: pd.DataFrame
    nights: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    #: which benchmark key (without phase) each measure key belongs to
    benchmark_keys: dict[str, str] = field(default_factory=dict)
    #: (device id, model name, phase) of each measure key
    identity: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def night_name(self, night: int | str) -> str:
        return self.nights[night] if isinstance(night, (int, np.integer)) else str(night)

    def night_number(self, name: str) -> int:
        try:
            return self.nights.index(name)
        except ValueError:
            raise HarnessError(f"night {name!r} is not in the store's history (nights: "
                               f"{', '.join(self.nights[-5:]) or 'none'}{' …' if len(self.nights) > 5 else ''})") from None


COLUMNS = ["key", "night", "value", "degraded", "run_id", "started_at", "build"]


def store_series(manifests) -> StoreSeries:
    """The history of every measure in these run manifests (non-ok runs are absent)."""
    from harness.analysis.comparison import label_of
    from harness.analysis.evidence import measure_key, typical_measures

    rows, labels, units, hib, bkeys, ident = [], {}, {}, {}, {}, {}
    first: dict[str, dt.datetime] = {}
    for m in manifests:
        measures = typical_measures(m)
        if not measures:
            continue
        night = night_of(m)
        first[night] = min(first.get(night, m.started_at), m.started_at)
        for x in measures:
            key = measure_key(m.benchmark_key, x.phase)
            labels.setdefault(key, label_of(m, x.phase))
            units.setdefault(key, x.unit)
            hib.setdefault(key, x.higher_is_better)
            bkeys.setdefault(key, m.benchmark_key or "")
            ident.setdefault(key, (m.device.id, m.model.name, x.phase))
            rows.append((key, night, x.typical, m.metadata.get(DEGRADED_TAG) == "1", m.run_id, m.started_at,
                         m.metadata.get("build")))
    nights = sorted(first, key=lambda n: (first[n], n))
    number = {n: i for i, n in enumerate(nights)}
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["night"] = table["night"].map(number).astype("int64")
    return StoreSeries(table, nights, labels, units, hib, bkeys, ident)
