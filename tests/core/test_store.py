"""The run store: manifest last and atomic, half-written runs ignored, versions checked."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from harness.errors import HarnessError
from harness.store.record import DeviceRef, ModelRef, RunConfig, RunManifest, RuntimeInfo
from harness.store.recorder import Recorder
from harness.store.store import RunStore, load_runs, load_samples


def _manifest(store: RunStore, status="ok", model="m") -> RunManifest:
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
    return RunManifest(
        run_id=store.new_run_id(now, "dev", model),
        status=status,
        started_at=now,
        device=DeviceRef(id="dev", name="Dev", transport="local"),
        profile={},
        model=ModelRef(name=model, path="/x/m.tflite", sha256="0" * 64, format="tflite", size_bytes=1),
        runtime=RuntimeInfo(name="tflite"),
        config=RunConfig(runtime="tflite"),
        harness_version="test",
        host={"hostname": "h"},
    )


def _recorder(n: int) -> Recorder:
    rec = Recorder(runtime=RuntimeInfo(name="tflite"))
    for i in range(n):
        rec.add_sample(i, "steady", 1_000 * i, 500 + i)
    rec.add_telemetry(5, "thermal/cpu", 41.5, "C")
    rec.add_raw("agent_stderr", ["line one", "line two"])
    return rec


def test_write_then_read_back_through_store_pandas_and_duckdb(tmp_path):
    store = RunStore(tmp_path)
    m = _manifest(store)
    run_dir = store.write(m, _recorder(7))
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "manifest.json", "raw", "samples.parquet", "telemetry.parquet"
    ]
    umask = os.umask(0)
    os.umask(umask)
    assert (run_dir / "manifest.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert not list(run_dir.glob(".manifest*"))  # no temporary left behind
    run = store.load(m.run_id[:20])
    assert run.manifest.tables == {"samples": 7, "telemetry": 1, "ops": 0}
    assert run.samples.num_rows == 7 and run.ops.num_rows == 0
    assert run.raw("agent_stderr") == "line one\nline two\n"
    assert list(load_runs(tmp_path)["run_id"]) == [m.run_id]
    assert len(load_samples(tmp_path)) == 7
    con = store.connect()
    assert con.execute("SELECT count(*), max(latency_ns) FROM samples").fetchone() == (7, 506)
    assert con.execute("SELECT value FROM telemetry").fetchone() == (41.5,)
    assert con.execute("SELECT count(*) FROM ops").fetchone() == (0,)


def test_a_run_without_manifest_is_invisible(tmp_path):
    store = RunStore(tmp_path)
    store.write(_manifest(store), _recorder(3))
    half = tmp_path / "20261128T000000-dev-crashed-abcdef"
    half.mkdir()
    (half / "samples.parquet").write_bytes(b"partial")
    assert len(store.manifests()) == 1
    assert store.connect().execute("SELECT count(*) FROM samples").fetchone() == (3,)


def test_newer_schema_and_broken_manifest_are_refused_clearly(tmp_path):
    store = RunStore(tmp_path)
    m = _manifest(store)
    run_dir = store.write(m, _recorder(1))
    data = json.loads((run_dir / "manifest.json").read_text())
    data["schema_version"] = 99
    (run_dir / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="schema_version 99 is newer"):
        store.load(m.run_id)
    (run_dir / "manifest.json").write_text("{not json")
    with pytest.raises(HarnessError, match="unreadable run manifest"):
        store.load(m.run_id)
    # listing skips the broken run, says why, and still shows the others
    good = _manifest(store, model="other")
    store.write(good, _recorder(2))
    assert [r.run_id for r in store.manifests()] == [good.run_id]
    assert len(store.problems) == 1 and "unreadable run manifest" in store.problems[0]


def test_empty_store_has_empty_views(tmp_path):
    con = RunStore(tmp_path / "none").connect()
    assert con.execute("SELECT count(*) FROM samples").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
