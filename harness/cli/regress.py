"""`harness regress --series FILE`: alarms and change points over a nightly history table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.app import app
from harness.cli._output import console, plain, print_json


@app.command("regress")
def regress(
    series: Annotated[Path, typer.Option(
        "--series", help="Long table, CSV or Parquet: key,night,value (one row per sample; night an integer or "
                         "YYYY-MM-DD), optional degraded (true rows are left out).")],
    higher_is_better: Annotated[bool, typer.Option(
        "--higher-is-better", help="Values are rates (e.g. tokens/s): a drop is the regression.")] = False,
    threshold: Annotated[float | None, typer.Option(
        help="Effect threshold of each change point's verdict "
             "[default: history's own, echoed in --json's config].")] = None,
    q: Annotated[float | None, typer.Option(
        "--q", help="Benjamini–Hochberg level over each night's keys "
                    "[default: history's own, echoed in --json's config].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: per key its nights, change points and alarms.")] = False,
) -> None:
    """Per key: the nights an alarm was raised, where the level changed, and by how much (with a 95 % CI)."""
    from harness.analysis.history import HistoryConfig, analyse_history
    from harness.analysis.series import read_series
    from harness.errors import HarnessError

    if q is not None and not 0 < q < 1:
        raise HarnessError(f"--q must be between 0 and 1 (got {q})")
    if threshold is not None and threshold < 0:
        raise HarnessError(f"--threshold must be ≥ 0 (got {threshold})")
    # unset options keep history's defaults: the rule benchmarks/regression.py measures, and the gate's
    given = {name: v for name, v in (("q", q), ("threshold", threshold)) if v is not None}
    result = analyse_history(read_series(series), HistoryConfig(**given), higher_is_better=higher_is_better)
    if as_json:
        print_json(result)
        return
    table = Table("key", "nights", "excluded", "change (new/old level)", "95 % CI", "since", "alarm", "q", "verdict")
    for kh in result.keys:
        if not kh.change_points:
            table.add_row(*plain(kh.key, len(kh.nights), kh.excluded_samples, "no change", None, None, None, None, None))
        for c in kh.change_points:
            lo, hi = c.effect.ci95
            table.add_row(*plain(
                kh.key, len(kh.nights), kh.excluded_samples, f"{c.effect.ratio - 1:+.1%} ({c.direction})",
                f"[{lo - 1:+.1%}, {hi - 1:+.1%}]", c.night, c.alarm_night, f"{c.q_value:.2g}", c.effect.verdict,
            ))
    console.print(table)
    alarms = sum(len(k.change_points) for k in result.keys)
    console.print(f"{len(result.keys)} keys, {alarms} change point(s); {result.excluded_samples} sample(s) "
                  "from degraded devices left out", markup=False)
