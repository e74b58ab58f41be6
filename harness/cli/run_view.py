"""How a run reads on a terminal: its warnings (`run_warnings`) and the summary `harness
results show` prints (`print_run_summary`). Everything here is read from the record; the
``--json`` of each command keeps the whole of it."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table
from rich.text import Text

from harness.cli._output import console
from harness.report.page import si
from harness.stats import MIN_SAMPLES
from harness.store.record import LatencySummary, RunManifest


def run_warnings(m: RunManifest) -> list[str]:
    """The record's warnings, and those only its conditions and figures say: a thermal gate
    that did not run, too few steady-state samples for the statistics (MCU windows too)."""
    out = list(m.summary.warnings)
    skipped = (m.conditions.get("cooldown") or {}).get("skipped")
    if skipped:
        out.append(f"thermal gate skipped: {skipped}")
    lat = m.summary.latency
    if lat is not None and lat.n < MIN_SAMPLES and not any("steady-state samples" in w for w in out):
        unit = " (MLPerf Tiny windows)" if m.config.stop.mode == "tinyml" else ""
        no_ci = "" if _finite(*lat.ci95_s) else ": no confidence interval"
        out.append(f"only {lat.n} steady-state samples{unit} (fewer than {MIN_SAMPLES}){no_ci}")
    return out


def brief(m: RunManifest) -> dict:
    """`RunManifest.brief` (what `run`, `ingest` and `results list` print with --json), its
    warnings those the table shows (`run_warnings`)."""
    return {**m.brief(), "warnings": run_warnings(m)}


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def ms(seconds: float | None) -> str:
    """Milliseconds with three decimals, '-' when there is no figure."""
    return f"{seconds * 1e3:.3f}" if _finite(seconds) else "-"


def ci_ms(lat: LatencySummary | None) -> str:
    return f"{ms(lat.ci95_s[0])}–{ms(lat.ci95_s[1])}" if lat is not None and _finite(*lat.ci95_s) else "-"


def _latency(m: RunManifest) -> str:
    lat = m.summary.latency
    if lat is None:
        for r in m.results:  # a tool that prints statistics, not samples
            found = r.typical_latency()
            if found is not None:
                return f"{ms(found[0])} ms ({found[1]})"
        return "-"
    ci = f"95% CI {ci_ms(lat)} ms" if _finite(*lat.ci95_s) else "no 95% CI"
    return (f"median {ms(lat.median_s)} ms ({ci}), p90 {ms(lat.p90_s)}, p99 {ms(lat.p99_s)}, "
            f"mean {ms(lat.mean_s)} ± {ms(lat.std_s)} ms, min {ms(lat.min_s)}, max {ms(lat.max_s)}; "
            f"{lat.n} samples of {lat.inferences} inferences, CV {lat.cv:.1%}, {lat.outliers} outlier(s)")


def _cold(m: RunManifest) -> str:
    p = m.phases
    parts = [f"{name} {ms(v)} ms" for name, v in (("load", p.load_s), ("init", p.init_s), ("first", p.first_s))
             if v is not None]
    return ", ".join(parts) or "-"


def _energy(m: RunManifest) -> str:
    s = m.summary
    if s.energy_j_per_inference is None:
        why = (s.energy or {}).get("chosen_because") or "no power or energy measurement"
        return f"not measured: {why}"
    parts = [f"{si(s.energy_j_per_inference, 'J')}/inference"]
    if s.energy_j_per_inference_net is not None:
        parts.append(f"{si(s.energy_j_per_inference_net, 'J')} above idle")
    if s.power_w_mean is not None:
        parts.append(f"mean power {si(s.power_w_mean, 'W')}")
    source = (s.energy or {}).get("source")
    return ", ".join(parts) + (f" (from {source})" if source else "")


def _thermal(m: RunManifest) -> str | None:
    s = m.summary
    if s.temp_c_max is None and s.throttled is None:
        return None
    temp = f"max {s.temp_c_max:.1f} °C" if s.temp_c_max is not None else "temperature not read"
    return temp + (", clocks dropped (throttled)" if s.throttled else "")


def _roofline(m: RunManifest) -> str | None:
    from harness.analysis.roofline import CEILING_TOO_LOW, ceiling_too_low

    r = m.summary.roofline
    if not r:
        return None
    roof = f"the {r.get('dtype')} peak" if r.get("bound") == "compute" else f"the {r.get('level')} bandwidth"
    verdict = f"{r.get('bound') or '?'}-bound, judged against {roof}"
    if ceiling_too_low(r):
        verdict += f": {CEILING_TOO_LOW}"
    elif r.get("efficiency") is not None:
        verdict += (f": {si(r.get('achieved_ops_per_s'), 'op/s')} of {si(r.get('attainable_ops_per_s'), 'op/s')} "
                    f"attainable, efficiency {r['efficiency']:.1%}")
    if r.get("level_reason"):
        verdict += f" ({r['level_reason']})"
    return verdict


def _files(path: Path) -> str:
    names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    return ", ".join(names) or "none"


def print_run_summary(m: RunManifest, path: Path) -> None:
    """Identity, status or error, cold phases, latency with its CI, energy, roofline verdict,
    warnings and where the raw files are."""
    # the id and the folder on lines of their own, never wrapped: they are pasted back
    console.print(Text(f"run {m.run_id}", style="bold"), soft_wrap=True)
    rows: list[tuple[str, str | Text | None]] = [
        ("status", Text(m.status, style=None if m.status == "ok" else "bold red")),
    ]
    if m.error is not None:
        e = m.error
        kind = f" [{e.kind}{', transient' if e.transient else ''}]" if e.kind else ""
        rows.append(("error", Text(f"{e.stage}: {e.message}{kind}", style="red")))
    took = (m.finished_at - m.started_at).total_seconds() if m.finished_at else None
    rows += [
        ("device", f"{m.device.id} ({m.device.name}; {m.device.transport} transport"
                   + (f"; serial {m.device.serial})" if m.device.serial else ")")),
        ("model", f"{m.model.name} ({m.model.format}, {m.model.precision}, {si(m.model.size_bytes, 'B')})"),
        ("model sha256", m.model.sha256 or "not hashed (the model file was not given)"),
        ("runtime", " ".join(x for x in (m.runtime.name, m.runtime.version, m.runtime.library and f"({m.runtime.library})")
                             if x)),
        ("configuration", f"threads {m.config.threads or 'default'}, delegate {m.config.delegate or 'none'}, "
                          f"stop {m.config.stop.mode}" + (f", options {m.config.options}" if m.config.options else "")),
        ("started", m.started_at.strftime("%Y-%m-%d %H:%M:%S %Z") + (f", took {took:.1f} s" if took is not None else "")),
        ("benchmark key", m.benchmark_key),
    ]
    if m.metadata:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in m.metadata.items())))
    rows += [
        ("cold start", _cold(m)),
        ("latency", _latency(m)),
        ("stopped", m.summary.stop_reason),
    ]
    if m.summary.throughput_per_s:
        rows.append(("throughput", f"{m.summary.throughput_per_s:.4g} inferences/s"))
    if m.summary.memory:
        rows.append(("memory", ", ".join(f"{k.removesuffix('_bytes').replace('_', ' ')} {si(v, 'B')}"
                                          for k, v in m.summary.memory.items())))
    rows.append(("energy", _energy(m)))
    rows.append(("temperature", _thermal(m)))
    rows.append(("roofline", _roofline(m) or "not placed (no static analysis of the model or no ceilings)"))
    for note in (m.summary.roofline or {}).get("notes", []):
        rows.append(("roofline note", note))
    if m.results:
        rows.append(("results", ", ".join(r.kind for r in m.results) + " (in --json)"))
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        if value is not None:
            table.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    console.print(table)
    console.print(Text(f"files in {path}: {_files(path)}"), soft_wrap=True)
    for w in run_warnings(m):
        console.print(Text(f"warning: {w}", style="yellow"), soft_wrap=True)
