"""`harness report`: every run in a results folder as one self-contained, offline HTML file.

Sections: a summary table (device × model: median, p90, CI of the median, cold start,
energy per inference when known, roofline efficiency), failed runs (listed, never
hidden), a roofline per device against its ceilings, latency distributions, telemetry
timelines with the inference windows shaded, and the provenance of every run.

plotly.js is inlined once, in the head; each figure is a div plus a small script.
Large series are downsampled for plotting (see `harness.report.downsample`): a
latency histogram has a fixed number of bins, timelines keep each bucket's min and
max. The raw data stays in the run records.

A run recorded before its device had ceilings gets its roofline computed here, from
the same functions, and is labelled "computed at report time".
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.analysis.ceilings import SANITY_LABELS, Ceilings, ceilings_for
from harness.analysis.roofline import summarize_roofline
from harness.analysis.static import analyze_if_unchanged
from harness.analysis.summary import steady_latencies, typical_latency
from harness.errors import HarnessError
from harness.profiles import DeviceProfile
from harness.report import DEFAULT_MAX_POINTS, DEFAULT_OUT, figures  # noqa: E402 - re-exported
from harness.report.page import (
    Markup,
    badge,
    definition_list,
    esc,
    page,
    pre_json,
    si,
    table,
    tag,
)
from harness.store.atomic import write_atomic
from harness.store.record import TABLE_SCHEMAS, RunManifest
from harness.store.results import AggregateStats, ToolAggregates
from harness.store.store import RunStore, StoredRun


@dataclass
class RunView:
    stored: StoredRun
    label: str
    color: str
    roofline: dict | None = None
    roofline_at_report: bool = False
    latencies_s: np.ndarray = field(default_factory=lambda: np.array([]))
    timeline: figures.Timeline | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def m(self) -> RunManifest:
        return self.stored.manifest


@dataclass
class DeviceView:
    id: str
    name: str
    runs: list[RunView]
    ceilings: Ceilings | None
    ceilings_error: str | None = None


@dataclass
class ReportInfo:
    path: Path
    runs: int
    failed: int
    devices: int
    size_bytes: int
    seconds: float

    def as_dict(self) -> dict:
        return {"path": str(self.path), "runs": self.runs, "failed": self.failed, "devices": self.devices,
                "size_bytes": self.size_bytes, "seconds": self.seconds}


# -- gathering ----------------------------------------------------------------------------


def _labels(manifests: list[RunManifest]) -> dict[str, str]:
    """Model name, plus runtime/threads where one device ran the same model several ways."""
    seen: dict[tuple[str, str], set] = {}
    for m in manifests:
        seen.setdefault((m.device.id, m.model.name), set()).add((m.runtime.name, m.config.threads))
    labels = {}
    for m in manifests:
        label = m.model.name
        if len(seen[(m.device.id, m.model.name)]) > 1:
            label += f" [{m.runtime.name}" + (f", {m.config.threads} thr" if m.config.threads else "") + "]"
        labels[m.run_id] = label
    return labels


def _timeline(run: StoredRun, label: str, telemetry: pa.Table, samples: pa.Table) -> figures.Timeline:
    m = run.manifest
    steady = samples.filter(pc.equal(samples["phase"], "steady"))
    lat_t = steady["start_ns"].to_numpy()
    lat = steady["latency_ns"].to_numpy().astype(float) / 1e9
    channels: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    encoded = pc.dictionary_encode(telemetry["channel"]).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    t_all = telemetry["t_ns"].to_numpy()
    v_all = telemetry["value"].to_numpy()
    u_all = telemetry["unit"].to_numpy(zero_copy_only=False)
    for code, channel in enumerate(encoded.dictionary.to_pylist()):
        mask = codes == code
        t, v = t_all[mask], v_all[mask]
        order = np.argsort(t, kind="stable")
        channels[channel] = (str(u_all[np.argmax(mask)]), t[order], v[order])
    marks = m.timeline
    starts = [marks[k] for k in ("load_start_ns", "init_start_ns", "first_start_ns") if k in marks]
    windows = []
    if starts and "steady_start_ns" in marks:
        windows.append(("cold start + warmup", min(starts), marks["steady_start_ns"]))
    if "steady_start_ns" in marks and "steady_end_ns" in marks:
        windows.append(("steady state", marks["steady_start_ns"], marks["steady_end_ns"]))
    # the idle baselines the energy figures subtract (see harness.analysis.energy.summarize_timeline)
    for a, b in (("baseline_start_ns", "workload_start_ns"), ("workload_end_ns", "baseline_end_ns")):
        if a in marks and b in marks and marks[b] >= marks[a]:
            windows.append(("idle baseline", marks[a], marks[b]))
    candidates = [int(t_all.min())] if t_all.size else []
    candidates += [marks[k] for k in ("agent_start_ns", "baseline_start_ns") if k in marks]
    candidates += [int(lat_t.min())] if lat_t.size else []
    return figures.Timeline(run_id=m.run_id, label=f"{label} on {m.device.id}", t0_ns=min(candidates),
                            latency_t_ns=lat_t, latency_s=lat, channels=channels, windows=windows)


def _device_ceilings(manifests: list[RunManifest], results: Path) -> tuple[Ceilings | None, str | None]:
    latest = manifests[-1]
    try:
        profile = DeviceProfile.model_validate(latest.profile)
        return ceilings_for(profile, results), None
    except HarnessError as e:
        return None, str(e)
    except ValueError as e:  # a profile snapshot this harness no longer validates
        return None, f"profile snapshot of run {latest.run_id} does not validate: {str(e).splitlines()[0]}"


def _report_time_roofline(view: RunView, ceilings: Ceilings | None) -> dict | None:
    """The roofline against the device's ceilings (read once per device, passed in)."""
    m = view.m
    median, source = typical_latency(m.summary, m.results)
    if ceilings is None or m.status != "ok" or median is None:
        return None
    try:
        analysis = analyze_if_unchanged(m.model.path, m.model.sha256)
    except Exception as e:  # a model the analysis cannot read: the run is still listed
        view.problems.append(f"roofline: static analysis of {Path(m.model.path).name} failed: {e}")
        return None
    out = summarize_roofline(m.model.precision, median, _table(view, "ops").to_pylist(), analysis, ceilings,
                             m.config.threads)
    if out is not None:
        out["latency_source"] = source
    return out


