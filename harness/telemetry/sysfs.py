"""Linux sysfs sensors: thermal zones, cpufreq, hwmon (INA3221), RAPL (power_supply batteries: `battery`).

The readers work on a *view* of a target's files, so the same code serves:

- `DirView(root)`: a real directory tree (the host's ``/``, or a fixture tree whose
  ``sys/class/thermal/...`` mirrors a device);
- `DumpView`: a text dump — ``path:value`` lines as printed by
  ``grep -r . /sys/class/thermal`` or by the sampler's discovery step, or a shell
  transcript of ``cat <path>`` commands and their output.

Paths are always the target's absolute paths (``/sys/class/...``).
Units at the edge: m°C → C, kHz → Hz, mV → V, mA → A, µJ → J.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from harness.telemetry.channels import ParseResult, Problem, Reading

THERMAL_DIR = "/sys/class/thermal"
CPU_DIR = "/sys/devices/system/cpu"
POWERCAP_DIR = "/sys/class/powercap"


class DirView:
    """Files under `root`, addressed by the target's absolute paths."""

    def __init__(self, root: str | Path = "/"):
        self.root = Path(root)

    def _local(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def read(self, path: str) -> str | None:
        try:
            return self._local(path).read_text(errors="replace").strip()
        except OSError:  # absent, unreadable (RAPL is often root-only), or EIO from a driver
            return None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(p.name for p in self._local(path).iterdir())
        except OSError:
            return []


class DumpView:
    """Files as captured in text (``path:value`` / ``path<TAB>value`` lines, or a ``cat`` transcript)."""

    def __init__(self, files: dict[str, str]):
        self.files = files

    def read(self, path: str) -> str | None:
        return self.files.get(posixpath.normpath(path))

    def listdir(self, path: str) -> list[str]:
        prefix = posixpath.normpath(path).rstrip("/") + "/"
        return sorted({p[len(prefix) :].split("/", 1)[0] for p in self.files if p.startswith(prefix)})

    @classmethod
    def from_text(cls, text: str) -> tuple[DumpView, list[Problem]]:
        files: dict[str, list[str]] = {}
        problems: list[Problem] = []
        current: str | None = None  # transcript: the file whose output follows
        for i, raw in enumerate(text.splitlines(), start=1):
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            if m := _CAT.search(line):
                current = _norm(m.group(1))
                files.setdefault(current, [])
                continue
            if split := _split_path_value(line):
                current = None
                files.setdefault(_norm(split[0]), []).append(split[1])
            elif current is not None:
                files[current].append(line)
            else:
                problems.append(Problem(i, line, "expected 'path:value' (grep -r . <dir>) or a 'cat <path>' transcript"))
        return cls({p: "\n".join(v).strip() for p, v in files.items()}), problems


_CAT = re.compile(r"[#$]\s*cat\s+(\S+)\s*$")
_PATH = re.compile(r"^/?(?:sys|proc)/\S*[^/\s]$")
_CONTINUES_PATH = re.compile(r"^[^\s/:]*/")


def _split_path_value(line: str) -> tuple[str, str] | None:
    """``path<TAB>value`` (the sampler's discovery) or ``path:value`` (``grep -r``).

    Directory names may hold colons (``intel-rapl:0``), so a colon splits only where
    what follows does not go on as a path."""
    if "\t" in line:
        path, value = line.split("\t", 1)
        if _PATH.match(path):
            return path, value
    start = 0
    while (i := line.find(":", start)) != -1:
        path, value = line[:i], line[i + 1 :]
        if _PATH.match(path) and not _CONTINUES_PATH.match(value):
            return path, value
        start = i + 1
    return None


def _norm(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/"))


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    t = text.strip()
    return int(t) if re.fullmatch(r"-?\d{1,18}", t) else None


def _numbered(names: list[str], prefix: str) -> list[tuple[int, str]]:
    out = [(int(n[len(prefix) :]), n) for n in names if re.fullmatch(re.escape(prefix) + r"\d{1,6}", n)]
    return sorted(out)


# -- thermal ----------------------------------------------------------------------------------


def thermal_c(raw: int | None) -> float | None:
    """A thermal_zone ``temp`` value in °C. The ABI unit is m°C; a few vendor zones report
    whole degrees, so a magnitude under 200 (0.2 °C if it were m°C: no live sensor
    reads that) is taken as °C. Tegra reports a disabled sensor as -256000 (as tegrastats
    prints ``-256C``): no value."""
    if raw is None or raw == -256000:
        return None
    return float(raw) if abs(raw) < 200 else raw / 1000


@dataclass
class ThermalZone:
    index: int
    type: str | None
    temp_path: str
    temp_c: float | None
    channel: str = ""


def thermal_zones(view) -> list[ThermalZone]:
    """Every thermal_zoneN, with its channel name (``thermal/<type>``, made unique)."""
    zones = []
    for n, name in _numbered(view.listdir(THERMAL_DIR), "thermal_zone"):
        base = f"{THERMAL_DIR}/{name}"
        milli = _int(view.read(f"{base}/temp"))
        ztype = view.read(f"{base}/type") or None
        zones.append(ThermalZone(n, ztype, f"{base}/temp", thermal_c(milli)))
    counts: dict[str, int] = {}
    for z in zones:
        key = z.type or f"zone{z.index}"
        counts[key] = counts.get(key, 0) + 1
    for z in zones:
        key = z.type or f"zone{z.index}"
        z.channel = f"thermal/{key}" if counts[key] == 1 else f"thermal/{key}:{z.index}"
    return zones


# -- cpufreq ----------------------------------------------------------------------------------


@dataclass
class CpuFreq:
    cpu: int
    cur_path: str
    cur_hz: float | None
    governor: str | None
    min_hz: float | None
    max_hz: float | None
    cpuinfo_max_hz: float | None


def cpufreqs(view) -> list[CpuFreq]:
    out = []
    for n, name in _numbered(view.listdir(CPU_DIR), "cpu"):
        base = f"{CPU_DIR}/{name}/cpufreq"
        khz = {k: _int(view.read(f"{base}/{k}")) for k in ("scaling_cur_freq", "scaling_min_freq",
                                                           "scaling_max_freq", "cpuinfo_max_freq")}
        hz = {k: v * 1000.0 if v is not None else None for k, v in khz.items()}
        governor = view.read(f"{base}/scaling_governor")
        if all(v is None for v in hz.values()) and governor is None:
            continue  # no cpufreq for this CPU (offline, or no driver)
        out.append(CpuFreq(n, f"{base}/scaling_cur_freq", hz["scaling_cur_freq"], governor,
                           hz["scaling_min_freq"], hz["scaling_max_freq"], hz["cpuinfo_max_freq"]))
    return out


# -- hwmon (INA3221) --------------------------------------------------------------------------


@dataclass
class HwmonChannel:
    label: str
    voltage_path: str | None  # in<N>_input, mV
    current_path: str | None  # curr<N>_input, mA
    voltage_v: float | None = None
    current_a: float | None = None


def hwmon_channels(view, driver_dir: str = "/sys/bus/i2c/drivers/ina3221") -> dict[str, HwmonChannel]:
    """Label → rail for every ``in<N>_label`` with a ``curr<N>_input`` under ``<driver_dir>/<dev>/hwmon/hwmon*``.

    Found by label because the hwmonN number changes between boots.
    """
    found: dict[str, HwmonChannel] = {}
    for dev in view.listdir(driver_dir):
        for _, hw in _numbered(view.listdir(f"{driver_dir}/{dev}/hwmon"), "hwmon"):
            base = f"{driver_dir}/{dev}/hwmon/{hw}"
            names = set(view.listdir(base))
            for f in sorted(names):
                m = re.fullmatch(r"in(\d{1,3})_label", f)
                label = view.read(f"{base}/{f}") if m else None
                if not label or label in found:
                    continue
                n = m.group(1)
                if f"curr{n}_input" not in names:
                    continue  # a label without a current (INA3221's "sum of shunt voltages") is no rail
                vpath = f"{base}/in{n}_input" if f"in{n}_input" in names else None
                ipath = f"{base}/curr{n}_input"
                mv, ma = _int(view.read(vpath)) if vpath else None, _int(view.read(ipath)) if ipath else None
                found[label] = HwmonChannel(label, vpath, ipath, mv / 1000 if mv is not None else None,
                                            ma / 1000 if ma is not None else None)
    return found


# -- RAPL ------------------------------------------------------------------------------------


@dataclass
class RaplZone:
    id: str  # intel-rapl:0:1
    name: str  # package-0, package-0.core
    energy_path: str
    max_range_uj: int | None
    energy_uj: int | None


def rapl_zones(view) -> list[RaplZone]:
    entries = [n for n in view.listdir(POWERCAP_DIR) if re.fullmatch(r"intel-rapl(:\d{1,4}){1,3}", n)]
    names = {e: view.read(f"{POWERCAP_DIR}/{e}/name") or e for e in entries}
    zones = []
    for e in sorted(entries, key=lambda x: [int(p) for p in x.split(":")[1:]]):
        parent = e.rsplit(":", 1)[0]
        name = f"{names[parent]}.{names[e]}" if parent in names else names[e]
        base = f"{POWERCAP_DIR}/{e}"
        zones.append(RaplZone(e, name, f"{base}/energy_uj", _int(view.read(f"{base}/max_energy_range_uj")),
                              _int(view.read(f"{base}/energy_uj"))))
    return zones


def unwrap_energy(counter_uj: list[float | None], max_range_uj: float | None) -> list[float | None]:
    """Cumulative energy (J) since the first reading of a wrapping µJ counter.

    On a wrap (e2 < e1): Δ = (max_energy_range_uj − e1) + e2. Without a known range a
    decrease cannot be unwrapped: that step counts as missing (None) and the count
    restarts from the new value. Missing readings stay None.
    """
    out: list[float | None] = []
    total = 0.0
    prev: float | None = None
    for e in counter_uj:
        if e is None:
            out.append(None)
            continue
        if prev is None:
            out.append(0.0 if not out else total)
        elif e >= prev:
            total += (e - prev) * 1e-6
            out.append(total)
        elif max_range_uj:
            total += ((max_range_uj - prev) + e) * 1e-6
            out.append(total)
        else:
            out.append(None)
        prev = e
    return out


# -- `harness telemetry parse --format thermal|rapl|hwmon|sysfs` --------------------------------


def parse_view(view, fmt: str, source: str, problems: list[Problem] | None = None) -> ParseResult:
    """Channels from a view: ``thermal`` (zones + cpufreq/governor), ``rapl``, ``hwmon``, ``sysfs`` (all)."""
    result = ParseResult(format=fmt, source=source, problems=list(problems or []))
    r = Reading()
    if fmt in ("thermal", "sysfs"):
        zones = thermal_zones(view)
        result.meta["thermal_zones"] = {z.index: z.type for z in zones}
        for z in zones:
            if z.temp_c is None:
                result.note_missing(z.channel)
            else:
                r.put(z.channel, z.temp_c, "C")
        governors = {}
        for c in cpufreqs(view):
            if c.cur_hz is None:
                result.note_missing(f"freq/cpu{c.cpu}")
            else:
                r.put(f"freq/cpu{c.cpu}", c.cur_hz, "Hz")
            if c.governor:
                governors[c.cpu] = c.governor
        if governors:
            result.meta["governor"] = governors
    if fmt in ("rapl", "sysfs"):
        ranges = {}
        for z in rapl_zones(view):
            if z.energy_uj is None:
                result.note_missing(f"energy/{z.name}")
            else:
                r.put(f"energy/{z.name}", z.energy_uj * 1e-6, "J")
            ranges[z.name] = z.max_range_uj * 1e-6 if z.max_range_uj is not None else None
        if ranges:
            result.meta["max_energy_range_j"] = ranges
    if fmt in ("hwmon", "sysfs"):
        for label, ch in hwmon_channels(view).items():
            for kind, v, unit in (("voltage", ch.voltage_v, "V"), ("current", ch.current_a, "A")):
                if v is None:
                    result.note_missing(f"{kind}/{label}")
                else:
                    r.put(f"{kind}/{label}", v, unit)
            if ch.voltage_v is not None and ch.current_a is not None:
                r.put(f"power/{label}", ch.voltage_v * ch.current_a, "W")
    if r.values:
        result.readings.append(r)
    elif not result.missing and not any(result.meta.get(k) for k in ("thermal_zones", "governor", "max_energy_range_j")):
        result.problems.append(Problem(None, source, f"no {fmt} sensors found"))
    return result
