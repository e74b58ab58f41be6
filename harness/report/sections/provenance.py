"""Provenance: everything a run's figures come from — identity, configuration, conditions,
warnings, the full roofline, and where the raw record lies."""

from __future__ import annotations

from harness.report.context import ReportContext
from harness.report.gather import RunView
from harness.report.page import Markup, badge, definition_list, esc, ms, pre_json, tag


def _run(v: RunView) -> Markup:
    m = v.m
    lat = m.summary.latency
    items = [
        ("status", Markup(badge(m.status) + (" " + esc(f"during {m.error.stage}: {m.error.message}") if m.error else ""))),
        ("started / finished", f"{m.started_at.isoformat()} / {m.finished_at.isoformat() if m.finished_at else '–'}"),
        ("device", f"{m.device.id} ({m.device.name}), over {m.device.transport}"),
        ("model", f"{m.model.name}: {m.model.format}, {m.model.precision}, {m.model.size_bytes} bytes, "
                  f"sha256 {m.model.sha256}" + (f", zoo id {m.model.zoo_id}" if m.model.zoo_id else "")),
        ("model file", m.model.path),
        ("runtime", f"{m.runtime.name} {m.runtime.version or ''} ({m.runtime.library or '–'})"
                    + (f", delegate {m.runtime.delegate}" if m.runtime.delegate else "")),
        ("configuration group", f"{v.group.legend}" if v.group else "–"),
        ("harness", f"{m.harness_version} on {m.host.get('hostname', '?')} ({m.host.get('platform', '?')}, "
                    f"Python {m.host.get('python', '?')})"),
        ("stop", f"{m.config.stop.mode}: {m.summary.stop_reason or '–'}"),
        ("samples", f"n {lat.n}, {lat.outliers} outliers flagged ({lat.ci_method})" if lat else "none"),
        ("cold phases", f"load {ms(m.phases.load_s)}, init {ms(m.phases.init_s)}, first {ms(m.phases.first_s)}"),
        ("warnings", tag("ul", [tag("li", w, class_="warn") for w in m.summary.warnings + v.problems])
         if m.summary.warnings or v.problems else "none"),
        ("notes", tag("ul", [tag("li", n) for n in m.notes]) if m.notes else "none"),
        ("config", pre_json(m.config.model_dump(mode="json"))),
        ("conditions", pre_json(m.conditions) if m.conditions else "none"),
    ]
    if m.summary.energy:
        items.append(("energy", pre_json(m.summary.energy)))
    for result in m.results:
        items.append((f"runner result: {result.kind}", pre_json(result.model_dump(mode="json"))))
    if v.roofline:
        r = {k: val for k, val in v.roofline.items() if k != "ops"}
        items.append(("roofline" + (" (computed at report time)" if v.roofline_at_report else ""), pre_json(r)))
    items.append(("record", str(v.stored.path)))
    summary = Markup(badge(m.status) + " " + esc(f"{v.label} on {m.device.id}") + " " + tag("span", m.run_id, class_="small muted"))
    return tag("details", [tag("summary", summary), definition_list(items)], id=f"run-{m.run_id}")


def render(ctx: ReportContext) -> list[Markup]:
    return [_run(v) for v in ctx.runs]
