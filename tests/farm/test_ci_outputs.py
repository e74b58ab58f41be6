"""What CI reads: JUnit XML (checked against the JUnit schema), the markdown summary, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from harness.farm.ci import junit_xml, markdown_summary
from harness.farm.plan import FarmJob
from harness.farm.results import (
    ABORTED, FAILED, INFRA, PASSED, SKIPPED, Attempt, DeviceReport, FarmRunResult, JobResult,
)
from harness.models import resolve_model

XSD = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("junit.xsd"))))


def assert_valid_junit(data: bytes) -> etree._Element:
    doc = etree.fromstring(data)
    if not XSD.validate(doc):
        raise AssertionError(f"JUnit XML does not match junit.xsd: {XSD.error_log}")
    return doc


def _job(name: str, device_class: str = "board") -> FarmJob:
    ref = resolve_model("kws01-int8-tflite")[0]
    return FarmJob(key=name, name=name, device_class=device_class, model=ref, runtime="tflite",
                   options_label="", planned={})


def _ok(device: str, run_id: str) -> Attempt:
    return Attempt(device, "lab-a", "ok", run_id, t_start=100.0, t_end=102.5, median_s=1.5e-3)


def _result(statuses: list[str], regressions: list[str] | None = None) -> FarmRunResult:
    made = {
        PASSED: lambda i: JobResult(_job(f"job{i} <b>|x"), PASSED, [_ok("b1", f"r{i}")]),
        FAILED: lambda i: JobResult(_job(f"job{i}"), FAILED, [Attempt(
            "b2", "lab-a", "permanent", f"r{i}", "agent failed during init: bad shape", "model_invalid",
            f"r{i}/raw", 10.0, 11.0)], "agent failed during init: bad shape"),
        INFRA: lambda i: JobResult(_job(f"job{i}"), INFRA, [
            Attempt("b1", "lab-b", "node_lost", f"r{i}a", "the actor was lost", "node_lost", None, 1.0, 2.0),
            Attempt("b2", "lab-a", "transient", f"r{i}b", "link lost", "link_lost", f"r{i}b/raw", 3.0, 4.0),
            Attempt("b3", "lab-a", "transient", f"r{i}c", "link lost", "link_lost", f"r{i}c/raw", 5.0, 6.0),
        ], "transient failure, 2 retries used: link lost"),
        SKIPPED: lambda i: JobResult(_job(f"job{i}", "phone"), SKIPPED, [],
                                     "no healthy device of class phone (phone-1: quarantined)"),
        ABORTED: lambda i: JobResult(_job(f"job{i}"), ABORTED, [], "the farm run was interrupted"),
    }
    return FarmRunResult(
        plan="nightly", night="n-7", results_dir="results",
        results=[made[s](i) for i, s in enumerate(statuses)],
        devices=[DeviceReport("b1", "board", "lab-a", "good"),
                 DeviceReport("phone-1", "phone", "lab-b", "quarantined", "liveness check failed: cannot connect"),
                 DeviceReport("b2", "board", "lab-a", "good", degraded=True, degraded_reason="canary +6.2 z")],
        regressions=regressions or [],
    )


def test_junit_has_a_testcase_per_job_and_matches_the_schema():
    result = _result([PASSED, FAILED, INFRA, SKIPPED, ABORTED], regressions=["kws01 on board: +12 % median"])
    doc = assert_valid_junit(junit_xml(result))
    suites = {s.get("name"): s for s in doc.findall("testsuite")}
    assert set(suites) == {"board", "phone", "regression-gate"}
    board = suites["board"]
    assert (board.get("tests"), board.get("failures"), board.get("errors"), board.get("skipped")) == ("4", "1", "1", "1")
    assert (doc.get("tests"), doc.get("failures"), doc.get("errors"), doc.get("skipped")) == ("6", "2", "1", "2")
    cases = {c.get("name"): c for c in doc.iter("testcase")}
    failed = cases["job1"].find("failure")
    assert failed.get("type") == "model_invalid" and "bad shape" in failed.get("message")
    assert "raw output: results/r1/raw" in failed.text and "record results/r1" in failed.text
    infra = cases["job2"].find("error")
    assert infra.get("type") == "link_lost" and infra.text.count("attempt ") == 3
    assert cases["job3"].find("skipped").get("message").startswith("no healthy device of class phone")
    assert cases["job4"].find("skipped") is not None
    assert cases["job0 <b>|x"].find("failure") is None  # passed; the name kept as given (XML escapes it)
    assert float(cases["job0 <b>|x"].get("time")) == pytest.approx(2.5)
    gate = cases["kws01 on board: +12 % median"]
    assert gate.find("failure").get("type") == "regression"


def test_the_schema_refuses_what_ci_would_refuse():
    bad = junit_xml(_result([PASSED])).replace(b'<testcase name="job0', b'<testcase nam="job0')
    with pytest.raises(AssertionError, match="junit.xsd"):
        assert_valid_junit(bad)


@pytest.mark.parametrize(
    "statuses, regressions, code",
    [
        ([PASSED, PASSED], [], 0),
        ([PASSED, FAILED, INFRA], [], 1),  # a permanent failure wins over infrastructure
        ([PASSED, INFRA], [], 3),
        ([PASSED, SKIPPED], [], 3),
        ([PASSED], ["x regressed"], 1),  # the regression gate's verdict
    ],
)
def test_exit_codes(statuses, regressions, code):
    assert _result(statuses, regressions).exit_code == code


def test_markdown_summary_for_a_ci_step():
    text = markdown_summary(_result([PASSED, FAILED, SKIPPED], regressions=["kws01 | board regressed"]))
    assert text.startswith("## harness farm: nightly — failures (exit 1)")
    assert "1 passed, 1 failed, 1 skipped" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "job" in line and "---" not in line]
    assert len(rows) == 1 + 3  # header + one row per job
    assert all(row.count(" | ") == 6 for row in rows)  # a '|' in a name does not break the table
    assert "job0 &lt;b&gt;\\|x" in text and "<b>" not in text  # user strings escaped
    assert "1.5 ms" in text
    assert "- kws01 \\| board regressed" in text
    assert "**phone-1** (phone on lab-b): quarantined: liveness check failed" in text
    assert "**b2** (board on lab-a): good (degraded): canary +6.2 z" in text
