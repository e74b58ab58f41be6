"""What the dashboard shows, read from a results folder: runs per device, grouped by configuration.

`gather(results)` reads every run record once: its steady-state latencies, its roofline
(computed here, against the device's ceilings, when the run was recorded before the
device had any: labelled "computed at report time"), its telemetry timeline. Repeated
runs of one configuration (same device, model file, runtime, delegate, threads, pinning
and runner options) form a `ConfigGroup`: one label, one colour, one legend entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.analysis.ceilings import Ceilings, ceilings_for
from harness.analysis.roofline import summarize_roofline
from harness.analysis.static import analyze_if_unchanged
from harness.analysis.summary import steady_latencies, typical_latency
from harness.errors import HarnessError
from harness.profiles import DeviceProfile
from harness.report import figures
from harness.store.record import TABLE_SCHEMAS, RunManifest
from harness.store.store import RunStore, StoredRun

# Runner options that change nothing about the timed inferences (op profiling runs after them).
_UNTIMED_OPTIONS = {"op_profile"}


@dataclass
class ConfigGroup:
    """Runs of one configuration: drawn in one colour under one legend entry."""

    key: str
    label: str  # raw (unescaped): model name, plus what tells it apart from its siblings
    color: str
    runs: list[RunView] = field(default_factory=list)

    @property
    def legend(self) -> str:
        return self.label + (f" ({len(self.runs)} runs)" if len(self.runs) > 1 else "")


@dataclass
class RunView:
    stored: StoredRun
    group: ConfigGroup | None = None
    roofline: dict | None = None
    roofline_at_report: bool = False
    latencies_s: np.ndarray = field(default_factory=lambda: np.array([]))
    timeline: figures.Timeline | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def m(self) -> RunManifest:
        return self.stored.manifest

    @property
    def label(self) -> str:
        return self.group.label if self.group else self.m.model.name

    @property
    def legend(self) -> str:
        """The group's legend entry: its label, and how many runs repeat it."""
        return self.group.legend if self.group else self.label

    @property
    def color(self) -> str:
        return self.group.color if self.group else figures.color_for(0)

    @property
    def placed(self) -> bool:
        """A finished run with a whole-model point on the roofline."""
        r = self.roofline
        return self.m.status == "ok" and bool(r) and bool(r.get("achieved_ops_per_s")) and bool(r.get("arithmetic_intensity"))


@dataclass
class DeviceView:
    id: str
    name: str
    runs: list[RunView]
    ceilings: Ceilings | None
    ceilings_error: str | None = None

    @property
    def ok_runs(self) -> list[RunView]:
        return [v for v in self.runs if v.m.status == "ok"]


def legend_carriers(views: list[RunView]) -> list[bool]:
    """For each view of a figure, whether it carries its group's legend entry (the first shown of its group)."""
    seen: set[int] = set()
    out = []
    for v in views:
        out.append(id(v.group) not in seen)
        seen.add(id(v.group))
    return out


def config_key(m: RunManifest) -> str:
    """What must be equal for two runs to be repeats of one configuration, as a short hash
    (the record's own benchmark_key when it has one)."""
    if m.benchmark_key:
        return m.benchmark_key
    c = m.config
    options = sorted((k, str(v)) for k, v in c.options.items() if k not in _UNTIMED_OPTIONS)
    fields = (m.device.id, m.model.name, m.model.sha256, m.runtime.name, m.runtime.version, m.runtime.delegate,
              c.threads, c.cluster, c.affinity_mask, c.delegate, c.inputs, options)
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


def _group(manifests: list[RunManifest]) -> dict[str, ConfigGroup]:
    """Run id -> its group. Labels add runtime/threads where one device ran a model several ways."""
    keys = {m.run_id: config_key(m) for m in manifests}
    ways: dict[tuple[str, str], set[str]] = {}
    for m in manifests:
        ways.setdefault((m.device.id, m.model.name), set()).add(keys[m.run_id])
    groups: dict[str, ConfigGroup] = {}
    for m in sorted(manifests, key=lambda m: (m.model.name, m.started_at)):
        key = keys[m.run_id]
        if key not in groups:
            label = m.model.name
            if len(ways[(m.device.id, m.model.name)]) > 1:
                label += f" [{m.runtime.name}" + (f", {m.config.threads} thr" if m.config.threads else "") + \
                         (f", {m.runtime.delegate}" if m.runtime.delegate else "") + "]"
            groups[key] = ConfigGroup(key, label, figures.color_for(len(groups)))
    return {m.run_id: groups[keys[m.run_id]] for m in manifests}


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
    median = m.summary.latency.median_s if m.summary.latency else None
    return figures.Timeline(run_id=m.run_id, label=f"{label} on {m.device.id}", t0_ns=min(candidates),
                            latency_t_ns=lat_t, latency_s=lat, channels=channels, windows=windows,
                            median_s=median)


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
    out = summarize_roofline(m.model.precision, median, run_table(view, "ops").to_pylist(), analysis, ceilings,
                             m.config.threads)
    if out is not None:
        out["latency_source"] = source
    return out


def run_table(view: RunView, name: str) -> pa.Table:
    """A run's table; an unreadable file is reported on the page, not fatal to the report."""
    try:
        return view.stored.table(name)
    except HarnessError as e:  # the file's footer says it is not this run's table
        view.problems.append(f"{e}; left out of the plots")
        return TABLE_SCHEMAS[name].empty_table()
    except (OSError, pa.ArrowException) as e:
        view.problems.append(f"{view.stored.path / (name + '.parquet')}: unreadable ({e}); left out of the plots")
        return TABLE_SCHEMAS[name].empty_table()


def gather(results: Path, skipped: list[str] | None = None) -> list[DeviceView]:
    """Every readable run, by device. `skipped` gets one line per record left out (unreadable,
    or incomplete: measuring now, or its harness stopped mid-run)."""
    store = RunStore(results)
    manifests = store.manifests()
    if skipped is not None:
        skipped.extend(store.problems)
        skipped.extend(f"{d}: incomplete (being measured, or its harness stopped mid-run: "
                       f"`harness results recover` finishes it)" for d in store.incomplete_dirs())
    groups = _group(manifests)
    by_device: dict[str, list[RunManifest]] = {}
    for m in manifests:
        by_device.setdefault(m.device.id, []).append(m)
    devices = []
    for device_id, runs in sorted(by_device.items()):
        ceilings, error = _device_ceilings(runs, results)
        views = []
        for m in runs:
            stored = StoredRun(m, store.root / m.run_id)
            view = RunView(stored, groups[m.run_id])
            view.group.runs.append(view)
            samples = run_table(view, "samples")
            view.latencies_s, _ = steady_latencies(samples)
            view.roofline = m.summary.roofline
            # none when it ran, or one from a harness that judged every model against DRAM (no level_reason)
            if view.roofline is None or "level_reason" not in view.roofline:
                recomputed = _report_time_roofline(view, ceilings)
                if recomputed is not None:
                    view.roofline, view.roofline_at_report = recomputed, True
            telemetry = run_table(view, "telemetry")
            if telemetry.num_rows:
                view.timeline = _timeline(stored, view.label, telemetry, samples)
            views.append(view)
        devices.append(DeviceView(device_id, runs[-1].device.name, views, ceilings, error))
    return devices
