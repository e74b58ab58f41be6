"""`harness gate` and `harness baseline`: history alarms and pinned baselines through the CLI,
with the exit codes, the markdown and JUnit outputs CI reads, and the farm's gate hook."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pytest

from harness.analysis.gate import run_gate
from harness.farm.gate import StoreGate
from harness.store.store import RunStore
from tests.conftest import assert_one_line_error
from tests.regression.records import night_name, write

pytestmark = pytest.mark.timeout(900)
XSD = "tests/farm/junit.xsd"


def history_store(store: RunStore, nights: int = 28, step_night: int = 18, step: float = 0.15) -> None:
    """kws01 (a 15 % step at `step_night`, build b<night> on each night) and vww01 (quiet), 3 runs a night."""
    rng = np.random.default_rng(3)
    for night in range(nights):
        shared = rng.normal(0, 0.02, 2)
        for r in range(3):
            kws = 1e-3 * np.exp(shared[0] + rng.normal(0, 0.01)) * (1 + step if night >= step_night else 1)
            vww = 3e-3 * np.exp(shared[1] + rng.normal(0, 0.01))
            meta = {"build": f"b{night}"}
            write(store, model="kws01-int8", level=kws, night=night, seed=1000 * night + r, n=30, sd=0.01,
                  metadata=meta)
            write(store, model="vww01-int8", level=vww, night=night, seed=1000 * night + 500 + r, n=30, sd=0.01,
                  metadata=meta)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    store = RunStore(root / "results")
    history_store(store)
    return root


def alarm_night(root) -> str:
    report = run_gate(RunStore(root / "results"), since=night_name(0))
    (f,) = [f for f in report.findings if f.fails]
    return f, report


def test_gate_exit_codes_and_lines_through_the_cli(cli, history):
    finding, report = alarm_night(history)
    assert finding.label == "kws01-int8 on rpi5" and finding.source == "history"
    assert finding.since in (night_name(17), night_name(18), night_name(19))
    assert finding.ci95[0] < 1.15 < finding.ci95[1]
    # the night of the alarm: which one it is comes from the history itself
    from harness.analysis.series import store_series
    from harness.analysis.history import analyse_history

    series = store_series(RunStore(history / "results").manifests())
    kh = next(k for k in analyse_history(series.table).keys if series.labels[k.key].startswith("kws01"))
    fired = series.night_name(int(kh.change_points[0].alarm_night))

    before = cli("gate", "--night", night_name(16), cwd=history)
    assert before.returncode == 0, before.stdout + before.stderr
    assert "clean (exit 0)" in before.stdout

    proc = cli("gate", "--night", fired, "--markdown", "gate.md", "--junit", "gate.xml", cwd=history)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("- kws01-int8 on rpi5: +"))
    # "kws01-int8 on rpi5: +15.2 % [12.0, 18.1], p = 0.0001, since 2026-11-19 (build b18)"
    assert ", p = " in line and f", since {finding.since} (build b" in line and "% [" in line
    build = int(line.rsplit("(build b", 1)[1].rstrip(")"))
    assert night_name(build) == finding.since  # the build of the night the level moved
    assert (history / "gate.md").read_text().startswith(f"## harness gate: {fired} — regression confirmed (exit 1)")
    _valid_junit(history / "gate.xml", failures=1)

    after = cli("gate", "--json", cwd=history)  # tonight = the latest night: the alarm was earlier
    assert after.returncode == 0
    out = json.loads(after.stdout)
    assert out["night"] == night_name(27) and out["exit_code"] == 0 and len(out["keys_checked"]) == 2
    assert cli("gate", "--since", night_name(10), cwd=history).returncode == 1  # counted from the 10th on


def test_gate_errors_are_one_line(cli, history, tmp_path):
    assert_one_line_error(cli("gate", "--night", "2030-01-01", cwd=history), "night '2030-01-01' is not in")
    assert_one_line_error(cli("gate", "--since", night_name(27), "--night", night_name(3), cwd=history),
                          "comes after tonight")
    assert_one_line_error(cli("gate", "--results", str(tmp_path / "empty")), "no ok runs")


def test_pinned_baseline_degraded_devices_and_failed_runs(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    base = [write(store, model="ad01", level=2e-3 * (1 + 0.01 * r), night=0, seed=r) for r in range(3)]
    write(store, model="ad01", level=2e-3, night=1, seed=10)
    # tonight: a slow board the farm flagged degraded, and a failed run: neither is evidence
    write(store, model="ad01", level=2.8e-3, night=2, seed=20, metadata={"farm.degraded": "1"})
    write(store, model="ad01", level=9e-3, night=2, seed=21, status="failed")
    for r in range(3):
        write(store, model="ad01", level=2e-3 * (1 + 0.01 * r), night=2, seed=30 + r)
    key = base[0].benchmark_key
    pin = cli("baseline", "set", key[:7], *(m.run_id for m in base), "--note", "release 1.0", "--json")
    assert pin.returncode == 0, pin.stderr
    assert json.loads(pin.stdout)["key"] == key
    listed = json.loads(cli("baseline", "list", "--json").stdout)
    assert [p["key"] for p in listed] == [key] and listed[0]["note"] == "release 1.0" and len(listed[0]["runs"]) == 3

    clean = cli("gate", "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    out = json.loads(clean.stdout)
    (finding,) = out["findings"]
    assert finding["source"] == "baseline" and finding["verdict"] in ("same", "unknown")
    assert len(finding["runs"]) == 3 and out["degraded_left_out"] == 1

    for r in range(3):  # a fourth night: 20 % slower than the pinned runs
        write(store, model="ad01", level=2.4e-3 * (1 + 0.01 * r), night=3, seed=40 + r, metadata={"build": "c0ffee"})
    one = cli("gate")  # one slow night (a hot one?) is watched, not failed
    assert one.returncode == 0, one.stdout + one.stderr
    change = re.search(r"ad01 on rpi5: \+([0-9.]+) %", one.stdout)
    assert change and 17 < float(change.group(1)) < 23, one.stdout  # about +20 %
    assert f"tonight only (not on {night_name(2)})" in one.stdout
    assert cli("gate", "--baseline-nights", "1").returncode == 1
    for r in range(3):  # and the fifth: still slow
        write(store, model="ad01", level=2.4e-3 * (1 + 0.01 * r), night=4, seed=50 + r, metadata={"build": "c0ffee"})
    proc = cli("gate")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "against the baseline pinned" in proc.stdout
    assert f": regressed on 2 nights ({night_name(3)}, {night_name(4)})" in proc.stdout

    assert cli("baseline", "clear", key[:7]).returncode == 0
    assert cli("gate").returncode == 0  # one slow night is not a history alarm
    assert_one_line_error(cli("baseline", "clear", key[:7]), "no baseline is pinned")
    assert_one_line_error(cli("baseline", "set", "ffffffff", base[0].run_id), "no run", "benchmark key")
    failed = next(m for m in store.manifests() if m.status == "failed")
    assert_one_line_error(cli("baseline", "set", key, failed.run_id), "failed, not ok")


@dataclass
class _Job:
    key: str
    repetition: int = 0


@dataclass
class _Attempt:
    run_id: str
    outcome: str = "ok"


@dataclass
class _Result:
    job: _Job
    attempts: list = field(default_factory=list)


def test_the_farm_gate_asks_to_measure_unknowns_again_then_reports_regressions(tmp_path):
    """`harness farm run --gate` plugs `StoreGate` into the farm's hook (the farm itself is
    tested in tests/farm): an unsure key's jobs are measured again, a regression is a line."""
    store = RunStore(tmp_path / "results")
    pinned = [write(store, model="m1", level=1e-3 * f, night=0, seed=r, sd=0.005) for r, f in enumerate((1.0, 1.04, 0.96))]
    pin2 = [write(store, model="m2", level=1e-3, night=0, seed=10 + r, sd=0.005) for r in range(3)]
    from harness.analysis.baselines import set_baseline

    set_baseline(store, pinned[0].benchmark_key, [m.run_id for m in pinned])
    set_baseline(store, pin2[0].benchmark_key, [m.run_id for m in pin2])
    # tonight: m1 about 7 % slower with the same spread (unsure on 3 + 2 runs), m2 40 % slower
    m1 = [write(store, model="m1", level=1.07e-3 * f, night=2, seed=20 + r, sd=0.005) for r, f in enumerate((0.98, 1.02))]
    for r in range(3):  # m2 was as slow last night
        write(store, model="m2", level=1.4e-3 * (1 + 0.01 * r), night=1, seed=40 + r, sd=0.005)
    m2 = [write(store, model="m2", level=1.4e-3 * (1 + 0.01 * r), night=2, seed=30 + r, sd=0.005) for r in range(3)]
    results = [_Result(_Job("job-m1"), [_Attempt(m.run_id) for m in m1]),
               _Result(_Job("job-m2"), [_Attempt(m.run_id) for m in m2])]
    gate = StoreGate()
    decision = gate(store, results)
    (line,) = decision.regressions
    assert line.startswith("m2 on rpi5: +41.") and "against the baseline pinned" in line
    report = gate.report
    m1_finding = next(f for f in report.findings if f.label == "m1 on rpi5")
    assert (report.look, report.looks) == (1, 3)
    assert m1_finding.verdict == "unknown" and m1_finding.p_value <= 0.2
    assert decision.measure_more == ["job-m1"]
    # the last look asks for nothing more, whatever the verdicts
    gate.looks_done = gate.max_rounds
    assert gate(store, results).measure_more == []


def _valid_junit(path, failures: int) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(XSD))
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log
    assert int(doc.getroot().get("failures")) == failures
