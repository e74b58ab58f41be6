"""Summary: which device runs each model fastest (one device × model table per runtime),
then every run with its latency, cold start, energy and roofline efficiency."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from harness.analysis.roofline import ceiling_too_low
from harness.analysis.summary import typical_latency
from harness.store.results import AggregateStats, ToolAggregates
from harness.report.context import ReportContext
from harness.report.figures import efficiency_text
from harness.report.gather import ConfigGroup, RunView
from harness.report.page import Cell, Markup, badge, ms, run_link, table, tag


@dataclass
class _Best:
    """A model's fastest configuration on one device."""

    median_s: float
    group: ConfigGroup
    runs: list[RunView]
    configs: int


def _group_median(runs: list[RunView]) -> float | None:
    """Median over a configuration's repeated runs of each run's typical latency."""
    values = [typical_latency(v.m.summary, v.m.results)[0] for v in runs if v.m.status == "ok"]
    values = [x for x in values if x is not None and math.isfinite(x)]
    return statistics.median(values) if values else None


def _fastest_tables(ctx: ReportContext) -> list[Markup]:
    """Per runtime: rows are models, columns devices; a cell is the model's fastest
    configuration on that device; the fastest device of each row is highlighted."""
    by_runtime: dict[str, dict[tuple[str, str], dict[str, list[RunView]]]] = {}
    for v in ctx.runs:
        if v.m.status == "ok":
            cell = by_runtime.setdefault(v.m.runtime.name, {}).setdefault((v.m.model.name, v.m.device.id), {})
            cell.setdefault(v.group.key, []).append(v)
    out: list[Markup] = []
    for runtime, cells in sorted(by_runtime.items()):
        best: dict[tuple[str, str], _Best] = {}
        for (model, device), configs in cells.items():
            ranked = [(_group_median(runs), runs) for runs in configs.values()]
            ranked = [(t, runs) for t, runs in ranked if t is not None]
            if ranked:
                t, runs = min(ranked, key=lambda x: x[0])
                best[(model, device)] = _Best(t, runs[0].group, runs, len(configs))
        if not best:
            continue
        models = sorted({m for m, _ in best})
        devices = sorted({d for _, d in best})
        rows = []
        for model in models:
            times = {d: best[(model, d)].median_s for d in devices if (model, d) in best}
            fastest = min(times.values())
            row: list = [model]
            for d in devices:
                b = best.get((model, d))
                if b is None:
                    row.append(Cell("–", None))
                    continue
                detail = [f"{len(b.runs)} runs" if len(b.runs) > 1 else "1 run"]
                if b.configs > 1:
                    detail.append(f"best of {b.configs} configs: {b.group.label}")
                ratio = "" if b.median_s == fastest else f" ×{b.median_s / fastest:.2f}"
                body = Markup(tag("span", ms(b.median_s) + ratio) + tag("div", ", ".join(detail), class_="small muted"))
                row.append(Cell(body, b.median_s, "best" if b.median_s == fastest and len(times) > 1 else None))
            rows.append(row)
        out.append(table(["model", *devices], rows, caption=f"runtime {runtime}: median latency per inference",
                         class_="grid matrix", id=f"fastest-{runtime}"))
    if not out:
        return [tag("p", "No finished run to compare.", class_="muted")]
    return [tag("p", "The fastest device for each model is highlighted; a cell is the median latency of the "
                     "model's fastest configuration on that device (the median over its repeated runs), with "
                     "how much slower it is than the fastest.", class_="small muted"), *out]


def _efficiency_cell(v: RunView) -> Cell:
    r = v.roofline
    if not r or (r.get("efficiency") is None and not ceiling_too_low(r)):
        return Cell("–", None)
    when = ", report time" if v.roofline_at_report else ""
    if ceiling_too_low(r):
        raw = r.get("efficiency_raw", r.get("efficiency"))
        return Cell(f"{efficiency_text(r)} ({r.get('bound')}-bound vs {r.get('level')}{when})", raw, "too-low")
    return Cell(f"{efficiency_text(r, '')} ({r.get('bound')}-bound vs {r.get('level')}{when})", r["efficiency"])


def _run_rows(ctx: ReportContext) -> list[list]:
    rows = []
    for d in ctx.devices:
        for v in d.runs:
            m, lat = v.m, v.m.summary.latency
            cold = m.phases
            cold_text = ms(cold.first_s) + (
                f" (load+init {ms((cold.load_s or 0) + (cold.init_s or 0))})" if cold.load_s or cold.init_s else ""
            )
            energy = m.summary.energy_j_per_inference
            status = Markup(badge(m.status) + (tag("div", m.error.message, class_="small error") if m.error else "")
                            + "".join(tag("div", p, class_="small warn") for p in v.problems))
            agg = (m.result(ToolAggregates) or ToolAggregates(source="")).steady or AggregateStats(count=0)
            median, _ = typical_latency(m.summary, m.results)
            median_text = ms(lat.median_s) if lat else (f"{ms(agg.median_s)} (runtime)" if agg.median_s else None)
            rows.append([
                d.id, v.legend, f"{m.runtime.name} {m.runtime.version or ''}".strip(),
                m.config.threads, Cell(status, m.status), lat.n if lat else agg.count or None,
                Cell(median_text, median), Cell(ms(lat.p90_s) if lat else None, lat.p90_s if lat else None),
                Cell(f"{ms(lat.ci95_s[0])} – {ms(lat.ci95_s[1])}" if lat else None, lat.ci95_s[0] if lat else None),
                Cell(cold_text, cold.first_s), Cell(f"{energy * 1e3:.4g} mJ" if energy is not None else None, energy),
                _efficiency_cell(v), Cell(run_link(m.run_id), m.run_id),
            ])
    return rows


def render(ctx: ReportContext) -> list[Markup]:
    return [
        tag("h3", "Fastest device per model"),
        *_fastest_tables(ctx),
        tag("h3", "Every run"),
        table(["device", "model (configuration)", "runtime", "threads", "status", "n", "median", "p90",
               "95% CI of median", "cold start (first inference)", "energy / inference", "efficiency", "run"],
              _run_rows(ctx), id="summary-table"),
    ]