def _table(view: RunView, name: str) -> pa.Table:
    """A run's table; an unreadable file is reported on the page, not fatal to the report."""
    try:
        return view.stored.table(name)
    except (OSError, pa.ArrowException) as e:
        view.problems.append(f"{view.stored.path / (name + '.parquet')}: unreadable ({e}); left out of the plots")
        return TABLE_SCHEMAS[name].empty_table()


def gather(results: Path) -> list[DeviceView]:
    store = RunStore(results)
    manifests = store.manifests()
    labels = _labels(manifests)
    models = sorted({m.model.name for m in manifests})
    colors = {name: figures.color_for(i) for i, name in enumerate(models)}
    by_device: dict[str, list[RunManifest]] = {}
    for m in manifests:
        by_device.setdefault(m.device.id, []).append(m)
    devices = []
    for device_id, runs in sorted(by_device.items()):
        ceilings, error = _device_ceilings(runs, results)
        views = []
        for m in runs:
            stored = StoredRun(m, store.root / m.run_id)
            view = RunView(stored, labels[m.run_id], colors[m.model.name])
            samples = _table(view, "samples")
            view.latencies_s, _ = steady_latencies(samples)
            view.roofline = m.summary.roofline
            if view.roofline is None:
                view.roofline = _report_time_roofline(view, ceilings)
                view.roofline_at_report = view.roofline is not None
            telemetry = _table(view, "telemetry")
            if telemetry.num_rows:
                view.timeline = _timeline(stored, view.label, telemetry, samples)
            views.append(view)
        devices.append(DeviceView(device_id, runs[-1].device.name, views, ceilings, error))
    return devices


