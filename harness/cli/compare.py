"""`harness compare BASE NEW`: per measure, is NEW slower (or faster) than BASE?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from harness.cli.app import app
from harness.cli._output import console, err_console, plain, print_json

ThresholdOpt = Annotated[str, typer.Option(
    "--threshold", help="Effect threshold: a smaller change is never a regression (0.05 or 5%).")]
OverrideOpt = Annotated[Optional[list[str]], typer.Option(
    "--key-threshold", help="Threshold of some measures, PATTERN=T: a benchmark key (or prefix), a measure key "
                            "(KEY/phase) or a label pattern ('kws01* on rpi5'); repeatable.")]
ResultsOpt = Annotated[Optional[Path], typer.Option(help="Results folder (default ./results or $HARNESS_RESULTS).")]


@app.command("compare")
def compare(
    base: Annotated[str, typer.Argument(help="Base side: a run id (or unique prefix), a benchmark key, a tag "
                                             "selection K=V[,K=V], or a results folder (run:, key:, tag:, dir: "
                                             "force one reading).")],
    new: Annotated[str, typer.Argument(help="New side, written the same way.")],
    threshold: ThresholdOpt = "0.05",
    key_threshold: OverrideOpt = None,
    alpha: Annotated[float, typer.Option(help="Significance level of the one-sided test.")] = 0.01,
    results: ResultsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: per measure its verdict and evidence.")] = False,
) -> None:
    """Per measure: ratio new/base of the medians with a bootstrap 95 % CI, a one-sided test, and a
    verdict — regressed, improved, same or unknown (measure more). Exit 1 if any measure regressed."""
    import sys

    from harness.analysis.comparison import compare_runs, parse_fraction, parse_thresholds
    from harness.analysis.selection import select
    from harness.errors import HarnessError
    from harness.store.store import RunStore

    if not 0 < alpha < 1:
        raise HarnessError(f"--alpha must be between 0 and 1 (got {alpha})")
    store = RunStore(results)
    sb, sn = select(base, store), select(new, store)
    rows = compare_runs(sb.runs, sn.runs, threshold=parse_fraction(threshold, "--threshold"),
                        overrides=parse_thresholds(key_threshold or []), alpha=alpha)
    if as_json:
        print_json({"base": {"spec": sb.spec, "how": sb.how, "runs": len(sb.runs), "not_ok": sb.skipped},
                    "new": {"spec": sn.spec, "how": sn.how, "runs": len(sn.runs), "not_ok": sn.skipped},
                    "measures": [r.model_dump(mode="json") for r in rows]})
    else:
        err_console.print(f"base {sb.describe()}; new {sn.describe()}", markup=False, highlight=False)
        table = Table("measure", "change new/base", "95 % CI", "p", "verdict", "test", "runs")
        for r in rows:
            v = r.verdict
            if v is None:
                table.add_row(*plain(r.label, None, None, None, f"only in {r.only}", None,
                                     len(r.base_runs) or len(r.new_runs)))
                continue
            lo, hi = v.ci95
            p = None if v.p_value is None else f"{v.p_value:.2g}"
            table.add_row(*plain(r.label, f"{100 * v.change:+.1f} %", f"[{100 * (lo - 1):+.1f}, {100 * (hi - 1):+.1f}]",
                                 p, v.verdict, v.test, f"{v.n_base} + {v.n_new} {v.unit}s"))
        console.print(table)
        for r in rows:
            console.print(r.line(), markup=False, highlight=False)
            for d in r.differs:
                console.print(f"  differs: {d}", markup=False, highlight=False)
            if r.verdict is not None and r.verdict.verdict == "unknown" and r.verdict.more_runs:
                console.print(f"  measure more: about {r.verdict.more_runs} more run(s) a side", markup=False)
    if any(r.verdict is not None and r.verdict.verdict == "regressed" for r in rows):
        sys.exit(1)
