"""Record versions: real v1 run folders (written by harness before record v2) read by
every reader; a newer minor version's fields ignored, a newer major refused in one line;
ceilings files versioned too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import harness
from harness.store.record import SCHEMA_VERSION
from harness.store.results import MlperfTinyResult, ToolAggregates, UnknownResult
from harness.store.store import RunStore
from tests.conftest import assert_one_line_error

V1 = Path(__file__).resolve().parent / "v1_results"


@pytest.fixture
def v1(tmp_path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(V1, results)
    return results


def _by_name(runs: list[dict], part: str) -> dict:
    (run,) = [r for r in runs if part in r["run_id"]]
    return run


def test_v1_runs_are_listed_and_shown_migrated(cli, v1):
    proc = cli("results", "list", "--results", str(v1), "--json")
    assert proc.returncode == 0 and "skipped" not in proc.stderr, proc.stderr
    runs = json.loads(proc.stdout)
    assert len(runs) == 5
    ok = _by_name(runs, "local-kws01")
    assert ok["status"] == "ok" and ok["latency"]["n"] == 30 and ok["results"] == []
    failed = _by_name(runs, "broken-python")
    assert failed["status"] == "failed" and failed["error"]["stage"] == "start"
    assert failed["error"]["kind"] is None  # v1 did not classify failures: not made up on read
    ingested = _by_name(runs, "pixel8-mobilenet_v2")
    (agg,) = ingested["results"]
    assert agg["kind"] == "tool_aggregates" and agg["steady"]["count"] == 50
    assert agg["steady"]["percentiles"]["p95"] == pytest.approx(1.373207)
    assert agg["details"]["delegation"][0]["delegate"] == "XNNPACK"
    assert _by_name(runs, "tiny_muaalem")["status"] == "failed"

    mcu = _by_name(runs, "mps2-an386")
    proc = cli("results", "show", mcu["run_id"], "--results", str(v1), "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["schema_version"] == SCHEMA_VERSION
    (tiny,) = shown["results"]
    assert tiny["kind"] == "mlperf_tiny" and len(tiny["windows"]) == 5 and tiny["valid"] is False
    assert tiny["windows"][0]["lap_us"] == [1521935, 3042106]
    assert "windows" not in shown["runtime"]["details"] and shown["runtime"]["details"]["device_model"] == "kws01"


def test_v1_runs_feed_the_report_and_the_loaders(cli, v1, tmp_path):
    proc = cli("report", "--results", str(v1), "--out", str(tmp_path / "report.html"))
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report.html").read_text()
    assert "mps2-an386" in page and "tool_aggregates" in page

    runs = harness.load_runs(v1)
    assert len(runs) == 5 and set(runs.status) == {"ok", "failed"}
    ingested = runs[runs.run_id.str.contains("mobilenet_v2")].iloc[0]
    assert ingested.median_s != ingested.median_s  # NaN: no samples were made up from aggregates
    samples = harness.load_samples(v1)
    steady = samples[samples.phase == "steady"].groupby("run_id").size().to_dict()
    assert sorted(steady.values()) == [5, 30]  # the local run and the MCU's five windows
    con = RunStore(v1).connect()
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 5
    assert con.execute("SELECT count(DISTINCT run_id) FROM telemetry").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM runs WHERE benchmark_key IS NULL").fetchone()[0] == 5


def _v2_manifest(v1: Path) -> tuple[Path, dict]:
    run_dir = next(d for d in v1.iterdir() if "local-kws01" in d.name)
    data = RunStore(v1).load(run_dir.name).manifest.model_dump(mode="json")
    return run_dir, data


def test_a_newer_minor_version_is_read_and_its_new_fields_ignored(cli, v1):
    run_dir, data = _v2_manifest(v1)
    data["schema_version"] = "2.7"
    data["fleet_lease"] = {"id": "l-1"}  # new top-level field
    data["config"]["power_cap_w"] = 5.0  # new nested field
    data["results"] = [{"kind": "from_the_future", "value": 1},
                       {"kind": "tool_aggregates", "source": "t", "novel": True}]
    (run_dir / "manifest.json").write_text(json.dumps(data))
    m = RunStore(v1).load(run_dir.name).manifest
    assert m.run_id == data["run_id"] and m.summary.latency.n == 30
    unknown, agg = m.results
    assert isinstance(unknown, UnknownResult) and unknown.model_dump() == {"kind": "from_the_future", "value": 1}
    assert isinstance(agg, ToolAggregates) and agg.source == "t"
    proc = cli("results", "list", "--results", str(v1), "--json")
    assert proc.returncode == 0 and "skipped" not in proc.stderr and len(json.loads(proc.stdout)) == 5


def test_a_newer_major_version_is_refused_in_one_line(cli, v1):
    run_dir, data = _v2_manifest(v1)
    data["schema_version"] = "3.0"
    (run_dir / "manifest.json").write_text(json.dumps(data))
    assert_one_line_error(cli("results", "show", run_dir.name, "--results", str(v1)),
                          "schema_version '3.0' is newer than this harness reads (2.x); upgrade harness")
    proc = cli("results", "list", "--results", str(v1), "--json")  # the others still list
    assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 4 and "upgrade harness" in proc.stderr


def test_ceilings_files_are_versioned_and_old_ones_still_load(v1, tmp_path):
    from harness.analysis.ceilings import CEILINGS_VERSION, CeilingsError, load_ceilings, save_ceilings

    old = json.loads((v1 / "ceilings" / "local.json").read_text())
    assert "schema_version" not in old  # written before ceilings were versioned
    c = load_ceilings("local", v1)
    assert c.schema_version == "1.0" and c.peak_ops_per_s["fp32"] > 0
    save_ceilings(c, tmp_path)
    assert json.loads((tmp_path / "ceilings" / "local.json").read_text())["schema_version"] == CEILINGS_VERSION
    newer = {**old, "schema_version": "1.4", "gpu_peaks": {"fp16": 1e12}}
    (tmp_path / "ceilings" / "local.json").write_text(json.dumps(newer))
    assert load_ceilings("local", tmp_path).peak_ops_per_s == c.peak_ops_per_s
    (tmp_path / "ceilings" / "local.json").write_text(json.dumps({**old, "schema_version": "2.0"}))
    with pytest.raises(CeilingsError, match="newer than this harness reads"):
        load_ceilings("local", tmp_path)


def test_mlperf_result_round_trips_as_its_type(v1):
    run = next(m for m in RunStore(v1).manifests() if m.device.id == "mps2-an386")
    again = type(run).model_validate_json(run.model_dump_json())
    assert isinstance(again.result(MlperfTinyResult), MlperfTinyResult)
    assert again.result(MlperfTinyResult).windows == run.result(MlperfTinyResult).windows