# -- rendering ----------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.4g} ms"


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _run_link(run_id: str) -> Markup:
    return tag("a", run_id, href=f"#run-{run_id}", class_="small")


def _summary_rows(devices: list[DeviceView]) -> list[list]:
    rows = []
    for d in devices:
        for v in d.runs:
            m, lat, r = v.m, v.m.summary.latency, v.roofline
            cold = m.phases
            cold_text = _ms(cold.first_s) + (
                f" (load+init {_ms((cold.load_s or 0) + (cold.init_s or 0))})" if cold.load_s or cold.init_s else ""
            )
            energy = m.summary.energy_j_per_inference
            eff = "–"
            if r and r.get("efficiency") is not None:
                eff = f"{_pct(r['efficiency'])} ({r.get('bound')}-bound{', report time' if v.roofline_at_report else ''})"
            status = Markup(badge(m.status) + (tag("div", m.error.message, class_="small error") if m.error else "")
                            + "".join(tag("div", p, class_="small warn") for p in v.problems))
            agg = (m.result(ToolAggregates) or ToolAggregates(source="")).steady or AggregateStats(count=0)
            median = _ms(lat.median_s) if lat else (f"{_ms(agg.median_s)} (runtime)" if agg.median_s else None)
            rows.append([
                d.id, v.label, f"{m.runtime.name} {m.runtime.version or ''}".strip(), m.config.threads, status,
                lat.n if lat else agg.count or None, median, _ms(lat.p90_s) if lat else None,
                f"{_ms(lat.ci95_s[0])} – {_ms(lat.ci95_s[1])}" if lat else None, cold_text,
                f"{energy * 1e3:.4g} mJ" if energy is not None else None, eff, _run_link(m.run_id),
            ])
    return rows


def _failed_section(devices: list[DeviceView]) -> list[Markup]:
    failed = [v for d in devices for v in d.runs if v.m.status != "ok"]
    out = [tag("h2", f"Failed and aborted runs ({len(failed)})", id="failed")]
    if not failed:
        return out + [tag("p", "None: every run finished.", class_="muted")]
    for v in failed:
        m = v.m
        raw = sorted(p.name for p in (v.stored.path / "raw").glob("*.txt")) if (v.stored.path / "raw").is_dir() else []
        out.append(tag("div", [
            Markup(badge(m.status) + " " + tag("strong", f"{v.label} on {m.device.id}") + " " + _run_link(m.run_id)),
            tag("div", f"during {m.error.stage}: {m.error.message}" if m.error else "no error recorded", class_="error"),
            tag("div", f"raw device output kept in {v.stored.path / 'raw'}: {', '.join(raw)}" if raw else
                "no raw output recorded", class_="small muted"),
            tag("div", f"measured before it stopped: {m.tables.get('samples', 0)} samples, "
                       f"{m.tables.get('telemetry', 0)} telemetry points", class_="small muted"),
        ], class_="failed-run"))
    return out


def _ceilings_block(d: DeviceView) -> list[Markup]:
    c = d.ceilings
    if c is None:
        why = d.ceilings_error or "never measured, and its profile gives no datasheet numbers"
        return [tag("p", f"No ceilings for {d.id}: {why}. Measure them with `harness ceilings --device {d.id}`.",
                    class_="warn")]
    rows = [[f"peak {dtype}", si(v, "op/s"), c.sources.get(dtype, c.method)] for dtype, v in c.peak_ops_per_s.items()]
    rows += [[f"bandwidth {lvl}", si(v, "B/s"), c.sources.get("bandwidth", c.method)]
             for lvl, v in c.bandwidth_bytes_per_s.items()]
    rows += [[f"sanity: {label}", si(c.sanity[key], unit), "a sanity check, not a ceiling"]
             for key, (label, unit) in SANITY_LABELS.items() if key in c.sanity]
    when = c.measured_at.strftime("%Y-%m-%d %H:%M UTC") if c.measured_at else "–"
    head = tag("p", f"Ceilings: {c.method}" + (f", measured {when} with {c.threads} thread(s), {c.mode} sweep"
                                                if c.method == "measured" else " (profile numbers, not measured)"),
               class_="small muted")
    out = [head, table(["ceiling", "value", "how it was obtained"], rows)]
    if c.warnings:
        out.append(tag("ul", [tag("li", w, class_="warn small") for w in c.warnings]))
    return out


