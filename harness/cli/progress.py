"""Progress displays (`harness run`'s runs, `harness ceilings`' stages) and the result table
of `harness run`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from harness.cli._output import console, err_console, id_table, plain, print_table
from harness.cli.run_view import ci_ms, ms, run_warnings
from harness.store.record import RunManifest


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
            status = manifest.status + (f"  median {ms(lat.median_s)} ms" if lat else "")
            self._progress.update(self._current, status=status, total=1, completed=1)
        self._progress.advance(self._overall)


class StageProgress:
    """Progress through a measurement's stages (the ceilings probe: bandwidth, compute/fp32…),
    called as ``progress(stage, i, n)`` when step `i` of `n` of a stage starts: a rich bar
    per stage on a terminal, one plain line per step when stderr is piped (a log keeps every
    step, and no carriage returns run into one long line)."""

    def __init__(self, label: str, console: Console = err_console):
        self.label = label
        self.console = console
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        ) if console.is_terminal else None
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> StageProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            if exc[0] is None:
                self._finish_all()
            self._bar.stop()

    def _finish_all(self) -> None:
        assert self._bar is not None
        for task in self._tasks.values():
            total = self._bar.tasks[task].total
            self._bar.update(task, completed=total)

    def __call__(self, stage: str, i: int, n: int) -> None:
        if self._bar is None:
            self.console.print(f"{self.label}: {stage} {i + 1}/{n}", markup=False, highlight=False)
            return
        if stage not in self._tasks:
            self._finish_all()  # a new stage: the earlier ones are done
            self._tasks[stage] = self._bar.add_task(f"{self.label}: {stage}", total=n)
        self._bar.update(self._tasks[stage], completed=i, total=n)


def print_result_table(manifests: list[RunManifest], results_dir: Path) -> None:
    from harness.llm.summary import describe as describe_llm

    table = id_table("run", "device", "model", "runtime", "status", "n", "median ms", "p90 ms", "95% CI ms", "stop",
                     ids=("run", "device", "model"))
    for m in manifests:
        lat = m.summary.latency
        table.add_row(
            *plain(
                m.run_id,
                m.device.id,
                m.model.name,
                m.runtime.name,
                Text(m.status, style=None if m.status == "ok" else "red"),
                lat.n if lat else None,
                ms(lat.median_s if lat else None),
                ms(lat.p90_s if lat else None),
                ci_ms(lat),
                m.summary.stop_reason,
            )
        )
    print_table(table)
    for m in manifests:  # one line each, never wrapped: they are read and grepped by run id
        for line in describe_llm(m):  # an LLM's phases: the table's latency columns do not apply
            console.print(f"{m.run_id}: {line}", markup=False, soft_wrap=True)
        if m.error:
            console.print(Text(f"{m.run_id}: {m.error.stage}: {m.error.message}", style="red"), soft_wrap=True)
        for w in run_warnings(m):
            console.print(Text(f"{m.run_id}: warning: {w}", style="yellow"), soft_wrap=True)
    console.print(f"records in {results_dir}", markup=False)
