"""An LLM run's summary figures, from its tables: decode throughput, joules per token of each
phase (telemetry windows aligned to the phases on the device clock, net of the idle baseline),
and prefill and decode placed on the device's roofline.

`add_llm_summary` is called by `harness.analysis.summary.derive_summary` for a record with an
`LlmResult`; it only reads the record (pure), so a stored run can be re-summarised.

- ``throughput_per_s``: decoded tokens ÷ decode seconds over every decode repetition.
- Energy (``summary.energy``, unit token): for each phase, ∫ power over its repetitions'
  windows [start, end] (the driver's CLOCK_MONOTONIC stamps, the sampler's clock) ÷ their
  tokens; net = less the idle baseline power × the windows' length. Per point, and for each
  phase over all points. ``energy_j_per_inference(_net)`` and ``power_w_mean`` are the decode
  phase's (J per generated token). llama-bench and saved logs give no stamps: no J/token.
- Roofline (``summary.roofline``, ``kind: llm``): each phase with static costs and a rate, by
  `harness.llm.costs.llm_roofline` — bandwidth utilisation for decode, compute utilisation for
  prefill; the top-level fields are the first decode point's (else the first point's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from harness.analysis import energy
from harness.digest import sha256_of
from harness.errors import HarnessError
from harness.llm.costs import TokenCosts, llm_roofline
from harness.llm.record import CostsFor, costs_for_model
from harness.llm.results import LlmResult, phase_windows, rows_of
from harness.store.record import RunManifest, Summary


def add_llm_summary(summary: Summary, manifest: RunManifest, samples: pa.Table, telemetry: pa.Table,
                    ceilings, precision: str) -> None:
    result = manifest.result(LlmResult)
    if result is None:
        return
    summary.throughput_per_s = decode_throughput(samples, result)
    if telemetry.num_rows:
        _energy(summary, manifest, result, samples, telemetry)
    if ceilings is not None:
        _roofline(summary, manifest, result, ceilings, precision)


def decode_throughput(samples: pa.Table, result: LlmResult) -> float | None:
    tokens = seconds = 0.0
    for p in result.of("decode"):
        rows = rows_of(samples, "decode", p.rows)
        n = rows["inferences"].to_numpy().astype(float)
        tokens += float(n.sum())
        seconds += float((rows["latency_ns"].to_numpy().astype(float) * n).sum()) / 1e9
    if seconds > 0:
        return tokens / seconds
    decode = result.of("decode")
    return decode[0].rate_per_s if len(decode) == 1 else None  # a tool's aggregate, when it printed one


def _energy(summary: Summary, manifest: RunManifest, result: LlmResult, samples: pa.Table, telemetry: pa.Table) -> None:
    baseline = energy.baseline_windows(manifest.timeline)
    stamped = [p for p in result.phases if p.stamped]
    if not stamped:
        summary.energy = {"unit": "token", "note": f"{result.source} gives no device-clock stamps of its phases: no "
                                                   "joules per token (the llama_ttft runtime stamps them)"}
        return
    points, by_phase = [], {}
    for name in ("prefill", "decode"):
        windows, tokens = [], 0
        for p in [q for q in stamped if q.name == name]:
            w, n = phase_windows(samples, p)
            e = energy.summarize_windows(telemetry, w, n, baseline)
            points.append({"phase": name, "test": p.test, **_per_token(e)})
            windows += w
            tokens += n
        if windows:
            by_phase[name] = _per_token(energy.summarize_windows(telemetry, windows, tokens, baseline))
    how = energy.summarize_windows(telemetry, [], 0, baseline)  # which channels, and why
    summary.energy = {"unit": "token", "method": "∫ power over each phase's repetitions (device clock) ÷ tokens",
                      "source": how["source"], "channels": how["channels"], "chosen_because": how["chosen_because"],
                      "phases": by_phase, "points": points}
    decode = by_phase.get("decode")
    if decode and decode["j_per_token"] is not None:
        summary.energy_j_per_inference = decode["j_per_token"]
        summary.energy_j_per_inference_net = decode["j_per_token_net"]
        summary.power_w_mean = decode["power_w_mean"]
    if how["channels"]:
        for name, e in by_phase.items():
            summary.warnings += [f"energy ({name}): {w}" for w in e["warnings"]]


def _per_token(e: dict[str, Any]) -> dict[str, Any]:
    keys = ("energy_j", "power_w_mean", "windows", "window_s", "coverage", "baseline_power_w", "warnings")
    out = {k: e.get(k) for k in keys}
    out.update(tokens=e["units"], j_per_token=e["j_per_unit"], j_per_token_net=e["j_per_unit_net"])
    return out


def _costs_of_recorded_model(manifest: RunManifest, result: LlmResult) -> CostsFor | None:
    """Static costs from the run's GGUF while it is still the recorded file (an imported log
    with ``--model FILE``: its phases were recorded without costs)."""
    path = Path(manifest.model.path)
    if manifest.model.format != "gguf" or not manifest.model.sha256 or not path.is_file():
        return None
    if sha256_of(path) != manifest.model.sha256:
        return None
    from harness.formats.gguf import GgufFormat

    try:
        model = GgufFormat().model(path)
    except HarnessError:
        return None
    return costs_for_model(model, n_ubatch=result.n_ubatch or 512, kv_type=result.type_k or "f16")


def _roofline(summary: Summary, manifest: RunManifest, result: LlmResult, ceilings, precision: str) -> None:
    points = []
    costs_for = _costs_of_recorded_model(manifest, result) if any(p.costs is None for p in result.phases) else None
    for p in result.phases:
        costs = p.costs or (costs_for(p.name, p.n_prompt, p.n_gen, p.n_depth) if costs_for else None)
        if costs is None or not p.rate_per_s or p.name not in ("prefill", "decode"):
            continue
        try:
            point = llm_roofline(costs, p.rate_per_s, ceilings, precision)
        except ValueError as e:  # no ceiling for this precision, or no bandwidth: nothing to place it on
            summary.warnings.append(f"roofline: {e}")
            return
        points.append({"phase": p.name, "test": p.test, "label": p.label, **point.model_dump(),
                       "working_set_bytes": costs.working_set_bytes, **_level_reason(costs, point.level)})
    if not points:
        return
    head = next((q for q in points if q["phase"] == "decode"), points[0])
    prefill = next((q for q in points if q["phase"] == "prefill"), None)
    decode = next((q for q in points if q["phase"] == "decode"), None)
    summary.roofline = {
        "kind": "llm", "dtype": head["dtype"], "level": head["level"], "level_reason": head["level_reason"],
        "bound": head["bound"], "ridge_point": head["ridge_point"], "ceilings_method": ceilings.method,
        "decode_bandwidth_utilisation": decode["bandwidth_utilisation"] if decode else None,
        "prefill_compute_utilisation": prefill["compute_utilisation"] if prefill else None,
        "points": points,
    }


def _level_reason(costs: TokenCosts, level: str) -> dict[str, str]:
    ws = costs.working_set_bytes
    return {"level_reason": f"one forward pass touches {ws / 2**20:.3g} MiB (weights + KV cache): {level} bandwidth"}


def describe(manifest: RunManifest) -> list[str]:
    """One line per measured phase (and the peak memory), for the CLI after a run."""
    from harness.report.page import ms, pct, si

    result = manifest.result(LlmResult)
    if result is None:
        return []
    energy = {(e["phase"], e["test"]): e for e in (manifest.summary.energy or {}).get("points", [])}
    roof = manifest.summary.roofline or {}
    roofs = {(r["phase"], r["test"]): r for r in roof.get("points", [])} if roof.get("kind") == "llm" else {}
    lines = []
    for p in result.phases:
        parts = [f"{p.label}: {si(p.rate_per_s, 'tok/s')}" + (f" ({p.repetitions} reps)" if p.repetitions else "")]
        if p.ttft_s:
            parts.append(f"TTFT p50 {ms(p.ttft_s.median_s)}")
        if p.inter_token_s:
            parts.append(f"inter-token p50 {ms(p.inter_token_s.median_s)} p99 {ms(p.inter_token_s.p99_s)}")
        e = energy.get((p.name, p.test)) or {}
        if e.get("j_per_token") is not None:
            parts.append(f"{si(e['j_per_token'], 'J')}/token ({si(e.get('j_per_token_net'), 'J')} net)")
        r = roofs.get((p.name, p.test))
        if r:
            parts.append(f"{pct(r['bandwidth_utilisation'])} of {r['level']} bandwidth" if p.name == "decode"
                         else f"{pct(r['compute_utilisation'])} of the {r['dtype']} peak")
        lines.append(", ".join(parts))
    if manifest.summary.memory.get("peak_rss_bytes"):
        lines.append(f"peak RSS {si(manifest.summary.memory['peak_rss_bytes'], 'B')}")
    return lines
