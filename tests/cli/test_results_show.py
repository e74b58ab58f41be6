"""`harness results list|show` and `harness run`'s table as a user reads them: a summary
instead of a JSON dump, run ids by any unique prefix and never cut, warnings that are in
the record shown in the output, a missing results folder an error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import ANSI, on_a_terminal
from tests.conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.timeout(300)

V1 = Path(__file__).resolve().parent.parent / "records" / "v1_results"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> tuple[Path, dict]:
    """Real records: the committed v1 runs (ok, failed, ingested, MCU with 5 windows), and a
    run on this host with ceilings beside it (so it is placed on the roofline)."""
    root = tmp_path_factory.mktemp("cli") / "results"
    shutil.copytree(V1, root)
    proc = run_cli("run", "-d", "local", "-m", "kws01-fp32-tflite", "--stop", "fixed", "--count", "20",
                   "--baseline", "0", "--results", str(root), cwd=root.parent)
    assert proc.returncode == 0, proc.stderr
    (local,) = [d for d in root.iterdir() if "local-kws01-fp32" in d.name]
    return root, {"run": proc, "local": local.name, **{part: d.name for d in root.iterdir()
                                                        for part in ("broken-python", "mps2-an386", "pixel8-mobilenet")
                                                        if part in d.name}}


def _show(root: Path, *args: str):
    return run_cli("results", "show", *args, "--results", str(root))


def _manifest(root: Path, run_id: str) -> dict:
    return json.loads((root / run_id / "manifest.json").read_text())


def test_run_table_shows_the_skipped_thermal_gate(results):
    root, runs = results
    out = runs["run"].stdout
    # the local profile sets no cooldown temperature: the record says the gate was skipped
    assert _manifest(root, runs["local"])["conditions"]["cooldown"] == {"skipped": "profile sets no limits.cooldown_temp_c"}
    assert f"{runs['local']}: warning: thermal gate skipped: profile sets no limits.cooldown_temp_c" in out


def test_show_prints_a_readable_summary(results):
    root, runs = results
    run_id = runs["local"]
    m = _manifest(root, run_id)
    proc = _show(root, run_id)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert not out.lstrip().startswith("{")  # not the JSON record
    lines = {line.split("  ", 1)[0]: line for line in out.splitlines() if "  " in line}
    assert out.splitlines()[0] == f"run {run_id}"
    assert lines["status"].split() == ["status", "ok"]
    lat = m["summary"]["latency"]
    ci = "–".join(f"{x * 1e3:.3f}" for x in lat["ci95_s"])
    assert f"median {lat['median_s'] * 1e3:.3f} ms (95% CI {ci} ms)" in lines["latency"]
    assert f"{lat['n']} samples" in lines["latency"]
    cold = m["phases"]
    assert f"load {cold['load_s'] * 1e3:.3f} ms, init {cold['init_s'] * 1e3:.3f} ms" in lines["cold start"]
    assert "kws01-fp32-tflite (tflite, fp32" in lines["model"] and m["model"]["sha256"] in lines["model sha256"]
    assert lines["energy"].split(None, 1)[1].startswith("not measured: ")
    roof = m["summary"]["roofline"]
    assert roof is not None  # the v1 ceilings of `local` are beside the run
    assert f"{roof['bound']}-bound, judged against" in lines["roofline"]
    assert ("efficiency" in lines["roofline"]) != ("ceiling too low: re-measure" in lines["roofline"])
    files = [line for line in out.splitlines() if line.startswith("files in ")]
    assert files == [f"files in {root / run_id}: " + ", ".join(sorted(
        p.relative_to(root / run_id).as_posix() for p in (root / run_id).rglob("*") if p.is_file()))]
    for w in m["summary"]["warnings"]:
        assert f"warning: {w}" in out
    assert "warning: thermal gate skipped" in out


def test_show_a_failed_run_says_where_and_why(results):
    root, runs = results
    run_id = runs["broken-python"]
    error = _manifest(root, run_id)["error"]
    proc = _show(root, run_id)
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("error ")]
    assert f"{error['stage']}: " in line and error["message"].split()[0] in line
    assert "status         failed" in proc.stdout


def test_mcu_windows_under_ten_samples_are_a_warning(results):
    root, runs = results
    run_id = runs["mps2-an386"]
    assert _manifest(root, run_id)["summary"]["warnings"] == []  # the record alone says nothing
    shown = _show(root, run_id)
    assert "warning: only 5 steady-state samples (MLPerf Tiny windows) (fewer than 10): no confidence interval" \
        in shown.stdout
    listed = run_cli("results", "list", "--results", str(root))
    (row,) = [line for line in listed.stdout.splitlines() if run_id in line]
    assert row.rstrip(" │").split("│")[-1].strip() == "1"  # the warnings column
    as_json = json.loads(run_cli("results", "list", "--results", str(root), "--json").stdout)
    (mcu,) = [r for r in as_json if r["run_id"] == run_id]
    assert mcu["warnings"] == ["only 5 steady-state samples (MLPerf Tiny windows) (fewer than 10): no confidence interval"]


def test_show_json_keeps_the_whole_record(results):
    root, runs = results
    run_id = runs["pixel8-mobilenet"]
    proc = _show(root, run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown.pop("path") == str(root / run_id)
    from harness.store.migrate import read_manifest

    assert shown == read_manifest(_manifest(root, run_id), "x").model_dump(mode="json")


def test_run_ids_by_any_unique_prefix(results):
    root, runs = results
    ids = sorted(d.name for d in root.iterdir() if (d / "manifest.json").exists())
    run_id = runs["mps2-an386"]
    unique = next(run_id[:n] for n in range(1, len(run_id)) if sum(i.startswith(run_id[:n]) for i in ids) == 1)
    proc = _show(root, unique, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["run_id"] == run_id

    shared = unique[:-1]
    line = assert_one_line_error(_show(root, shared), f"start with '{shared}'")
    candidates = [i for i in ids if i.startswith(shared)]
    assert len(candidates) > 1 and all(c in line for c in candidates)
    assert_one_line_error(_show(root, "nope"), "no run matching 'nope'")


def test_a_missing_results_folder_is_an_error(tmp_path):
    missing = tmp_path / "nonexistent"
    assert_one_line_error(run_cli("results", "list", "--results", str(missing)), str(missing), "no such results folder")
    assert_one_line_error(run_cli("results", "show", "x", "--results", str(missing)), "no such results folder")
    assert not missing.exists()


@pytest.mark.parametrize("columns", [40, 80])
def test_tables_never_cut_a_run_id(results, columns):
    root, _ = results
    ids = [d.name for d in root.iterdir() if (d / "manifest.json").exists()]
    code, out = on_a_terminal("results", "list", "--results", str(root), cwd=root, columns=columns)
    assert code == 0, out
    text = ANSI.sub("", out)
    assert "…" not in text
    for run_id in ids:  # whole, on one line, so it can be pasted
        assert re.search(rf"│ {re.escape(run_id)} +│", text), (run_id, text)


def test_an_mcu_run_prints_its_few_samples_warning(cli, tmp_path):
    # QEMU mps2-an386 with the reference firmware: MLPerf Tiny's 5 windows, too few for a CI
    proc = cli("run", "--device", "mps2-an386", "--model", "kws01-int8-tflite", "--relaxed-windows")
    assert proc.returncode == 0, proc.stderr
    (row,) = [line for line in proc.stdout.splitlines() if "mps2-an386-kws01-int8-tflite" in line and "│" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[4:6] == ["ok", "5"] and cells[8] == "-"  # the 95% CI: none, not 'nan–nan'
    (run_dir,) = (tmp_path / "results").iterdir()
    assert f"{run_dir.name}: warning: only 5 steady-state samples (MLPerf Tiny windows) (fewer than 10): " \
           "no confidence interval" in proc.stdout
