"""Readers that one bad file cannot break (issue 11): every reader skips a bad record with a
warning naming it, keeps reading the good ones, and a run id must match its folder."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.errors import HarnessError
from harness.report.dashboard import build_report
from harness.store.store import RunStore, load_runs, load_samples
from tests.conftest import assert_one_line_error
from tests.report.records import write_run

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def store(tmp_path):
    """Two good runs, then one bad record of each kind beside them (each a copy of a good run)."""
    store = RunStore(tmp_path / "results")
    good = [write_run(store, "good_a", samples=40, seed=1), write_run(store, "good_b", samples=60, seed=2)]
    bad = {}

    def copy(tag: str):
        run_dir = store.root / f"{good[0].run_id[:-6]}{tag}"
        shutil.copytree(store.root / good[0].run_id, run_dir)
        bad[tag] = run_dir
        return run_dir

    (copy("null00") / "manifest.json").write_text("null")
    (copy("list00") / "manifest.json").write_text("[1, 2, 3]")
    (copy("deep00") / "manifest.json").write_text(DEEP)
    data = json.loads((store.root / good[0].run_id / "manifest.json").read_text())
    (copy("deepin") / "manifest.json").write_text(json.dumps({**data, "run_id": "x"})[:-1] + ', "x": ' + DEEP + "}")
    (copy("bytes0") / "manifest.json").write_bytes(b'{"run_id": "\xff\xfe"}')
    # a manifest pointing at another folder: its data must never be read as this run's
    (copy("evil00") / "manifest.json").write_text(json.dumps({**data, "run_id": f"../{good[1].run_id}"}))
    # a good manifest whose samples are garbage, and one whose samples are another run's
    garbage = copy("garbag")
    (garbage / "manifest.json").write_text(json.dumps({**data, "run_id": garbage.name}))
    (garbage / "samples.parquet").write_bytes(b"PAR1 not parquet at all PAR1")
    stolen = copy("stolen")
    (stolen / "manifest.json").write_text(json.dumps({**data, "run_id": stolen.name}))
    shutil.copy(store.root / good[1].run_id / "samples.parquet", stolen / "samples.parquet")
    store.good, store.bad = good, bad
    return store


def _warned(stderr: str, *names: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert all(line.startswith("warning: skipped ") for line in lines), stderr
    for name in names:
        assert any(name in line for line in lines), (name, stderr)


def test_results_list_shows_the_good_runs_and_names_each_bad_one(store, cli):
    proc = cli("results", "list", "--results", str(store.root), "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    listed = {r["run_id"] for r in json.loads(proc.stdout)}
    assert {m.run_id for m in store.good} <= listed
    assert not any(r.startswith("..") or "/" in r for r in listed)
    _warned(proc.stderr, *(store.bad[t].name for t in ("null00", "list00", "deep00", "deepin", "bytes0", "evil00")))
    assert "nested too deeply" in proc.stderr and "is not its folder's name" in proc.stderr


def test_results_show_good_run_and_bad_ids(store, cli):
    ok = cli("results", "show", store.good[0].run_id, "--results", str(store.root), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["run_id"] == store.good[0].run_id
    assert_one_line_error(cli("results", "show", "../" + store.good[0].run_id, "--results", str(store.root)),
                          "is not a run id")
    assert_one_line_error(cli("results", "show", store.bad["null00"].name, "--results", str(store.root)),
                          "a run manifest is a JSON object")


def test_loaders_and_duckdb_read_every_good_run(store):
    runs = load_runs(store.root)
    assert set(runs.run_id) == {m.run_id for m in store.good} | {store.bad[t].name for t in ("garbag", "stolen")}
    samples = load_samples(store.root)
    assert sorted(samples.groupby("run_id").size().items()) == sorted(
        (m.run_id, m.tables["samples"]) for m in store.good)
    con = RunStore(store.root).connect()
    assert con.execute("SELECT count(*) FROM samples").fetchone() == (sum(m.tables["samples"] for m in store.good),)
    assert con.execute("SELECT count(DISTINCT run_id) FROM samples").fetchone() == (2,)
    fresh = RunStore(store.root)
    fresh.table_files("samples")
    assert any(store.bad["garbag"].name in p and "not a Parquet file" in p for p in fresh.problems)
    assert any(store.bad["stolen"].name in p and "another run" in p for p in fresh.problems), fresh.problems
    assert [m.run_id for m in fresh.select(model="good_b")] == [store.good[1].run_id]


def test_loading_a_bad_table_names_the_file(store):
    run = RunStore(store.root).load(store.bad["stolen"].name)
    with pytest.raises(HarnessError, match="samples.parquet: unreadable .holds rows of another run"):
        run.samples


def test_report_lists_the_runs_it_skipped(store, tmp_path):
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    assert "fig-latency-" in html  # the good runs are plotted
    assert "Records not read" in html
    for tag in ("null00", "deep00", "evil00", "bytes0"):
        assert store.bad[tag].name in html
    assert "left out of the plots" in html  # the garbage and stolen tables


def test_trace_of_a_good_run_and_a_bad_id(store, cli, tmp_path):
    ok = cli("trace", store.good[1].run_id, "--results", str(store.root), "-o", str(tmp_path / "t.json"))
    assert ok.returncode == 0, ok.stderr
    assert_one_line_error(cli("trace", "../../etc", "--results", str(store.root), "-o", str(tmp_path / "x.json")),
                          "is not a run id")
