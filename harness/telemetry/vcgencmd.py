"""Raspberry Pi `vcgencmd` output → SI channels.

- ``temp=59.3'C`` (measure_temp, the SoC sensor) → ``thermal/soc`` (C)
- ``frequency(45)=600000000`` (measure_clock) → ``freq/<clock>`` (Hz). The clock id in
  parentheses differs between firmware releases (arm is 45 on a Pi 3, 48 on a Pi 4, 0
  on a Pi 5), so it does not name the clock: a line prefixed ``arm:`` (as printed by a
  ``for src in arm core …`` loop) names it, and a bare line is taken as
  ``measure_clock arm`` — the only clock the sampler asks for.
- ``throttled=0x50005`` (get_throttled) → one ``throttled/<bit>`` channel per known bit
  (1 = set), see `THROTTLED_BITS`; unknown set bits are kept in ``meta``.
- ``volt=1.2000V`` (measure_volts, core by default) → ``voltage/core`` (V)
- Pi 5 ``pmic_read_adc``: ``VDD_CORE_A current(7)=10.87674000A`` → ``current/VDD_CORE``,
  ``VDD_CORE_V volt(15)=0.89745940V`` → ``voltage/VDD_CORE``, and ``power/VDD_CORE``
  (W = V × A) for every rail that has both. ``EXT5V_V`` has no current, so the board's
  input power cannot be read this way; the PMIC rails do not add up to it.
"""

from __future__ import annotations

import re

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
_TEMP = re.compile(rf"^temp=({_F})'C$")
_CLOCK = re.compile(r"^(?:([a-z0-9_]+):\s*)?frequency\(\d{1,6}\)=(\d{1,15})$")
_THROTTLED = re.compile(r"^throttled=0x([0-9a-fA-F]{1,16})$")
_VOLT = re.compile(rf"^volt=({_F})V$")
_PMIC = re.compile(rf"^([A-Za-z0-9_]+)_([AV]) (current|volt)\(\d{{1,6}}\)=({_F})([AV])$")


def decode_throttled(mask: int) -> tuple[dict[str, float], int]:
    """(channel name → 0/1 for every known bit, unknown set bits)."""
    bits = {name: float((mask >> bit) & 1) for bit, name in THROTTLED_BITS.items()}
    known = sum(1 << b for b in THROTTLED_BITS)
    return bits, mask & ~known


def parse(text: str, source: str = "<text>") -> ParseResult:
    """Any mix of the outputs above; one `Reading` holds everything (later lines win)."""
    result = ParseResult(format="vcgencmd", source=source)
    r = Reading()
    volts: dict[str, float] = {}
    amps: dict[str, float] = {}
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if m := _TEMP.match(line):
            r.put("thermal/soc", float(m.group(1)), "C")
        elif m := _CLOCK.match(line):
            r.put(f"freq/{m.group(1) or 'arm'}", float(m.group(2)), "Hz")
        elif m := _THROTTLED.match(line):
            mask = int(m.group(1), 16)
            bits, unknown = decode_throttled(mask)
            for name, v in bits.items():
                r.put(f"throttled/{name}", v, "1")
            result.meta["throttled_mask"] = hex(mask)
            if unknown:
                result.meta["throttled_unknown_bits"] = hex(unknown)
        elif m := _VOLT.match(line):
            r.put("voltage/core", float(m.group(1)), "V")
        elif (m := _PMIC.match(line)) and m.group(2) == m.group(5) and (m.group(2) == "A") == (
            m.group(3) == "current"
        ):
            rail, value = m.group(1), float(m.group(4))
            if m.group(2) == "A":
                amps[rail] = value
                r.put(f"current/{rail}", value, "A")
            else:
                volts[rail] = value
                r.put(f"voltage/{rail}", value, "V")
        else:
            result.problems.append(Problem(i, raw, "not a vcgencmd output line"))
            continue
        r.line_no = r.line_no or i
    for rail in sorted(amps.keys() & volts.keys()):
        r.put(f"power/{rail}", volts[rail] * amps[rail], "W")
    if r.values:
        result.readings.append(r)
    return result
