"""A device's roofline ceilings: measured on the target, stored, reused; datasheet as fallback.

`measure_ceilings(profile)` runs the ceilings probe runner (`harness.runners.ceilings`: the
probe harness/agent/ceilings.py and two synthetic FULLY_CONNECTED models, fp32 and int8, on
the target over its command transport; ERT-style sweeps, see the probe's docstring), and
turns its output into `Ceilings` with
`derive_ceilings` (a pure function): the compute ceiling per dtype is the best rate of the
FC batch sweep; the bandwidth per cache level and DRAM is the plateau of the working-set
sweep inside that level's capacity (from the target's sysfs cache sizes).

Stored per device as ``<results>/ceilings/<device id>.json`` next to the run records it
serves (the run store ignores folders without a manifest), overwritten only when
re-measured. `ceilings_for(profile, results)` returns the stored ceilings, completed
with the profile's datasheet numbers for anything not measured, or the datasheet alone
(``method: datasheet``); every number says where it came from in `sources`.

A ceiling measured on a busy target reads low, and a run judged against it shows an
efficiency above 100 %. `Ceilings.busy_reasons` says, from the stored measurement, whether
the target looked busy (load average before and after, spread between repeated trials);
`roof_for` picks the roof a model is judged against from its working set (a model that
fits in L2 is judged against L2, not DRAM) and says why.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError, describe_validation_error
from harness.profiles import DeviceProfile
from harness.store.atomic import write_atomic

CEILINGS_DIR = "ceilings"
#: version of the ceilings file; readers migrate older ones, drop fields a newer minor adds,
#: refuse a newer major (as run records, `harness.store.migrate`)
CEILINGS_VERSION = "1.0"

# A target is busy when its 1-minute load average (less the probe's own threads) exceeds this
# share of its CPUs, or when the typical trial of a bandwidth point is this much slower than
# the best one (trials are short and many: on a quiet target they agree within a few %).
BUSY_LOAD_PER_CPU = 0.5
BUSY_TRIAL_SPREAD = 0.15

Progress = Callable[[str, int, int], None]
# The sanity checks the probe reports beside the ceilings, with their units.
SANITY_LABELS = {
    "numpy_sgemm_flops_per_s": ("numpy matmul (BLAS sgemm 1024³)", "op/s"),
    "copy_bytes_per_s": ("large-array copy (read + write)", "B/s"),
}


class CeilingsError(HarnessError):
    """The probe failed on the target, or a stored ceilings file is unreadable."""


class Ceilings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(CEILINGS_VERSION, description="major.minor; files without one are 1.0")
    device: str
    peak_ops_per_s: dict[str, float] = Field(description="dtype -> ops/s (2 ops per MAC)")
    bandwidth_bytes_per_s: dict[str, float] = Field(description="level (L1, L2, …, DRAM) -> bytes/s, inner first")
    method: Literal["measured", "datasheet"]
    measured_at: dt.datetime | None = None
    sources: dict[str, str] = Field(default_factory=dict, description="how each number was obtained")
    threads: int | None = None
    mode: str | None = None
    target: dict[str, Any] = Field(default_factory=dict, description="CPU, caches, load average, runtime")
    sanity: dict[str, float] = Field(default_factory=dict, description="numpy sgemm flops/s, large copy bytes/s")
    sweeps: dict[str, Any] = Field(default_factory=dict, description="raw sweep points the ceilings come from")
    warnings: list[str] = Field(default_factory=list)
    harness_version: str | None = None
    duration_s: float | None = None

    def memory_level(self) -> str:
        """The bandwidth level a whole-model roofline uses: DRAM, else the outermost measured."""
        if "DRAM" in self.bandwidth_bytes_per_s:
            return "DRAM"
        if not self.bandwidth_bytes_per_s:
            raise KeyError("no bandwidth ceiling")
        return list(self.bandwidth_bytes_per_s)[-1]

    def level_holding(self, nbytes: float, threads: int | None = None) -> str | None:
        """The innermost measured level whose capacity (over `threads`, default the ceilings'
        threads) holds `nbytes`; "DRAM" when none does.

        None when the target's cache sizes are unknown (datasheet ceilings)."""
        held = self._held_by_level(threads)
        if not held:
            return None
        return next((name for name, capacity in held if nbytes <= capacity), "DRAM")

    def _held_by_level(self, threads: int | None) -> list[tuple[str, float]]:
        """(level, bytes `threads` threads can keep in it) for each measured cache level, inner first."""
        threads = threads or self.threads or 1
        held = []
        for c in self.target.get("caches") or []:
            if c.get("level") is None or not c.get("size_bytes"):  # a cache described without level or size
                continue
            name = f"L{c['level']}"
            instances = -(-threads // max(1, int(c.get("shared_cpus") or 1)))
            if name in self.bandwidth_bytes_per_s:
                held.append((name, float(c["size_bytes"] * instances)))
        return held

    def busy_reasons(self) -> list[str]:
        """Why the target looked busy while these ceilings were measured (empty: it looked quiet).

        From what the probe recorded: the load average at start and end (the end less what
        the probe's own threads added over its run) and the spread between the repeated
        trials of each bandwidth point. Busy ceilings read low."""
        if self.method != "measured":
            return []
        reasons = []
        cpus = self.target.get("cpu_count") or 1
        limit = BUSY_LOAD_PER_CPU * cpus
        start = self.target.get("loadavg_start")
        if start is not None and start > limit:
            reasons.append(f"load average {start:.2f} on {cpus} CPU(s) when the measurement started")
        end = self.target.get("loadavg_end")
        if end is not None and self.duration_s:
            own = (self.threads or 1) * (1 - math.exp(-self.duration_s / 60.0))  # 1-min average, τ = 60 s
            if end - own > limit:
                reasons.append(f"load average {end:.2f} on {cpus} CPU(s) when it ended "
                               f"(about {own:.1f} of it the probe's own threads)")
        spread = trial_spread(self.sweeps.get("bandwidth") or [])
        if spread is not None and spread > BUSY_TRIAL_SPREAD:
            reasons.append(f"repeated trials disagreed: the typical trial ran {100 * spread:.0f} % below the best "
                           f"(quiet targets: under {100 * BUSY_TRIAL_SPREAD:.0f} %)")
        return reasons

    def compute_dtype(self, precision: str) -> str | None:
        """The peak that applies to a model of this precision (None: no peak known)."""
        p = (precision or "").lower()
        wanted = ["int8"] if ("int8" in p or "uint8" in p) else ["fp16", "fp32"] if "16" in p else ["fp32"]
        for d in wanted:
            if d in self.peak_ops_per_s:
                return d
        return None

    def brief(self) -> dict[str, Any]:
        """The fields the issue names, plus sources, sanity checks and busy reasons (for --json)."""
        return self.model_dump(mode="json", exclude={"sweeps"}) | {"busy": self.busy_reasons()}


def trial_spread(points: list[dict]) -> float | None:
    """Median over sweep points of 1 − (median trial ÷ best trial); None without repeated trials."""
    spreads = [1.0 - statistics.median(p["trials"]) / max(p["trials"])
               for p in points if len(p.get("trials") or ()) >= 3 and max(p["trials"]) > 0]
    return statistics.median(spreads) if spreads else None


# -- from probe output to ceilings (pure) -------------------------------------------------


def _capacities(caches: list[dict], threads: int) -> list[tuple[str, float]]:
    """(level name, bytes of it each thread can use): a cache shared by s CPUs is split min(s, T) ways."""
    out = []
    for c in caches:
        if not c.get("size_bytes"):
            continue
        share = max(1, min(int(c.get("shared_cpus") or 1), threads))
        out.append((f"L{c['level']}", c["size_bytes"] / share))
    return out


def bandwidth_plateaus(points: list[dict], caches: list[dict], threads: int) -> tuple[dict[str, float], list[str]]:
    """Plateau (median of the best-of-trials rates) per cache level and DRAM.

    A level's plateau uses working sets (per thread) between twice the level below's
    capacity and half its own, so no point straddles two levels; DRAM uses working
    sets of at least four times the last level. Without cache sizes the curve is split
    where the rate steps by more than 25 %.
    """
    notes: list[str] = []
    pts = sorted((p["bytes_per_thread"], p["bytes_per_s"]) for p in points if p.get("bytes_per_s"))
    if not pts:
        return {}, ["no bandwidth points"]
    caps = _capacities(caches, threads)
    if not caps:
        notes.append("no cache sizes from the target: levels are steps in the bandwidth curve")
        return _steps(pts), notes
    levels: dict[str, float] = {}
    lower = 0.0
    for name, cap in caps:
        inside = [bw for ws, bw in pts if 2 * lower <= ws <= cap / 2]
        if inside:
            levels[name] = statistics.median(inside)
        else:
            notes.append(f"{name}: no working set inside {2 * lower / 1024:.0f}–{cap / 2 / 1024:.0f} KiB per thread")
        lower = cap
    names = list(levels)
    for inner, outer in zip(names, names[1:]):
        if levels[outer] >= 0.85 * levels[inner]:
            notes.append(
                f"{inner} and {outer} plateaus are within 15 %: the kernel, not the cache, limits {inner} "
                "(its figure is a lower bound)"
            )
    dram = [bw for ws, bw in pts if ws >= 4 * lower]
    if dram:
        levels["DRAM"] = statistics.median(dram)
    else:
        notes.append(
            f"DRAM: largest working set {pts[-1][0] / 2**20:.0f} MiB per thread is under 4× the last cache level; "
            "no DRAM plateau"
        )
    return levels, notes


def _steps(pts: list[tuple[int, float]], jump: float = 1.25) -> dict[str, float]:
    segments: list[list[float]] = [[pts[0][1]]]
    for _, bw in pts[1:]:
        ref = statistics.median(segments[-1])
        if max(bw, ref) / min(bw, ref) > jump:
            segments.append([bw])
        else:
            segments[-1].append(bw)
    segments = [s for s in segments if len(s) >= 2] or segments
    return {f"level{i + 1}": statistics.median(s) for i, s in enumerate(segments)}


def derive_ceilings(events: list[dict], device: str, *, threads_hint: int | None = None) -> Ceilings:
    """Ceilings from the probe's JSON events (hello, runtime, bandwidth, compute, sanity, warning, done)."""
    by_kind: dict[str, list[dict]] = {}
    for ev in events:
        by_kind.setdefault(ev.get("event", ""), []).append(ev)
    hello = (by_kind.get("hello") or [{}])[0]
    runtime = (by_kind.get("runtime") or [{}])[0]
    done = (by_kind.get("done") or [{}])[-1]
    threads = int(hello.get("threads") or threads_hint or 1)
    warnings = [w["message"] for w in by_kind.get("warning", [])]
    sources: dict[str, str] = {}
    peaks: dict[str, float] = {}
    sweeps: dict[str, Any] = {"compute": {}}
    for ev in by_kind.get("compute", []):
        best = max(ev["points"], key=lambda p: p["ops_per_s"])
        peaks[ev["dtype"]] = best["ops_per_s"]
        sources[ev["dtype"]] = (
            f"measured: {ev['method']}, {threads} thread(s), weights {best['n']}x{best['k']}, "
            f"best at batch {best['batch']} ({best['ops_per_weight']} ops per weight element)"
        )
        sweeps["compute"][ev["dtype"]] = ev["points"]
    sanity = dict((by_kind.get("sanity") or [{}])[0])
    sanity.pop("event", None)
    if "fp32" not in peaks and sanity.get("numpy_sgemm_flops_per_s"):
        peaks["fp32"] = sanity["numpy_sgemm_flops_per_s"]
        sources["fp32"] = f"measured: numpy matmul (BLAS sgemm {sanity.get('numpy_sgemm_size')}³), no TFLite runtime"
    bandwidth: dict[str, float] = {}
    bw_ev = (by_kind.get("bandwidth") or [None])[0]
    if bw_ev is not None:
        bandwidth, notes = bandwidth_plateaus(bw_ev["points"], hello.get("caches") or [], threads)
        warnings += notes
        sweeps["bandwidth"] = bw_ev["points"]
        sources["bandwidth"] = (
            f"measured: plateaus of a working-set sweep of {bw_ev['kernel']}, {threads} thread(s) "
            f"each on its own buffers, best of trials"
        )
    if not peaks and not bandwidth:
        raise CeilingsError(f"{device}: the probe measured nothing (warnings: {'; '.join(warnings) or 'none'})")
    ceilings = Ceilings(
        device=device,
        peak_ops_per_s=peaks,
        bandwidth_bytes_per_s=bandwidth,
        method="measured",
        measured_at=dt.datetime.now(dt.timezone.utc),
        sources=sources,
        threads=threads,
        mode=hello.get("mode"),
        target={
            k: hello.get(k)
            for k in ("cpu_model", "cpu_count", "affinity", "caches", "mem_available_bytes", "python", "numpy")
        }
        | {"runtime": runtime.get("library"), "runtime_version": runtime.get("version"),
           "loadavg_start": hello.get("loadavg"), "loadavg_end": done.get("loadavg")},
        sanity={k: float(v) for k, v in sanity.items() if isinstance(v, (int, float))},
        sweeps=sweeps,
        warnings=warnings,
        duration_s=done.get("duration_s"),
    )
    ceilings.warnings += [f"target was busy: {r}; the ceilings may read low" for r in ceilings.busy_reasons()]
    return ceilings


# -- datasheet fallback and storage -------------------------------------------------------


def datasheet_ceilings(profile: DeviceProfile) -> Ceilings | None:
    hw = profile.hardware
    peaks = {k: float(v) for k, v in hw.peak_ops_per_s.items() if v}
    bandwidth = {"DRAM": float(hw.memory_bandwidth_bytes_per_s)} if hw.memory_bandwidth_bytes_per_s else {}
    if not peaks and not bandwidth:
        return None
    sources = {d: f"datasheet: {hw.sources.get('peak_ops_per_s', '?')}" for d in peaks}
    if bandwidth:
        sources["bandwidth"] = f"datasheet: {hw.sources.get('memory_bandwidth_bytes_per_s', '?')}"
    return Ceilings(device=profile.id, peak_ops_per_s=peaks, bandwidth_bytes_per_s=bandwidth, method="datasheet",
                    sources=sources)


def ceilings_path(device_id: str, results: Path | str) -> Path:
    return Path(results) / CEILINGS_DIR / f"{device_id}.json"


def save_ceilings(ceilings: Ceilings, results: Path | str) -> Path:
    return write_atomic(ceilings_path(ceilings.device, results), ceilings.model_dump_json(indent=2))


def load_ceilings(device_id: str, results: Path | str) -> Ceilings | None:
    """The stored (measured) ceilings of a device, or None if never measured."""
    path = ceilings_path(device_id, results)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CeilingsError(f"{path}: unreadable ceilings file ({e}); re-measure with `harness ceilings`") from None
    return read_ceilings(data, path)


def read_ceilings(data: Any, path: Path | str) -> Ceilings:
    """Ceilings from a file's JSON data, of any version this harness reads."""
    from harness.store.migrate import parse_version
    from harness.store.results import drop_unknown_fields

    if not isinstance(data, dict):
        raise CeilingsError(f"{path}: unreadable ceilings file (not a JSON object); re-measure with `harness ceilings`")
    data = {"schema_version": "1.0", **data}  # files written before versioning are 1.0
    version, ours = parse_version(data["schema_version"]), parse_version(CEILINGS_VERSION)
    if version is None or version[0] > ours[0]:
        raise CeilingsError(f"{path}: ceilings schema_version {data['schema_version']!r} is newer than this harness "
                            f"reads ({ours[0]}.x); upgrade harness")
    try:
        return Ceilings.model_validate(data)
    except ValidationError as e:
        if version > ours and drop_unknown_fields(data, e):
            return Ceilings.model_validate({**data, "schema_version": CEILINGS_VERSION})
        raise CeilingsError(f"{path}: unreadable ceilings file ({describe_validation_error(e)}); "
                            "re-measure with `harness ceilings`") from None


def ceilings_for(profile: DeviceProfile, results: Path | str) -> Ceilings | None:
    """Stored measured ceilings, completed from the datasheet where not measured; else the datasheet."""
    measured = load_ceilings(profile.id, results)
    sheet = datasheet_ceilings(profile)
    if measured is None:
        return sheet
    if sheet is not None:
        for dtype, value in sheet.peak_ops_per_s.items():
            if dtype not in measured.peak_ops_per_s:
                measured.peak_ops_per_s[dtype] = value
                measured.sources[dtype] = sheet.sources[dtype] + " (not measured)"
        if not measured.bandwidth_bytes_per_s and sheet.bandwidth_bytes_per_s:
            measured.bandwidth_bytes_per_s = dict(sheet.bandwidth_bytes_per_s)
            measured.sources["bandwidth"] = sheet.sources["bandwidth"] + " (not measured)"
    return measured


# -- measuring on the target --------------------------------------------------------------


def measure_ceilings(
    profile: DeviceProfile,
    results: Path | str,
    *,
    mode: str = "quick",
    threads: int | None = None,
    progress: Progress | None = None,
    save: bool = True,
    max_bytes: int | None = None,
) -> Ceilings:
    """Run the ceilings probe runner on the device over its command transport; store and
    return the ceilings."""
    import harness
    from harness.device_lock import DeviceLock
    from harness.runners.base import RunContext
    from harness.runners.ceilings import CeilingsRunner
    from harness.store.record import RunConfig, RuntimeInfo
    from harness.store.recorder import Recorder
    from harness.transports import open_transport
    from harness.transports.base import CommandTransport
    from harness.transports.registry import transport_class

    runner = CeilingsRunner()
    options = runner.parse_options({"mode": mode, "max_bytes": max_bytes})
    if not issubclass(transport_class(profile.transport.kind), runner.transport):
        raise HarnessError(
            f"device {profile.id!r} is reached over {profile.transport.kind}: ceilings are measured on command "
            "targets (local, ssh, adb); its roofline uses the profile's datasheet numbers"
        )
    cluster = profile.defaults.cluster
    if threads is None and cluster:
        threads = len(profile.hardware.cluster(cluster).cpus)
    config = RunConfig(runtime="ceilings", threads=threads, cluster=cluster,
                       affinity_mask=profile.hardware.cluster(cluster).affinity_mask if cluster else None,
                       telemetry=False, thermal_gate=False)
    rec = Recorder(runtime=RuntimeInfo(name="ceilings"))
    with open_transport(profile) as t, DeviceLock(t, what="harness ceilings"):  # measures the device: alone
        assert isinstance(t, CommandTransport)
        ctx = RunContext(profile=profile, transport=t, model=None, model_path=None, config=config, recorder=rec,
                         options=options,
                         progress=(lambda stage, f: progress(stage, f["i"], f["n"])) if progress else lambda *_: None)
        runner.run(ctx)
    events = rec.results[0].events
    ceilings = derive_ceilings(events, profile.id, threads_hint=threads)
    ceilings.harness_version = harness.__version__
    sheet = datasheet_ceilings(profile)
    if sheet is not None:  # keep the datasheet beside the measurement, for comparison
        ceilings.target["datasheet"] = {"peak_ops_per_s": sheet.peak_ops_per_s,
                                        "bandwidth_bytes_per_s": sheet.bandwidth_bytes_per_s}
    if save:
        save_ceilings(ceilings, results)
    return ceilings


@dataclass(frozen=True)
class RoofChoice:
    """The ceilings one model is judged against, and why that memory level."""

    dtype: str
    level: str
    peak_ops_per_s: float
    bandwidth_bytes_per_s: float
    reason: str


def roof_for(ceilings: Ceilings, precision: str, footprint_bytes: float | None = None,
             threads: int | None = None) -> RoofChoice | None:
    """The roof a model of this precision and working set is judged against, or None.

    The bandwidth is that of the innermost cache level holding the model's footprint
    (weights + peak live activations) over the run's `threads`: a model that stays in L2
    between inferences streams from L2, not DRAM. Without a footprint or the target's
    cache sizes, the outermost measured level (DRAM)."""
    dtype = ceilings.compute_dtype(precision)
    if dtype is None or not ceilings.bandwidth_bytes_per_s:
        return None
    outer = ceilings.memory_level()
    held = dict(ceilings._held_by_level(threads))
    if not footprint_bytes:
        level, reason = outer, f"model footprint unknown: judged against {outer}"
    elif not held:
        level, reason = outer, f"cache sizes unknown ({ceilings.method} ceilings): judged against {outer}"
    else:
        level = ceilings.level_holding(footprint_bytes, threads)
        size = f"weights + activations {footprint_bytes / 1e6:.3g} MB"
        if level in held:
            reason = f"{size} fit in {level} ({held[level] / 2**20:.3g} MiB for {threads or ceilings.threads or 1} thread(s))"
        else:
            last, capacity = list(held.items())[-1]
            level = outer
            reason = f"{size} exceed {last} ({capacity / 2**20:.3g} MiB): judged against {outer}"
    peak, bw = ceilings.peak_ops_per_s[dtype], ceilings.bandwidth_bytes_per_s[level]
    if not (math.isfinite(peak) and math.isfinite(bw) and peak > 0 and bw > 0):
        return None
    return RoofChoice(dtype, level, peak, bw, reason)
