"""Battery fuel gauge (power_supply) → SI channels, with the current's sign and scale checked.

Sources: sysfs ``/sys/class/power_supply/<name>/{current_now,voltage_now,status}``,
its ``uevent`` (``POWER_SUPPLY_CURRENT_NOW=`` …, or without the ``POWER_SUPPLY_`` prefix
as ``acc -i`` prints it), or ``dumpsys battery`` (Android). Shell transcripts are read
too: prompt lines (``$ adb shell cat …/uevent``, ``tablet:/ # cat uevent``) are skipped,
and a bare value after ``cat …/current_now`` is that file's value.

Channels: ``current/battery`` (A, positive = charging, the kernel's convention),
``voltage/battery`` (V), ``power/battery`` (W the battery delivers to the device =
−current × voltage: positive while discharging), ``thermal/battery_gauge`` (C),
``level/battery`` (0..1), ``charge/battery`` (C, from the µAh charge counter).

Sign. The kernel documents ``current_now`` as positive while charging, but vendors
differ. `calibrate` votes over the samples whose status says which way current
flows (``Charging``: should be positive, ``Discharging``: negative) and flips the
sign if the majority disagrees. ``Full`` / ``Not charging`` / ``Unknown`` say nothing
about direction (the current is a small trickle either way): with only those, the
kernel convention is assumed and ``meta['sign']`` says ``assumed``.

Scale. The ABI unit is µA, yet some gauges report mA (one capture reads ``-191``
while discharging: 0.19 mA would be far too little for an awake phone). Rule: over
the discharging samples, if the median magnitude is below 10 000 (under 10 mA read
as µA, which no awake phone-class device draws) the values are mA; at or above it
they are µA (10 000 mA = 10 A would be implausible the other way round). With no
discharging sample there is nothing to judge by: µA (the ABI) is assumed and
``meta['current_unit']`` says ``assumed``. Pass ``current_unit='uA'|'mA'`` when the
device is known. Voltage: ≥ 100 000 is µV (ABI), 1 000–100 000 is mV (dumpsys, old
gauges).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import Literal

from harness.errors import HarnessError
from harness.telemetry.channels import ParseResult, Problem, Reading

CurrentUnit = Literal["auto", "uA", "mA"]

#: a discharging device draws at least this much (raw value read as µA): below it, raw values are mA
MA_SCALE_BELOW = 10_000
#: `dumpsys battery` status codes (android.os.BatteryManager.BATTERY_STATUS_*)
DUMPSYS_STATUS = {"1": "Unknown", "2": "Charging", "3": "Discharging", "4": "Not charging", "5": "Full"}


def normalise_status(status: str | None) -> str | None:
    if status is None:
        return None
    s = status.strip()
    s = DUMPSYS_STATUS.get(s, s)
    return s.capitalize() if s else None


@dataclass
class BatterySample:
    current_raw: float | None = None
    voltage_raw: float | None = None
    status: str | None = None


@dataclass
class Calibration:
    sign: int = 1
    #: raw value / divisor = A (1e6: µA, 1e3: mA)
    current_divisor: float = 1e6
    notes: dict[str, str] = field(default_factory=dict)


def calibrate(samples: list[BatterySample], current_unit: CurrentUnit = "auto") -> Calibration:
    """Decide the current's sign and unit from the whole run (see the module docstring)."""
    cal = Calibration()
    agree = disagree = 0
    discharging: list[float] = []
    for s in samples:
        status = normalise_status(s.status)
        if s.current_raw is None or s.current_raw == 0:
            continue
        if status == "Discharging":
            discharging.append(abs(s.current_raw))
            agree, disagree = (agree + 1, disagree) if s.current_raw < 0 else (agree, disagree + 1)
        elif status == "Charging":
            agree, disagree = (agree + 1, disagree) if s.current_raw > 0 else (agree, disagree + 1)
    if agree == disagree == 0:
        cal.notes["sign"] = "assumed (kernel convention, positive = charging): no charging/discharging sample"
    elif disagree > agree:
        cal.sign = -1
        cal.notes["sign"] = f"inverted: {disagree} of {agree + disagree} samples had the wrong sign for their status"
    else:
        cal.notes["sign"] = f"calibrated: {agree} of {agree + disagree} samples agree with their status"

    if current_unit == "uA":
        cal.notes["current_unit"] = "uA (given)"
    elif current_unit == "mA":
        cal.current_divisor = 1e3
        cal.notes["current_unit"] = "mA (given)"
    elif current_unit != "auto":
        raise HarnessError(f"battery current unit must be auto, uA or mA, not {current_unit!r}")
    elif not discharging:
        cal.notes["current_unit"] = "uA assumed (kernel ABI): no discharging sample to judge the scale by"
    else:
        med = statistics.median(discharging)
        if med < MA_SCALE_BELOW:
            cal.current_divisor = 1e3
            cal.notes["current_unit"] = f"mA: median discharge {med:g} would be under 10 mA if read as uA"
        else:
            cal.notes["current_unit"] = f"uA: median discharge {med:g} is plausible as uA"
    return cal


def voltage_volts(raw: float) -> float | None:
    """µV (ABI) or mV (dumpsys, old gauges) by magnitude; None when neither is plausible."""
    if raw >= 100_000:
        return raw / 1e6
    if raw >= 1_000:
        return raw / 1e3
    return None


