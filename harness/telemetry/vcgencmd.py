"""Raspberry Pi `vcgencmd` output → SI channels.

- ``temp=59.3'C`` (measure_temp, the SoC sensor) → ``thermal/soc`` (C); after
  ``vcgencmd measure_temp pmic`` → ``thermal/pmic``.
- ``frequency(45)=600000000`` (measure_clock) → ``freq/<clock>`` (Hz). The clock id in
  parentheses differs between firmware releases (arm is 45 on a Pi 3, 48 on a Pi 4, 0
  on a Pi 5), so it does not name the clock. The clock is named by what was asked: a
  transcript's ``$ vcgencmd measure_clock v3d`` line before it, or a ``v3d:`` label
  (as printed by a ``for src in arm core …`` loop); a bare line with neither is taken as
  ``measure_clock arm`` — the only clock the sampler asks for (``meta['assumed']`` says so).
- ``throttled=0x50005`` (get_throttled) → one ``throttled/<bit>`` channel per known bit
  (1 = set), see `THROTTLED_BITS`; unknown set bits are kept in ``meta``.
- ``volt=1.2000V`` (measure_volts, core by default) → ``voltage/core`` (V); labelled
  (``sdram_c:\tvolt=1.2V``) or asked (``measure_volts sdram_c``) → ``voltage/sdram_c``.
- Pi 5 ``pmic_read_adc``: ``VDD_CORE_A current(7)=10.87674000A`` → ``current/VDD_CORE``,
  ``VDD_CORE_V volt(15)=0.89745940V`` → ``voltage/VDD_CORE``, and ``power/VDD_CORE``
  (W = V × A) for every rail that has both. ``EXT5V_V`` has no current, so the board's
  input power cannot be read this way; the PMIC rails do not add up to it.

One `Reading` per instant: lines may start with a time stamp (``12:00:01``,
``2024-05-01 12:00:01.5``, epoch seconds), and a new stamp starts a new reading; without
stamps, a channel read again (the next pass of a polling loop) starts one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.logs.text import lines_of
from harness.telemetry.channels import ParseResult, Problem, Reading

#: get_throttled bit → channel name (bits 16–19 are the "since boot" copies of 0–3)
THROTTLED_BITS: dict[int, str] = {
    0: "under_voltage",
    1: "arm_freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
    16: "under_voltage_occurred",
    17: "arm_freq_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}
#: bits that say the clocks are limited right now
THROTTLED_NOW = ("under_voltage", "arm_freq_capped", "throttled", "soft_temp_limit")

_F = r"[-+]?\d{1,12}(?:\.\d{1,12})?"
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?|\d{2}:\d{2}:\d{2}(?:\.\d+)?|\d{9,10}(?:\.\d+)?)\s+")
_LABEL = re.compile(r"^([a-z][a-z0-9_]*):\s*(?=\S+=)")
_COMMAND = re.compile(r"^(?:\S*\s?[$#]\s*)?vcgencmd\s+(\w+)(?:\s+(\w+))?\s*$")
_TEMP = re.compile(rf"^temp=({_F})'C$")
_CLOCK = re.compile(r"^frequency\(\d{1,6}\)=(\d{1,15})$")
_THROTTLED = re.compile(r"^throttled=0x([0-9a-fA-F]{1,16})$")
_VOLT = re.compile(rf"^volt=({_F})V$")
_PMIC = re.compile(rf"^([A-Za-z0-9_]+)_([AV]) (current|volt)\(\d{{1,6}}\)=({_F})([AV])$")


def decode_throttled(mask: int) -> tuple[dict[str, float], int]:
    """(channel name → 0/1 for every known bit, unknown set bits)."""
    bits = {name: float((mask >> bit) & 1) for bit, name in THROTTLED_BITS.items()}
    known = sum(1 << b for b in THROTTLED_BITS)
    return bits, mask & ~known


class _Readings:
    """Groups values into readings: one per time stamp, or per pass of a polling loop."""

    def __init__(self, result: ParseResult):
        self.result = result
        self.r = Reading()
        self.volts: dict[str, float] = {}
        self.amps: dict[str, float] = {}

    def at(self, stamp: str | None, line_no: int) -> None:
        if stamp is not None and self.r.values and stamp != self.r.stamp:
            self.close()
        if stamp is not None:
            self.r.stamp = stamp
        self.r.line_no = self.r.line_no or line_no

    def put(self, channel: str, value: float, unit: str, line_no: int) -> None:
        if channel in self.r.values and self.r.stamp is None:
            self.close()  # read again: the loop's next pass
            self.r.line_no = line_no
        self.r.put(channel, value, unit)

    def close(self) -> None:
        r = self.r
        for rail in sorted(self.amps.keys() & self.volts.keys()):
            r.put(f"power/{rail}", self.volts[rail] * self.amps[rail], "W")
        if r.values:
            self.result.readings.append(r)
        self.r, self.volts, self.amps = Reading(), {}, {}


def parse(text: str | Iterable[str], source: str = "<text>") -> ParseResult:
    """Any mix of the outputs above, with or without the commands that printed them."""
    result = ParseResult(format="vcgencmd", source=source)
    out = _Readings(result)
    asked: tuple[str, str | None] | None = None  # the last 'vcgencmd CMD [ARG]' line
    for i, raw in enumerate(lines_of(text), start=1):
        line = raw.strip()
        if not line:
            continue
        if m := _COMMAND.match(line):
            asked = (m.group(1), m.group(2))
            continue
        stamp = None
        if m := _STAMP.match(line):
            stamp, line = m.group(1), line[m.end():]
        label = None
        if m := _LABEL.match(line):
            label, line = m.group(1), line[m.end():]
        arg = asked[1] if asked else None
        if m := _TEMP.match(line):
            out.at(stamp, i)
            zone = label or (arg if asked and asked[0] == "measure_temp" and arg else "soc")
            out.put(f"thermal/{zone}", float(m.group(1)), "C", i)
        elif m := _CLOCK.match(line):
            out.at(stamp, i)
            clock = label or (arg if asked and asked[0] == "measure_clock" and arg else None)
            if clock is None:
                clock = "arm"
                result.meta["assumed"] = "a frequency line without its 'measure_clock NAME' command or label: arm"
            out.put(f"freq/{clock}", float(m.group(1)), "Hz", i)
        elif m := _THROTTLED.match(line):
            out.at(stamp, i)
            mask = int(m.group(1), 16)
            bits, unknown = decode_throttled(mask)
            for name, v in bits.items():
                out.put(f"throttled/{name}", v, "1", i)
            result.meta["throttled_mask"] = hex(mask)
            if unknown:
                result.meta["throttled_unknown_bits"] = hex(unknown)
        elif m := _VOLT.match(line):
            out.at(stamp, i)
            rail = label or (arg if asked and asked[0] == "measure_volts" and arg else "core")
            out.put(f"voltage/{rail}", float(m.group(1)), "V", i)
        elif (m := _PMIC.match(line)) and m.group(2) == m.group(5) and (m.group(2) == "A") == (
            m.group(3) == "current"
        ):
            out.at(stamp, i)
            rail, value = m.group(1), float(m.group(4))
            if m.group(2) == "A":
                out.put(f"current/{rail}", value, "A", i)
                out.amps[rail] = value
            else:
                out.put(f"voltage/{rail}", value, "V", i)
                out.volts[rail] = value
        else:
            result.problem(Problem(i, raw, "not a vcgencmd output line"))
    out.close()
    return result
