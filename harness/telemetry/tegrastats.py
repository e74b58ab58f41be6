"""NVIDIA Jetson `tegrastats` lines → SI channels.

Variants handled (see the captures in tests/telemetry/fixtures/tegrastats, L4T R21 to
JetPack 7):

- rails ``VDD_IN 12479mW/12479mW`` (JetPack 5/6), ``VDD_GPU_SOC 5139mW/5139mW/5139mW``
  (JetPack 7: instant/average/peak) and ``POM_5V_IN 1750/1628``, ``GPU 0/0`` (JetPack 4
  and L4T R32: milliwatts without the unit) → ``power/<RAIL>`` (instant),
  ``power_avg/<RAIL>`` (tegrastats' running average) and ``power_peak/<RAIL>``, in W;
- temperatures ``cpu@52.562C`` / ``CPU@40C`` / ``gpu@47.6C/47.6C`` → ``thermal/cpu``
  (names lower-cased: their case changes between releases). ``-256C`` means the sensor
  is off → no value, the channel is listed as missing. ``PMIC@100C`` is a placeholder
  (that zone reads 100 °C on every Xavier/TX1 whatever happens): never a value, so it
  cannot feed a run's maximum temperature; it is listed in ``meta['placeholder']``;
- ``CPU [14%@2188,off,...]`` → ``load/cpu<N>`` (0..1) and ``freq/cpu<N>`` (Hz);
  ``CPU [6%,1%]`` (no clock: a VM), and L4T R21–R28's lowercase ``cpu [40%,45%]@1734``
  (one clock for all cores; ``@-1``: unknown);
- the GPU, with the same names whatever the release: ``load/gpu`` and ``freq/gpu`` (the
  GPU clock: the fastest GPC), plus ``freq/gpu_gpc<N>`` (and ``load/gpu_gpc<N>``) per GPC
  when there are several: ``GR3D_FREQ 63%@[621]``, ``0%@[305,305]``, ``@[0,0,0]`` (Thor,
  no load), ``0%@76``, bare ``GR3D_FREQ 0%`` (no root: load only), old ``GR3D 0%@76``,
  and JetPack 5's second GPC ``GR3D2_FREQ 0%@0``;
- engines ``EMC_FREQ 3%@2133`` / ``EMC 55%@1600`` / bare ``EMC_FREQ 0%``,
  ``NVENC 79%@166`` → ``load/<name>``, ``freq/<name>``; ``NVENC0_FREQ @0`` →
  ``freq/nvenc0``; bare numbers ``APE 174``, ``VIC_FREQ 115``, ``NVDEC 716``, ``MSENC
  716``, ``VDE 0`` are clocks in MHz; ``NAME off`` gives nothing;
- ``RAM 18207/62841MB``, ``SWAP 86/31420MB``, ``IRAM 0/252kB`` → ``mem/*`` in bytes
  (tegrastats' MB are MiB).

Frequencies are printed in MHz. Fields not understood (``MTS fg 0% bg 0%``, ``EDP limit
0``…) are counted in ``meta['unrecognised_fields']`` (count and the first few); a line
with nothing recognisable is a `Problem`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.logs.text import lines_of
from harness.telemetry.channels import ParseResult, Problem, Reading

MIB = 1024 * 1024
_N = r"\d{1,15}"  # bounded: int() refuses absurdly long digit strings

_STAMP = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+")
_MEM = re.compile(rf"\b(RAM|SWAP|IRAM) +({_N})/({_N})(MB|kB)")
_CPU = re.compile(r"\b(?:CPU|cpu) +\[([^\]]*)\](?:@(-?\d{1,9}))?")
_CPU_ENTRY = re.compile(rf"^(?:({_N})%)?(?:@({_N}))?$")
_GPU = re.compile(rf"\b(GR3D2?)(?:_FREQ)? +(?:({_N})%)?(?:@(?:\[([\d,]*)\]|({_N})))?(?=\s|$)")
_ENGINE = re.compile(rf"\b([A-Z][A-Z0-9_]*) +(?:({_N})%)?@({_N})\b")
_LOAD_ONLY = re.compile(rf"\b([A-Z][A-Z0-9_]*) +({_N})%(?=\s|$)")
_BARE_CLOCK = re.compile(rf"\b([A-Z][A-Z0-9_]*) +({_N})(?=\s|$)")
_TEMP = re.compile(rf"\b([A-Za-z][A-Za-z0-9_]*)@(-?{_N}(?:\.{_N})?)C(?:/-?{_N}(?:\.{_N})?C)?(?=\s|$)")
_RAIL = re.compile(rf"\b([A-Z][A-Z0-9_]*) +({_N})(?:mW)?/({_N})(?:mW)?(?:/({_N})(?:mW)?)?(?=\s|$)")
# fields known to carry nothing harness records
_KNOWN = re.compile(r"\((?:lfb|cached) [^)]*\)|\b[A-Z][A-Z0-9_]* +off\b|\bMTS fg \d+% bg \d+%|\bEDP limit \d+")
_NOT_ENGINES = {"RAM", "SWAP", "IRAM", "CPU", "GR3D", "GR3D2", "GR3D_FREQ", "GR3D2_FREQ"}
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}  # 'CPU 311/311' and 'GPU 0/0' are rails on L4T R32

#: tegrastats reports a powered-off sensor as this temperature
SENSOR_OFF_C = -256.0
#: zones whose reading is a fixed placeholder, not a temperature
PLACEHOLDER_C = {"pmic": 100.0}
#: distinct unrecognised fields remembered in meta
KEEP_FIELDS = 10


def _engine_name(token: str) -> str:
    return token.lower().removesuffix("_freq")


class _Line:
    """One line being read: values found, and the spans of text they came from."""

    def __init__(self, line: str, line_no: int | None):
        self.line = line
        self.r = Reading(line_no=line_no)
        self.spans: list[tuple[int, int]] = []

    def took(self, m: re.Match[str]) -> None:
        self.spans.append(m.span())

    def taken(self, m: re.Match[str]) -> bool:
        a, b = m.span()
        return any(a < y and x < b for x, y in self.spans)

    def leftover(self) -> str:
        chars = list(self.line)
        for a, b in self.spans:
            chars[a:b] = " " * (b - a)
        return " ".join("".join(chars).split())


def _gpu(ln: _Line) -> None:
    put = ln.r.put
    clocks: dict[int, float] = {}
    for m in _GPU.finditer(ln.line):
        load, array_, single = m.group(2), m.group(3), m.group(4)
        if load is None and array_ is None and single is None:
            continue  # 'GR3D' alone: not this field
        ln.took(m)
        second = m.group(1) == "GR3D2"  # JetPack 5's second GPC
        if load is not None:
            put("load/gpu_gpc1" if second else "load/gpu", int(load) / 100, "1")
        mhz = [int(x) for x in (array_ or "").split(",") if x.strip().isdigit() and len(x.strip()) <= 15]
        if single is not None:
            mhz = [int(single)]
        for i, f in enumerate(mhz):
            clocks[i + 1 if second else i] = f * 1e6
    if clocks:
        put("freq/gpu", max(clocks.values()), "Hz")
        if len(clocks) > 1:
            for i, hz in sorted(clocks.items()):
                put(f"freq/gpu_gpc{i}", hz, "Hz")


def parse_line(line: str, line_no: int | None = None, result: ParseResult | None = None) -> Reading | Problem:
    """One tegrastats line. Sensors that are off are noted in `result.missing`."""
    ln = _Line(line, line_no)
    r, put = ln.r, ln.r.put
    m = _STAMP.match(line)
    if m:
        r.stamp = m.group(1)
        ln.took(m)

    for m in _MEM.finditer(line):
        scale = MIB if m.group(4) == "MB" else 1024
        what = m.group(1).lower()
        put(f"mem/{what}_used", int(m.group(2)) * scale, "bytes")
        put(f"mem/{what}_total", int(m.group(3)) * scale, "bytes")
        ln.took(m)

    if m := _CPU.search(line):
        ln.took(m)
        shared = int(m.group(2)) if m.group(2) is not None else None
        for i, entry in enumerate(m.group(1).split(",")):
            e = _CPU_ENTRY.match(entry.strip())
            if not e or entry.strip() in ("", "off"):
                continue  # core offline: no value, not zero
            if e.group(1) is not None:
                put(f"load/cpu{i}", int(e.group(1)) / 100, "1")
            mhz = int(e.group(2)) if e.group(2) is not None else shared
            if mhz is not None and mhz >= 0:  # '@-1': the clock is unknown
                put(f"freq/cpu{i}", mhz * 1e6, "Hz")

    _gpu(ln)

    for m in _ENGINE.finditer(line):
        if m.group(1) in _NOT_ENGINES or ln.taken(m):
            continue
        name = _engine_name(m.group(1))
        if m.group(2) is not None:
            put(f"load/{name}", int(m.group(2)) / 100, "1")
        put(f"freq/{name}", int(m.group(3)) * 1e6, "Hz")
        ln.took(m)

    for m in _LOAD_ONLY.finditer(line):
        if m.group(1) in _NOT_ENGINES or ln.taken(m):
            continue
        put(f"load/{_engine_name(m.group(1))}", int(m.group(2)) / 100, "1")
        ln.took(m)

    for m in _TEMP.finditer(line):
        ln.took(m)
        zone = m.group(1).lower()
        channel = f"thermal/{zone}"
        value = float(m.group(2))
        if value == SENSOR_OFF_C:
            if result is not None:
                result.note_missing(channel)
            continue
        if PLACEHOLDER_C.get(zone) == value:
            if result is not None:
                placeholders = result.meta.setdefault("placeholder", [])
                if channel not in placeholders:
                    placeholders.append(channel)
            continue
        put(channel, value, "C")

    for m in _RAIL.finditer(line):
        if m.group(1) in _NOT_RAILS or ln.taken(m):
            continue
        rail = m.group(1)
        put(f"power/{rail}", int(m.group(2)) / 1000, "W")
        put(f"power_avg/{rail}", int(m.group(3)) / 1000, "W")
        if m.group(4) is not None:
            put(f"power_peak/{rail}", int(m.group(4)) / 1000, "W")
        ln.took(m)

    for m in _BARE_CLOCK.finditer(line):
        if m.group(1) in _NOT_ENGINES or ln.taken(m):
            continue
        put(f"freq/{_engine_name(m.group(1))}", int(m.group(2)) * 1e6, "Hz")
        ln.took(m)

    if len(ln.spans) == (1 if r.stamp else 0):
        return Problem(line_no, line, "not a tegrastats line (no RAM, CPU, GPU, rail or temperature field)")
    for m in _KNOWN.finditer(line):
        ln.took(m)
    if result is not None and (rest := ln.leftover()):
        _note_unrecognised(result, rest)
    return r


def _note_unrecognised(result: ParseResult, rest: str) -> None:
    seen = result.meta.setdefault("unrecognised_fields", {"count": 0, "first": []})
    seen["count"] += 1
    if rest not in seen["first"] and len(seen["first"]) < KEEP_FIELDS:
        seen["first"].append(rest)


def parse(text: str | Iterable[str], source: str = "<text>") -> ParseResult:
    """Every non-empty line of `text` (a string or an iterable of lines) as one tegrastats reading."""
    result = ParseResult(format="tegrastats", source=source)
    for i, line in enumerate(lines_of(text), start=1):
        if not line.strip():
            continue
        got = parse_line(line, i, result)
        if isinstance(got, Problem):
            result.problem(got)
        else:
            result.readings.append(got)
    return result