def convert(sample: BatterySample, cal: Calibration, r: Reading) -> None:
    """Put the sample's SI channels into `r`."""
    amps = cal.sign * sample.current_raw / cal.current_divisor if sample.current_raw is not None else None
    volts = voltage_volts(sample.voltage_raw) if sample.voltage_raw is not None else None
    if amps is not None:
        r.put("current/battery", amps, "A")
    if volts is not None:
        r.put("voltage/battery", volts, "V")
    if amps is not None and volts is not None:
        r.put("power/battery", 0.0 - amps * volts, "W")  # 0.0 - x: no -0.0


# -- text formats ---------------------------------------------------------------------------

_UEVENT = re.compile(r"^(?:POWER_SUPPLY_)?([A-Z][A-Z0-9_]*)=(.*)$")
#: uevent keys that say a prefix-less KEY=value text is a power_supply uevent
_UEVENT_KEYS = {"STATUS", "CURRENT_NOW", "VOLTAGE_NOW", "CAPACITY", "TEMP", "CHARGE_COUNTER", "HEALTH", "PRESENT"}
# a shell prompt and command: '$ adb shell cat /sys/…/uevent', 'PAYTABLETM8:/sys/… # cat uevent'
_PROMPT = re.compile(r"^\S*\s?[$#](?:\s+(.*))?$")
_CAT_FILE = re.compile(r"\bcat\s+\S*?([a-z_]+)\s*$")
_SYSFS_FILES = {"current_now", "voltage_now", "status", "capacity", "temp", "charge_counter"}
_DUMPSYS = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_ ]*?):\s*(.*)$")
_NUM = re.compile(r"^[-+]?\d{1,15}$")


def _num(text: str) -> float | None:
    t = text.strip()
    return float(t) if _NUM.match(t) else None


def _is_uevent(lines: list[str]) -> bool:
    keys = {m.group(1).removeprefix("POWER_SUPPLY_") for ln in lines if (m := _UEVENT.match(ln.strip()))}
    return any(ln.strip().startswith("POWER_SUPPLY_") for ln in lines) or len(keys & _UEVENT_KEYS) >= 2


def _fields(text: str) -> tuple[str, dict[str, tuple[int, str]], list[Problem]]:
    """('uevent' | 'dumpsys' | 'sysfs', key → (line number, value), problems)."""
    lines = text.splitlines()
    kind = "uevent" if _is_uevent(lines) else "dumpsys"
    fields: dict[str, tuple[int, str]] = {}
    problems: list[Problem] = []
    cat: str | None = None  # the sysfs file the last 'cat' prompt line read
    for i, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if m := _PROMPT.match(line):
            f = _CAT_FILE.search(m.group(1) or "")
            cat = f.group(1) if f and f.group(1) in _SYSFS_FILES else None
            continue
        if cat is not None:  # the output of 'cat …/current_now'
            fields[cat] = (i, line)
            cat = None
            if not fields.keys() - _SYSFS_FILES:
                kind = "sysfs"
            continue
        m = _UEVENT.match(line) if kind == "uevent" else _DUMPSYS.match(raw)
        if m:
            fields[m.group(1).strip().lower()] = (i, m.group(2).strip())
        elif kind == "uevent":  # dumpsys is free-form: section headers have no colon
            problems.append(Problem(i, raw, "not a [POWER_SUPPLY_]<KEY>=<value> line"))
    return kind, fields, problems


def parse(text: str, source: str = "<text>", current_unit: CurrentUnit = "auto") -> ParseResult:
    """A power_supply ``uevent`` or ``dumpsys battery`` output, auto-detected."""
    kind, f, problems = _fields(text)
    result = ParseResult(format="battery", source=source, problems=problems)
    result.meta["source_format"] = kind
    get = lambda *keys: next((f[k] for k in keys if k in f), None)  # noqa: E731
    r = Reading()

    status = get("status")
    cur = get("current_now", "current now")
    volt = get("voltage_now", "voltage")
    if not (status or cur or volt):
        if not result.problems and text.strip():
            result.problems.append(Problem(None, text.strip()[:120], "no battery status, current or voltage"))
        return result
    r.line_no = min(x[0] for x in (status, cur, volt) if x)
    sample = BatterySample(
        current_raw=_num(cur[1]) if cur else None,
        voltage_raw=_num(volt[1]) if volt else None,
        status=normalise_status(status[1]) if status else None,
    )
    for name, x in (("current/battery", cur), ("voltage/battery", volt)):
        if x is None:
            result.note_missing(name)
        elif _num(x[1]) is None:
            result.problems.append(Problem(x[0], x[1], f"{name}: not an integer"))
    cal = calibrate([sample], current_unit)
    convert(sample, cal, r)
    result.meta.update(cal.notes)
    result.meta["status"] = sample.status

    temp = get("temp", "temperature")
    if temp and (t := _num(temp[1])) is not None:
        r.put("thermal/battery_gauge", t / 10, "C")  # tenths of a degree in both formats
    level, scale = get("capacity", "level"), get("scale")
    if level and (lv := _num(level[1])) is not None:
        full = _num(scale[1]) if scale else 100.0
        if full:
            r.put("level/battery", lv / full, "1")
    charge = get("charge_counter", "charge counter")
    if charge and (q := _num(charge[1])) is not None:
        r.put("charge/battery", q * 1e-6 * 3600, "C")  # µAh → coulombs
    if r.values:
        result.readings.append(r)
    return result
