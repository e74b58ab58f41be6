"""What CI reads from a farm run: JUnit XML and a markdown summary (the HTML report is
`harness report`'s, written by the CLI from the same results store).

JUnit: one ``<testsuite>`` per device class, one ``<testcase>`` per job (classname
``<class>.<model>``). A permanent failure is a ``<failure>``; an infrastructure failure
(transient failures that outlived their retries) an ``<error>``; a job no healthy device
could take, or one interrupted, is ``<skipped>`` with the reason. Each failure's text has
the error, the run id and the path of the device's raw output. The layout follows the
JUnit schema that Jenkins' xunit plugin publishes (tests/farm/junit.xsd checks it).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections import defaultdict

from harness.farm.results import ABORTED, FAILED, INFRA, PASSED, SKIPPED, FarmRunResult, JobResult


def _seconds(r: JobResult) -> float:
    return sum(a.seconds or 0.0 for a in r.attempts)


def _attempts_text(r: JobResult, results_dir: str) -> str:
    lines = []
    for i, a in enumerate(r.attempts, 1):
        where = f"{results_dir}/{a.run_id}" if a.run_id else "no record"
        line = f"attempt {i}: {a.outcome} on {a.device} (host {a.host}), record {where}"
        if a.message:
            line += f"\n  error ({a.kind or 'unclassified'}): {a.message}"
        if a.raw_output:
            line += f"\n  raw output: {results_dir}/{a.raw_output}"
        if a.degraded:
            line += "\n  device degraded (canary drift): result flagged"
        lines.append(line)
    return "\n".join(lines)


def junit_xml(result: FarmRunResult) -> bytes:
    root = ET.Element("testsuites", name=f"harness farm {result.plan}")
    by_class: dict[str, list[JobResult]] = defaultdict(list)
    for r in result.results:
        by_class[r.job.device_class].append(r)
    totals = defaultdict(int)
    stamp = dt.datetime.now().replace(microsecond=0).isoformat()
    for i, (device_class, jobs) in enumerate(sorted(by_class.items())):
        counts = {
            "tests": len(jobs),
            "failures": sum(r.status == FAILED for r in jobs),
            "errors": sum(r.status == INFRA for r in jobs),
            "skipped": sum(r.status in (SKIPPED, ABORTED) for r in jobs),
        }
        suite = ET.SubElement(
            root, "testsuite", name=device_class, id=str(i), package=f"{result.plan}.{device_class}",
            timestamp=stamp, hostname="farm", time=f"{sum(_seconds(r) for r in jobs):.3f}",
            **{k: str(v) for k, v in counts.items()},
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (("night", result.night), ("plan", result.plan), ("results", result.results_dir)):
            ET.SubElement(props, "property", name=name, value=value)
        for r in jobs:
            _testcase(suite, r, result.results_dir)
        for k, v in counts.items():
            totals[k] += v
    if result.regressions:  # the gate's verdicts fail the build like tests do
        n = len(result.regressions)
        suite = ET.SubElement(root, "testsuite", name="regression-gate", id=str(len(by_class)),
                              package=f"{result.plan}.gate", timestamp=stamp, hostname="farm", time="0",
                              tests=str(n), failures=str(n), errors="0", skipped="0")
        for regression in result.regressions:
            case = ET.SubElement(suite, "testcase", name=regression, classname="gate", time="0")
            ET.SubElement(case, "failure", message=regression, type="regression").text = regression
        totals["tests"] += n
        totals["failures"] += n
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("skipped", str(totals["skipped"]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _testcase(suite: ET.Element, r: JobResult, results_dir: str) -> None:
    case = ET.SubElement(suite, "testcase", name=r.job.name, classname=f"{r.job.device_class}.{r.job.model.name}",
                         time=f"{_seconds(r):.3f}")
    last = r.last
    detail = _attempts_text(r, results_dir)
    if r.status == FAILED:
        el = ET.SubElement(case, "failure", message=(last.message if last else r.reason) or "failed",
                           type=(last.kind if last else None) or "failed")
        el.text = detail
    elif r.status == INFRA:
        el = ET.SubElement(case, "error", message=r.reason or "infrastructure failure",
                           type=(last.kind if last else None) or "infrastructure")
        el.text = detail
    elif r.status in (SKIPPED, ABORTED):
        ET.SubElement(case, "skipped", message=r.reason or r.status)
    if detail:
        ET.SubElement(case, "system-out").text = detail


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x * 1e9:.3g} ns"


def _md(text: str | None) -> str:
    """A table cell: no pipes or newlines breaking the row, no HTML."""
    return (text or "").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def markdown_summary(result: FarmRunResult) -> str:
    icon = {PASSED: "✅", FAILED: "❌", INFRA: "⚠️", SKIPPED: "⏭️", ABORTED: "⏹️"}
    verdict = {0: "all jobs passed", 1: "failures", 3: "infrastructure problems only", 130: "interrupted"}
    lines = [
        f"## harness farm: {_md(result.plan)} — {verdict.get(result.exit_code, '?')} (exit {result.exit_code})",
        "",
        f"Night `{_md(result.night)}`: {len(result.results)} jobs — "
        + ", ".join(f"{result.count(s)} {s}" for s in (PASSED, FAILED, INFRA, SKIPPED, ABORTED) if result.count(s)),
        "",
    ]
    if result.regressions:
        lines += ["### Regressions", ""] + [f"- {_md(x)}" for x in result.regressions] + [""]
    lines += ["| | job | class | device | median | attempts | note |", "|---|---|---|---|---|---|---|"]
    for r in result.results:
        last = r.last
        note = r.reason if r.status != PASSED else ("degraded device: flagged" if last and last.degraded else "")
        lines.append(
            f"| {icon[r.status]} | {_md(r.job.name)} | {_md(r.job.device_class)} | {_md(last.device if last else '–')} "
            f"| {_fmt_s(last.median_s) if last else '–'} | {len(r.attempts)} | {_md(note)} |"
        )
    unhealthy = [d for d in result.devices if d.state not in ("good", "unknown") or d.degraded]
    if unhealthy:
        lines += ["", "### Devices needing attention", ""]
        for d in unhealthy:
            what = d.state + (" (degraded)" if d.degraded else "")
            why = "; ".join(x for x in (d.reason, d.degraded_reason) if x)
            lines.append(f"- **{_md(d.id)}** ({_md(d.device_class)} on {_md(d.host)}): {what}{': ' + _md(why) if why else ''}")
    if result.not_applicable:
        lines += ["", f"<details><summary>{len(result.not_applicable)} matrix cells not applicable</summary>", ""]
        lines += [f"- {_md(x)}" for x in result.not_applicable] + ["", "</details>"]
    lines += ["", f"Records: `{_md(result.results_dir)}`", ""]
    return "\n".join(lines)
