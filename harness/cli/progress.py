"""Rich progress display and result table for `harness run` (terminal only)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from harness.cli._output import console, err_console, plain
from harness.store.record import RunManifest


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


class RunProgress:
    """One line per run: phase, steady-state samples so far; a bar over all runs."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err_console,
            disable=not enabled,
            transient=False,
        )
        self._overall = self._progress.add_task("all runs", total=total, status="")
        self._current = None

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        self._progress.__exit__(*exc)

    def for_job(self, job):
        label = f"{job.profile.id} · {job.model.name}"
        self._current = self._progress.add_task(label, total=None, status="connecting")

        def update(what: str, fields: dict) -> None:
            status = what + (f"  n={fields['n']}" if "n" in fields else "")
            self._progress.update(self._current, status=status)

        return update

    def done(self, manifest: RunManifest) -> None:
        if self._current is not None:
            lat = manifest.summary.latency
            status = manifest.status + (f"  median {_ms(lat.median_s)} ms" if lat else "")
            self._progress.update(self._current, status=status, total=1, completed=1)
        self._progress.advance(self._overall)


def print_result_table(manifests: list[RunManifest], results_dir: Path) -> None:
    table = Table("run", "device", "model", "runtime", "status", "n", "median ms", "p90 ms", "95% CI ms", "stop")
    for m in manifests:
        lat = m.summary.latency
        ci = f"{_ms(lat.ci95_s[0])}–{_ms(lat.ci95_s[1])}" if lat else "-"
        table.add_row(
            *plain(
                m.run_id,
                m.device.id,
                m.model.name,
                m.runtime.name,
                Text(m.status, style=None if m.status == "ok" else "red"),
                lat.n if lat else None,
                _ms(lat.median_s if lat else None),
                _ms(lat.p90_s if lat else None),
                ci,
                m.summary.stop_reason,
            )
        )
    console.print(table)
    for m in manifests:
        if m.error:
            console.print(Text(f"{m.run_id}: {m.error.stage}: {m.error.message}", style="red"))
        for w in m.summary.warnings:
            console.print(Text(f"{m.run_id}: warning: {w}", style="yellow"))
    console.print(f"records in {results_dir}", markup=False)
