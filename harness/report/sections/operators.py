"""Operators: per run, where the time goes — each op's measured time and share, its type,
FLOPs, bytes and bound — and the same summed by op type. Per-op times say where they come
from (how many profiling iterations, and how their sum compares with the run's median)."""

from __future__ import annotations

import math

from harness.analysis.roofline import FEW_OP_PROFILE_ITERATIONS, ceiling_too_low
from harness.report import figures
from harness.report.context import ReportContext
from harness.report.gather import RunView, run_table
from harness.report.page import Cell, Markup, pct, run_link, si, table, tag


def _us(seconds: float | None) -> Cell:
    ok = seconds is not None and math.isfinite(seconds)
    return Cell(f"{seconds * 1e6:.4g} µs" if ok else "–", seconds if ok else None)


def _op_rows(ops: list[dict]) -> list[list]:
    return [[
        o.get("index"), Cell(o.get("name") or "–", o.get("name") or "", "long-name"), o.get("type") or "–",
        _us(o.get("time_s")),
        Cell(pct(o.get("time_share")), o.get("time_share")), Cell(si(o.get("flops"), "FLOP"), o.get("flops")),
        Cell(si(o.get("bytes"), "B"), o.get("bytes")),
        Cell(f"{o['arithmetic_intensity']:.3g}" if o.get("arithmetic_intensity") is not None else "–",
             o.get("arithmetic_intensity")),
        o.get("bound") or "–",
        Cell(si(o.get("achieved_ops_per_s"), "op/s"), o.get("achieved_ops_per_s")),
        Cell(figures.efficiency_text(o, "") if o.get("achieved_ops_per_s") else "–",
             o.get("efficiency_raw", o.get("efficiency")), "too-low" if ceiling_too_low(o) else None),
    ] for o in ops]


def _type_rows(ops: list[dict]) -> list[list]:
    by_type: dict[str, dict] = {}
    for o in ops:
        t = by_type.setdefault(o.get("type") or "–", {"n": 0, "time": 0.0, "share": 0.0, "flops": 0.0, "bytes": 0.0,
                                                       "memory": 0, "timed": 0})
        t["n"] += 1
        t["flops"] += o.get("flops") or 0.0
        t["bytes"] += o.get("bytes") or 0.0
        t["memory"] += o.get("bound") == "memory"
        if o.get("time_s") is not None:
            t["timed"] += 1
            t["time"] += o["time_s"]
            t["share"] += o.get("time_share") or 0.0
    return [[name, t["n"], _us(t["time"] if t["timed"] else None), Cell(pct(t["share"] if t["timed"] else None),
             t["share"] if t["timed"] else None), Cell(si(t["flops"], "FLOP"), t["flops"]),
             Cell(si(t["bytes"], "B"), t["bytes"]), f"{t['memory']} of {t['n']}"]
            for name, t in sorted(by_type.items(), key=lambda kv: -kv[1]["share"])]


def _source_note(r: dict) -> Markup:
    if not r.get("n_ops_timed"):
        return tag("p", "No per-op times: the run did not profile its ops (--op-profile N). FLOPs, bytes and bounds "
                        "come from the static analysis.", class_="small muted")
    parts = [f"Per-op times: {r.get('op_time_source')}."]
    ratio = r.get("op_time_to_median")
    if ratio is not None:
        parts.append(f"They sum to {ratio:.2f}× the run's median latency (profiling adds overhead and runs apart "
                     "from the timed inferences).")
    if r.get("op_time_unattributed_share"):
        parts.append(f"{pct(r['op_time_unattributed_share'])} of the profiled time matched no op of the model.")
    few = r.get("op_profile_few")
    if few:
        parts.append(f"Fewer than {FEW_OP_PROFILE_ITERATIONS} iterations: indicative only on a noisy target; "
                     "profile more (--op-profile N) for firmer per-op numbers.")
    return tag("p", " ".join(parts), class_="small " + ("warn" if few else "muted"))


def _measured_only_rows(view: RunView) -> list[dict]:
    """Op times of a run without a roofline (no ceilings or no static analysis): times and shares only."""
    rows = [o for o in run_table(view, "ops").to_pylist() if o.get("time_s") is not None and math.isfinite(o["time_s"])]
    total = sum(o["time_s"] for o in rows)
    return [{"index": o["index"], "name": o["name"], "type": o["type"], "time_s": o["time_s"],
             "time_share": o["time_s"] / total if total > 0 else None} for o in rows]


def _run(v: RunView) -> list[Markup]:
    r = v.roofline
    ops = list(r.get("ops") or []) if r else _measured_only_rows(v)
    if not ops:
        return []
    timed = sum(o.get("time_s") is not None for o in ops)
    count = f"{len(ops)} ops, {timed} timed" if timed else f"{len(ops)} ops, static costs" + (
        f" (the same for its {len(v.group.runs)} runs)" if v.group and len(v.group.runs) > 1 else "")
    head = Markup(tag("strong", f"{v.legend} on {v.m.device.id}") + " " + run_link(v.m.run_id) + " "
                  + tag("span", count, class_="small muted"))
    note = _source_note(r) if r else tag("p", "No roofline for this run (no ceilings or no static analysis): "
                                              "measured times only.", class_="small muted")
    ops = sorted(ops, key=lambda o: (-(o.get("time_share") or 0.0), o.get("index") or 0))
    body = [note, table(["op type", "ops", "time", "share of op time", "FLOPs", "bytes", "memory-bound"],
                        _type_rows(ops), caption="by op type"),
            table(["#", "op", "type", "time", "share of op time", "FLOPs", "bytes", "AI (op/B)", "bound", "achieved",
                   "efficiency"], _op_rows(ops), caption="per op (slowest first)", id=f"ops-{v.m.run_id}")]
    return [tag("details", [tag("summary", head), *body], class_="ops-run")]


def _shown(ctx: ReportContext) -> list[RunView]:
    """Every finished run with per-op times; of a configuration without any, one run (its static
    per-op costs are the same for every repeat)."""
    shown, static_groups = [], set()
    for v in ctx.runs:
        if v.m.status != "ok":
            continue
        if (v.roofline or {}).get("n_ops_timed") or not v.roofline:
            shown.append(v)
        elif id(v.group) not in static_groups:
            static_groups.add(id(v.group))
            shown.append(v)
    return shown


def render(ctx: ReportContext) -> list[Markup]:
    out: list[Markup] = []
    for v in _shown(ctx):
        out += _run(v)
    if not out:
        return [tag("p", "No run has per-op data.", class_="muted")]
    return [tag("p", "Per run: each operator's measured time and share (when the run profiled its ops), its type, "
                     "FLOPs, bytes moved and bound against the run's roof; then the same summed by op type. "
                     "Tables sort by any column and filter by text (an op type, a name).", class_="small muted"), *out]
