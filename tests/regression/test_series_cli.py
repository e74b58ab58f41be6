"""`harness regress --series FILE`: a long table written by the test, CSV and Parquet, and its errors."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.analysis.history import HistoryConfig
from harness.analysis.series import read_series
from harness.errors import HarnessError
from tests.conftest import assert_one_line_error
from tests.regression.sim import nightly

pytestmark = pytest.mark.timeout(180)


def history_table() -> pd.DataFrame:
    """Two keys over 60 dated nights: one with a 12 % step on 2026-11-10, one quiet; a degraded board."""
    table = pd.concat([nightly("kws01-int8@rpi5", nights=60, step=0.12, seed=2),
                       nightly("vww01-int8@rpi5", nights=60, seed=3)])
    table["night"] = (pd.Timestamp("2026-10-01") + pd.to_timedelta(table.night, unit="D")).dt.strftime("%Y-%m-%d")
    table["device"] = "rpi5-a"
    table["degraded"] = False
    hot = table.key.str.startswith("vww") & (table.night >= "2026-11-20")
    table.loc[hot, "value"] *= 1.5  # a throttling board: its samples are flagged and must not alarm
    table.loc[hot, "degraded"] = True
    return table


def test_regress_series_csv_json(cli, tmp_path):
    path = tmp_path / "history.csv"
    history_table().to_csv(path, index=False)
    proc = cli("regress", "--series", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    keys = {k["key"]: k for k in out["keys"]}
    step, quiet = keys["kws01-int8@rpi5"], keys["vww01-int8@rpi5"]
    assert len(step["change_points"]) == 1
    cp = step["change_points"][0]
    assert cp["direction"] == "regressed" and cp["night"] in ("2026-11-09", "2026-11-10", "2026-11-11")
    assert step["alarm_nights"] == [cp["alarm_night"]] and "2026-11-10" <= cp["alarm_night"] <= "2026-11-17"
    lo, hi = cp["effect"]["ci95"]
    assert lo < 1.12 < hi and cp["effect"]["verdict"] == "regressed"
    assert quiet["change_points"] == [] and quiet["alarm_nights"] == []
    assert quiet["excluded_samples"] == int(history_table().degraded.sum()) == out["excluded_samples"]
    # every sample from 2026-11-20 on came from the degraded board: those nights are not in its series
    assert len(quiet["nights"]) == 50 and quiet["nights"][-1]["night"] == "2026-11-19"
    assert len(step["nights"]) == 60 and step["nights"][0]["night"] == "2026-10-01"
    # the config the verdicts came from, whole: the defaults, so a retune needs no change here
    assert HistoryConfig.model_validate(out["config"]) == HistoryConfig()


def test_regress_series_parquet_table(cli, tmp_path):
    table = history_table()
    table["night"] = pd.to_datetime(table.night).dt.date  # a date32 column
    path = tmp_path / "history.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
    proc = cli("regress", "--series", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "kws01-int8@rpi5" in proc.stdout and "regressed" in proc.stdout
    assert "vww01-int8@rpi5" in proc.stdout and "no change" in proc.stdout
    assert "2 keys, 1 change point(s)" in proc.stdout


def test_integer_nights_and_rates(cli, tmp_path):
    path = tmp_path / "tokens.csv"
    nightly("llm/decode_tok_s", step=-0.2, seed=4, level=35.0).to_csv(path, index=False)
    out = json.loads(cli("regress", "--series", str(path), "--higher-is-better", "--json").stdout)
    (key,) = out["keys"]
    assert [c["direction"] for c in key["change_points"]] == ["regressed"]
    assert isinstance(key["change_points"][0]["night"], int)


@pytest.mark.parametrize(
    "text, needles",
    [
        ("", ("empty file",)),
        ("key,night,value\n", ("no rows",)),
        ("key,value\na,1.0\n", ("missing column 'night'", "columns: key, value")),
        ("key,night,value\na,1,0.01\na,2026-13-01,0.01\n", ("line 3", "night '2026-13-01'", "ISO date")),
        ("key,night,value\na,2026-10-01,0.01\na,7,0.01\n", ("line 3", "night '7' is an integer", "ISO dates")),
        ("key,night,value\na,1,0.01\na,2,fast\n", ("line 3", "value 'fast' is not a number")),
        ("key,night,value\na,1,0.01\na,2,-0.01\n", ("line 3", "must be a positive number")),
        ("key,night,value\n,1,0.01\n", ("line 2", "key is empty")),
        ("key,night,value,degraded\na,1,0.01,maybe\n", ("line 2", "degraded 'maybe'")),
        ('key,night,value\n"a,1,0.01\n', ("not a readable CSV",)),
    ],
)
def test_bad_tables_are_one_line_errors(cli, tmp_path, text, needles):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert_one_line_error(cli("regress", "--series", str(path)), str(path), *needles)


def test_missing_and_unknown_files(cli, tmp_path):
    assert_one_line_error(cli("regress", "--series", str(tmp_path / "nope.csv")), "no such file")
    odd = tmp_path / "history.xlsx"
    odd.write_bytes(b"PK")
    assert_one_line_error(cli("regress", "--series", str(odd)), "unknown table format")
    fake = tmp_path / "history.parquet"
    fake.write_text("key,night,value\n")
    assert_one_line_error(cli("regress", "--series", str(fake)), "not a readable Parquet file")


def test_reader_keeps_extra_columns_and_normalises_types(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("key, night, value, degraded, build\nk,3,0.5,yes,abc\nk,1,0.25,,def\nk,2,1e-3,0,ghi\n")
    df = read_series(path)
    assert list(df.night) == [3, 1, 2] and df.night.dtype == "int64"
    assert list(df.degraded) == [True, False, False]
    assert list(df.build) == ["abc", "def", "ghi"]
    assert df.value.tolist() == pytest.approx([0.5, 0.25, 1e-3])
    pq.write_table(pa.table({"key": ["k"], "night": [pa.scalar(5, pa.int32()).as_py()], "value": [2]}),
                   tmp_path / "h.parquet")
    assert read_series(tmp_path / "h.parquet").night.tolist() == [5]
    with pytest.raises(HarnessError, match=r"h2.parquet row 2: value"):
        pq.write_table(pa.table({"key": ["k", "k"], "night": [1, 2], "value": [1.0, float("nan")]}),
                       tmp_path / "h2.parquet")
        read_series(tmp_path / "h2.parquet")
