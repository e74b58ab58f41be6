"""NVIDIA Jetson `tegrastats` lines → SI channels.

Variants handled (see the captures in tests/telemetry/fixtures/tegrastats):

- rails ``VDD_IN 12479mW/12479mW`` (JetPack 5/6/7) and ``POM_5V_IN 1750/1628`` or
  ``VDD_SYS_GPU 182/182`` (JetPack 4: milliwatts without the unit) → ``power/<RAIL>``
  (instant) and ``power_avg/<RAIL>`` (tegrastats' running average), in W;
- temperatures ``cpu@52.562C`` / ``CPU@40C`` → ``thermal/cpu`` (names lower-cased:
  their case changes between releases); ``-256C`` means the sensor is off → no value,
  the channel is listed as missing;
- ``CPU [14%@2188,off,...]`` → ``load/cpu<N>`` (0..1) and ``freq/cpu<N>`` (Hz);
- ``GR3D_FREQ 63%@[621]``, ``0%@[0,0]`` (one value per GPC), ``@[0,0,0]`` (Thor, no
  load), ``0%@76`` (JetPack 4) → ``load/gpu``, ``freq/gpu`` or ``freq/gpu<N>``;
- engines ``EMC_FREQ 3%@2133``, ``NVENC 79%@166`` → ``load/<name>``, ``freq/<name>``;
  ``NVENC0_FREQ @0`` → ``freq/nvenc0``; ``APE 174`` and ``VIC_FREQ 115`` (bare numbers)
  are clocks in MHz; ``NAME off`` gives nothing;
- ``RAM 18207/62841MB``, ``SWAP 86/31420MB``, ``IRAM 0/252kB`` → ``mem/*`` in bytes
  (tegrastats' MB are MiB).

Frequencies are printed in MHz. Unknown tokens are ignored; a line with nothing
recognisable is a `Problem`.
"""

from __future__ import annotations

import re

from harness.telemetry.channels import ParseResult, Problem, Reading

MIB = 1024 * 1024
_N = r"\d{1,15}"  # bounded: int() refuses absurdly long digit strings

_STAMP = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+")
_MEM = re.compile(rf"\b(RAM|SWAP|IRAM) ({_N})/({_N})(MB|kB)")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_CPU_ENTRY = re.compile(rf"^(?:({_N})%)?(?:@({_N}))?$")
_GR3D = re.compile(rf"\bGR3D_FREQ (?:({_N})%)?@(?:\[([\d,]*)\]|({_N}))")
_ENGINE = re.compile(rf"\b([A-Z][A-Z0-9_]*) (?:({_N})%)?@({_N})\b")
_BARE_CLOCK = re.compile(rf"\b(APE|[A-Z][A-Z0-9]*_FREQ) ({_N})(?=\s|$)")
_TEMP = re.compile(rf"\b([A-Za-z][A-Za-z0-9_]*)@(-?{_N}(?:\.{_N})?)C\b")
_RAIL = re.compile(rf"\b([A-Z][A-Z0-9_]*) ({_N})(mW)?/({_N})(mW)?(?=\s|$)")

#: tegrastats reports a powered-off sensor as this temperature
SENSOR_OFF_C = -256.0


def _engine_name(token: str) -> str:
    name = token.lower()
    name = name.removesuffix("_freq")
    return {"gr3d": "gpu"}.get(name, name)


def parse_line(line: str, line_no: int | None = None, result: ParseResult | None = None) -> Reading | Problem:
    """One tegrastats line. Sensors that are off are noted in `result.missing`."""
    r = Reading(line_no=line_no)
    m = _STAMP.match(line)
    if m:
        r.stamp = m.group(1)
    found = 0

    for m in _MEM.finditer(line):
        scale = MIB if m.group(4) == "MB" else 1024
        what = m.group(1).lower()
        r.put(f"mem/{what}_used", int(m.group(2)) * scale, "bytes")
        r.put(f"mem/{what}_total", int(m.group(3)) * scale, "bytes")
        found += 1

    m = _CPU.search(line)
    if m:
        found += 1
        for i, entry in enumerate(m.group(1).split(",")):
            e = _CPU_ENTRY.match(entry.strip())
            if not e or entry.strip() in ("", "off"):
                continue  # core offline: no value, not zero
            if e.group(1) is not None:
                r.put(f"load/cpu{i}", int(e.group(1)) / 100, "1")
            if e.group(2) is not None:
                r.put(f"freq/cpu{i}", int(e.group(2)) * 1e6, "Hz")

    m = _GR3D.search(line)
    if m:
        found += 1
        if m.group(1) is not None:
            r.put("load/gpu", int(m.group(1)) / 100, "1")
        if m.group(3) is not None:
            r.put("freq/gpu", int(m.group(3)) * 1e6, "Hz")
        else:
            mhz = [x for x in (m.group(2) or "").split(",") if x.strip().isdigit() and len(x.strip()) <= 15]
            if len(mhz) == 1:
                r.put("freq/gpu", int(mhz[0]) * 1e6, "Hz")
            else:
                for i, x in enumerate(mhz):
                    r.put(f"freq/gpu{i}", int(x) * 1e6, "Hz")

    for m in _ENGINE.finditer(line):
        if m.group(1) in ("GR3D_FREQ", "CPU"):
            continue
        name = _engine_name(m.group(1))
        if m.group(2) is not None:
            r.put(f"load/{name}", int(m.group(2)) / 100, "1")
        r.put(f"freq/{name}", int(m.group(3)) * 1e6, "Hz")
        found += 1

    for m in _BARE_CLOCK.finditer(line):
        r.put(f"freq/{_engine_name(m.group(1))}", int(m.group(2)) * 1e6, "Hz")
        found += 1

    for m in _TEMP.finditer(line):
        channel = f"thermal/{m.group(1).lower()}"
        value = float(m.group(2))
        found += 1
        if value == SENSOR_OFF_C:
            if result is not None:
                result.note_missing(channel)
            continue
        r.put(channel, value, "C")

    for m in _RAIL.finditer(line):
        if m.group(1) in ("RAM", "SWAP", "IRAM"):
            continue
        r.put(f"power/{m.group(1)}", int(m.group(2)) / 1000, "W")
        r.put(f"power_avg/{m.group(1)}", int(m.group(4)) / 1000, "W")
        found += 1

    if not found:
        return Problem(line_no, line, "not a tegrastats line (no RAM, CPU, rail or temperature field)")
    return r


def parse(text: str, source: str = "<text>") -> ParseResult:
    """Every non-empty line of `text` as one tegrastats reading."""
    result = ParseResult(format="tegrastats", source=source)
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        got = parse_line(line, i, result)
        if isinstance(got, Problem):
            result.problems.append(got)
        else:
            result.readings.append(got)
    return result