def _roofline_rows(d: DeviceView) -> list[list]:
    rows = []
    for v in d.runs:
        r = v.roofline
        if not r:
            continue
        share = r.get("memory_bound_time_share")
        share_text = _pct(share) + " measured" if share is not None else _pct(r.get("memory_bound_time_share_modelled")) + " modelled"
        rows.append([
            v.label, r.get("dtype"), f"{r['arithmetic_intensity']:.3g}" if r.get("arithmetic_intensity") else None,
            f"{r['ridge_point']:.3g}", r.get("bound"), si(r.get("achieved_ops_per_s"), "op/s"),
            si(r.get("attainable_ops_per_s"), "op/s"), _pct(r.get("efficiency")), share_text,
            f"{_ms(r.get('model_min_time_s'))} / {_ms(r.get('per_op_min_time_s'))}",
            f"{r.get('n_ops_timed', 0)}/{r.get('n_ops', 0)}", _run_link(v.m.run_id),
        ])
    return rows


def _provenance(v: RunView) -> Markup:
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
        ("harness", f"{m.harness_version} on {m.host.get('hostname', '?')} ({m.host.get('platform', '?')}, "
                    f"Python {m.host.get('python', '?')})"),
        ("stop", f"{m.config.stop.mode}: {m.summary.stop_reason or '–'}"),
        ("samples", f"n {lat.n}, {lat.outliers} outliers flagged ({lat.ci_method})" if lat else "none"),
        ("cold phases", f"load {_ms(m.phases.load_s)}, init {_ms(m.phases.init_s)}, first {_ms(m.phases.first_s)}"),
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


