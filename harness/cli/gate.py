"""`harness gate`: tonight's runs against history and pinned baselines; exit 1 on a regression."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from harness.cli.app import app
from harness.cli._output import console, err_console, print_json
from harness.cli.compare import OverrideOpt, ResultsOpt, ThresholdOpt


@app.command("gate")
def gate(
    since: Annotated[Optional[str], typer.Option(help="Count history alarms raised on any night from this one "
                                                      "to tonight (default: tonight only).")] = None,
    night: Annotated[Optional[str], typer.Option(help="Which night is tonight: a nightly tag or a date "
                                                      "(default: the latest in the store).")] = None,
    threshold: ThresholdOpt = "0.05",
    key_threshold: OverrideOpt = None,
    min_effect: Annotated[str, typer.Option(help="History alarms smaller than this are reported, not failing "
                                                 "(0.02 or 2%).")] = "0",
    baseline_nights: Annotated[int, typer.Option(help="Consecutive nights a key must regress against its pinned "
                                                      "baseline to fail the gate (1: tonight alone).")] = 2,
    markdown: Annotated[Optional[Path], typer.Option(help="Write the markdown summary here (also appended to "
                                                          "$GITHUB_STEP_SUMMARY).")] = None,
    junit: Annotated[Optional[Path], typer.Option(help="Write JUnit XML here: a testcase per key.")] = None,
    results: ResultsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the gate's report as JSON.")] = False,
) -> None:
    """Judge tonight: exit 0 clean, 1 a regression confirmed (by the key's history or its pinned baseline)."""
    from harness.analysis.comparison import parse_fraction, parse_thresholds
    from harness.analysis.gate import run_gate
    from harness.analysis.history import HistoryConfig
    from harness.store.atomic import write_atomic
    from harness.errors import HarnessError
    from harness.store.store import RunStore

    if baseline_nights < 1:
        raise HarnessError(f"--baseline-nights must be at least 1 (got {baseline_nights})")
    report = run_gate(RunStore(results), night=night, since=since,
                      threshold=parse_fraction(threshold, "--threshold"),
                      overrides=parse_thresholds(key_threshold or []),
                      config=HistoryConfig(min_effect=parse_fraction(min_effect, "--min-effect")),
                      baseline_nights=baseline_nights)
    text = report.markdown()
    if markdown:
        write_atomic(markdown, text)
    if junit:
        write_atomic(junit, report.junit().decode())
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a") as fh:
            fh.write(text + "\n")
    if as_json:
        print_json(report)
    else:
        console.print(text, markup=False, highlight=False)
        if not report.findings:
            err_console.print(f"no regression: {len(report.keys_checked)} key(s) tonight ({report.night})",
                              markup=False, highlight=False)
    sys.exit(report.exit_code)