def render(devices: list[DeviceView], results: Path, title: str = "harness report",
           max_points: int = DEFAULT_MAX_POINTS) -> str:
    from plotly.offline import get_plotlyjs

    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    runs = [v for d in devices for v in d.runs]
    n_failed = sum(v.m.status != "ok" for v in runs)
    config = {"displaylogo": False, "responsive": True}

    used_ids: set[str] = set()

    def fig_html(fig, kind: str, key: str) -> Markup:
        # plotly writes the div id into the HTML and the script unescaped, and the key (a
        # device or run id) comes from a manifest: keep only [A-Za-z0-9_-], then make it unique
        base = f"fig-{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "_", key)
        div_id, n = base, 1
        while div_id in used_ids:
            n += 1
            div_id = f"{base}-{n}"
        used_ids.add(div_id)
        html = fig.to_html(full_html=False, include_plotlyjs=False, config=config, div_id=div_id)
        return tag("div", Markup(html), class_="figure")

    body: list = [
        tag("h1", title),
        tag("p", f"{len(runs)} run(s) on {len(devices)} device(s), {n_failed} failed or aborted; "
                 f"results folder {results.resolve()}; generated {generated}.", class_="muted"),
        tag("nav", [tag("a", s, href=f"#{a}") for s, a in (("Summary", "summary"), ("Failed runs", "failed"),
                    ("Roofline", "roofline"), ("Latency", "latency"), ("Timelines", "timelines"),
                    ("Provenance", "provenance"))]),
        tag("h2", "Summary", id="summary"),
        table(["device", "model", "runtime", "threads", "status", "n", "median", "p90", "95% CI of median",
               "cold start (first inference)", "energy / inference", "efficiency", "run"],
              _summary_rows(devices), id="summary-table"),
        *_failed_section(devices),
        tag("h2", "Roofline", id="roofline"),
        tag("p", "Each run's model at its arithmetic intensity (ops per byte moved, every op reading its inputs "
                 "and weights and writing its outputs) and its achieved ops/s (FLOPs / median latency). Left of a "
                 "ridge line a model is memory-bound. Small markers are operators, sized by their share of the "
                 "measured op time (when the run profiled ops).", class_="small muted"),
    ]
    for d in devices:
        body.append(tag("h3", f"{d.id}: {d.name}", id=f"roofline-{d.id}"))
        points = [figures.RooflinePoint(v.m.run_id, v.label, v.color, v.roofline, v.roofline_at_report)
                  for v in d.runs if v.roofline]
        if d.ceilings is not None or points:
            body.append(fig_html(figures.roofline_figure(f"{d.id} ({d.name})", d.ceilings, points),
                                 "roofline", d.id))
        body += _ceilings_block(d)
        sweeps = figures.ceilings_figure(d.ceilings) if d.ceilings is not None else None
        if sweeps is not None:
            body.append(tag("details", [tag("summary", "Ceilings sweeps (how the ceilings were found)"),
                                        fig_html(sweeps, "ceilings", d.id)]))
        rows = _roofline_rows(d)
        if rows:
            body.append(table(["model", "dtype", "AI (op/B)", "ridge (op/B)", "bound", "achieved", "attainable",
                               "efficiency", "time in memory-bound ops", "bound: whole model / Σ per op",
                               "ops timed", "run"], rows))
        elif d.ceilings is not None:
            body.append(tag("p", "No run on this device has a static analysis of its model, so none is placed.",
                            class_="muted"))
    body.append(tag("h2", "Latency distributions", id="latency"))
    for d in devices:
        series = [figures.LatencySeries(v.m.run_id, v.label, v.color, v.latencies_s,
                                        v.m.summary.latency.median_s if v.m.summary.latency else None)
                  for v in d.runs if v.latencies_s.size]
        if series:
            body.append(fig_html(figures.latency_figure(f"{d.id} ({d.name})", series), "latency", d.id))
        else:
            body.append(tag("p", f"{d.id}: no steady-state samples.", class_="muted"))
    body.append(tag("h2", "Telemetry timelines", id="timelines"))
    with_telemetry = [v for v in runs if v.timeline is not None]
    if not with_telemetry:
        body.append(tag("p", "No run recorded telemetry.", class_="muted"))
    for v in with_telemetry:
        body.append(fig_html(figures.timeline_figure(v.timeline, max(1, max_points // 2)), "timeline", v.m.run_id))
    body.append(tag("h2", "Provenance", id="provenance"))
    body += [_provenance(v) for v in runs]
    plotly_js = get_plotlyjs()
    if "</script" in plotly_js.lower():  # would end the inline script early
        raise HarnessError("the installed plotly.min.js contains '</script' and cannot be inlined")
    return page(title, generated, plotly_js, body)


def build_report(results: Path | str | None = None, out: Path | str = DEFAULT_OUT, *, title: str = "harness report",
                 max_points: int = DEFAULT_MAX_POINTS) -> ReportInfo:
    """Write the dashboard for every run under `results` to `out` (atomically).

    `max_points`: the most points any plotted time series keeps (min/max buckets)."""
    t0 = time.perf_counter()
    store = RunStore(results)
    results = store.root
    if not results.is_dir():
        raise HarnessError(f"{results}: no such results folder (run `harness run` first, or pass --results)")
    devices = gather(results)
    if not devices:
        raise HarnessError(f"{results}: no run records in this folder")
    html = render(devices, results, title, max_points)
    out = write_atomic(out, html)
    runs = [v for d in devices for v in d.runs]
    return ReportInfo(out, len(runs), sum(v.m.status != "ok" for v in runs), len(devices), out.stat().st_size,
                      time.perf_counter() - t0)
