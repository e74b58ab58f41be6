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
from harness.telemetry.line_shapes import LineShapes

MIB = 1024 * 1024

_STAMP = re.compile(r"^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+")
_MEM_NAMES = frozenset({"RAM", "SWAP", "IRAM"})
_GPU_NAMES = frozenset({"GR3D", "GR3D_FREQ", "GR3D2", "GR3D2_FREQ"})
# word sequences that carry nothing harness records: 'MTS fg 0% bg 0%', 'EDP limit 0'
_KNOWN_RUNS = {"MTS": 5, "EDP": 3}

#: tegrastats reports a powered-off sensor as this temperature
SENSOR_OFF_C = -256.0
#: zones whose reading is a fixed placeholder, not a temperature
PLACEHOLDER_C = {"pmic": 100.0}
# a placeholder zone's number stays literal in a line shape: its meaning depends on its value
_PLACEHOLDER_ZONES = "|".join(f"(?i:{zone})@" for zone in PLACEHOLDER_C)
#: distinct unrecognised fields remembered in meta
KEEP_FIELDS = 10


class _Names(dict):
    """Channel names derived from a field name, built once per distinct name (a capture has a few
    dozen) instead of formatted on every line; bounded so garbage input cannot grow it."""

    def __init__(self, make) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, name: str):
        made = self._make(name)
        if len(self) < 4096:
            self[name] = made
        return made


def _engine_name(token: str) -> str:
    return token.lower().removesuffix("_freq")


_ENGINE_KEYS = _Names(lambda w: (f"load/{_engine_name(w)}", f"freq/{_engine_name(w)}"))
_RAIL_KEYS = _Names(lambda n: (f"power/{n}", f"power_avg/{n}", f"power_peak/{n}"))
#: zone as printed → (channel, placeholder reading of that zone or None)
_ZONES = _Names(lambda z: (f"thermal/{z.lower()}", PLACEHOLDER_C.get(z.lower())))
_MEM_KEYS = {name: (f"mem/{name.lower()}_used", f"mem/{name.lower()}_total") for name in _MEM_NAMES}
_CPU_KEYS = [(f"load/cpu{i}", f"freq/cpu{i}") for i in range(256)]
# every core online with its own clock ('14%@2188,5%@2188,…'), the common case read in one pass
_CPU_ALL_CLOCKED = re.compile(r"\d{1,9}%@\d{1,9}(?:,\d{1,9}%@\d{1,9})*")
_CPU_ENTRY = re.compile(r"(\d+)%@(\d+)")


def _cpu(values: dict, body: str, shared: int | None) -> None:
    if _CPU_ALL_CLOCKED.fullmatch(body):
        for (load_key, freq_key), (load, mhz) in zip(_CPU_KEYS, _CPU_ENTRY.findall(body)):
            values[load_key] = (int(load) / 100, "1")
            values[freq_key] = (int(mhz) * 1e6, "Hz")
        return
    for (load_key, freq_key), entry in zip(_CPU_KEYS, body.split(",")):
        if not entry or entry == "off":
            continue  # core offline: no value, not zero
        load, _, mhz_text = entry.partition("@")
        if load[-1:] == "%" and load[:-1].isdecimal():
            values[load_key] = (int(load[:-1]) / 100, "1")
        mhz = int(mhz_text) if mhz_text.isdecimal() else shared
        if mhz is not None and mhz >= 0:  # '@-1': the clock is unknown
            values[freq_key] = (mhz * 1e6, "Hz")


def _temperature(values: dict, word: str, result: ParseResult | None) -> bool:
    """``cpu@52.5C`` or ``cpu@52.9C/105C`` (JetPack 7's limit after the slash) → thermal/cpu."""
    zone, _, rest = word.partition("@")
    if not zone[:1].isalpha() or not (rest[-1:] == "C" or "C/" in rest):
        return False
    try:
        c = float(rest.partition("C")[0])
    except ValueError:
        return False
    channel, placeholder = _ZONES[zone]
    if c == SENSOR_OFF_C:
        if result is not None:
            result.note_missing(channel)
    elif placeholder == c:
        if result is not None:
            placeholders = result.meta.setdefault("placeholder", [])
            if channel not in placeholders:
                placeholders.append(channel)
    elif c == c and abs(c) != float("inf"):
        values[channel] = (c, "C")
    return True


def _rail(values: dict, name: str, value: str) -> bool:
    """``12479mW/12479mW[/12479mW]`` or ``1750/1628`` (mW without the unit)."""
    parts = value.replace("mW", "").split("/")
    n = len(parts)
    if n == 2:
        now, avg = parts
        if not (now.isdecimal() and avg.isdecimal() and len(now) <= 15 and len(avg) <= 15):
            return False
    elif n == 3:
        now, avg, peak = parts
        if not all(p.isdecimal() and len(p) <= 15 for p in parts):
            return False
    else:
        return False
    now_key, avg_key, peak_key = _RAIL_KEYS[name]
    values[now_key] = (int(now) / 1000, "W")
    values[avg_key] = (int(avg) / 1000, "W")
    if n == 3:
        values[peak_key] = (int(peak) / 1000, "W")
    return True


def _engine(value: str) -> tuple[int | None, list[int]] | None:
    """``3%@2133`` / ``0%`` / ``@0`` / ``0%@[305,305]`` / ``@[0,0,0]`` → (load %, clocks in MHz)."""
    load_text, at, freq_text = value.partition("@")
    if load_text:
        if load_text[-1:] != "%" or not load_text[:-1].isdecimal():
            return None
        load = int(load_text[:-1])
    else:
        load = None
    if not at:
        return (load, []) if load is not None else None
    if freq_text[:1] == "[" and freq_text[-1:] == "]":
        freqs = [int(x) for x in freq_text[1:-1].split(",") if x.isdecimal()]
    elif freq_text.isdecimal():
        freqs = [int(freq_text)]
    else:
        return None
    return load, freqs


def parse_line(line: str, line_no: int | None = None, result: ParseResult | None = None) -> Reading | Problem:
    """One tegrastats line. Sensors that are off are noted in `result.missing`."""
    r = Reading(line_no=line_no)
    values = r.values  # every figure here comes from digits: finite, so no Reading.put check
    if line[:1].isdigit() and (m := _STAMP.match(line)):
        r.stamp = m.group(1)
        line = line[m.end():]
    words = line.split()
    n, i, found = len(words), 0, 0
    leftover: list[str] = []
    clocks: dict[int, float] = {}
    while i < n:
        w = words[i]
        if w[0] == "(":  # '(lfb 2x4MB)', '(cached 0MB)'
            while i < n and not words[i].endswith(")"):
                i += 1
            i += 1
            continue
        if "@" in w and _temperature(values, w, result):
            found += 1
            i += 1
            continue
        if i + 1 == n or not (w.isupper() and w[0].isalpha() or w == "cpu"):
            leftover.append(w)
            i += 1
            continue
        nxt = words[i + 1]
        i += 2  # a field is a NAME and its value
        if nxt == "off":
            if w in _KNOWN_RUNS:
                i += _KNOWN_RUNS[w] - 2
        elif w in _KNOWN_RUNS and w != nxt:
            i += _KNOWN_RUNS[w] - 2
        elif nxt[0] == "[" and w in ("CPU", "cpu"):
            body, _, tail = nxt[1:].partition("]")
            shared = int(tail[1:]) if tail[:1] == "@" and tail[1:].lstrip("-").isdecimal() else None
            _cpu(values, body, shared)
            found += 1
        elif "/" in nxt:
            if w in _MEM_NAMES:
                used, _, total = nxt.partition("(")[0].partition("/")
                unit = total[-2:]
                if used.isdecimal() and total[:-2].isdecimal() and unit in ("MB", "kB"):
                    scale = MIB if unit == "MB" else 1024
                    used_key, total_key = _MEM_KEYS[w]
                    values[used_key] = (int(used) * scale, "bytes")
                    values[total_key] = (int(total[:-2]) * scale, "bytes")
                    found += 1
                    if "(" in nxt:  # 'IRAM 0/252kB(lfb 252kB)': the '(' opens the next group
                        i -= 1
                        words[i] = "("
                else:
                    leftover += [w, nxt]
            elif _rail(values, w, nxt):
                found += 1
            else:
                leftover += [w, nxt]
        elif nxt.isdecimal():  # 'APE 174', 'NVDEC 716', 'VIC_FREQ 115': clocks in MHz
            values[_ENGINE_KEYS[w][1]] = (int(nxt) * 1e6, "Hz")
            found += 1
        elif (e := _engine(nxt)) is not None:
            load, freqs = e
            if w in _GPU_NAMES:
                second = w.startswith("GR3D2")  # JetPack 5's second GPC
                if load is not None:
                    values["load/gpu_gpc1" if second else "load/gpu"] = (load / 100, "1")
                for k, f in enumerate(freqs):
                    clocks[k + 1 if second else k] = f * 1e6
            else:
                load_key, freq_key = _ENGINE_KEYS[w]
                if load is not None:
                    values[load_key] = (load / 100, "1")
                if freqs:
                    values[freq_key] = (freqs[0] * 1e6, "Hz")
            found += 1
        else:
            leftover.append(w)
            i -= 1  # the value may be the next field's name
    if clocks:
        values["freq/gpu"] = (max(clocks.values()), "Hz")
        if len(clocks) > 1:
            for k, hz in sorted(clocks.items()):
                values[f"freq/gpu_gpc{k}"] = (hz, "Hz")
    if not found:
        return Problem(line_no, line, "not a tegrastats line (no RAM, CPU, GPU, rail or temperature field)")
    if result is not None and leftover:
        _note_unrecognised(result, " ".join(leftover))
    return r


def _note_unrecognised(result: ParseResult, rest: str) -> None:
    seen = result.meta.setdefault("unrecognised_fields", {"count": 0, "first": []})
    seen["count"] += 1
    if rest not in seen["first"] and len(seen["first"]) < KEEP_FIELDS:
        seen["first"].append(rest)


def _values_alone(line: str) -> dict | None:
    """A line's values when the parser reads all of it (for learning line shapes)."""
    scratch = ParseResult(format="tegrastats")
    got = parse_line(line, None, scratch)
    return None if isinstance(got, Problem) or scratch.meta.get("unrecognised_fields") else got.values


def parse(text: str | Iterable[str], source: str = "<text>") -> ParseResult:
    """Every non-empty line of `text` (a string or an iterable of lines) as one tegrastats reading.

    tegrastats prints one line shape over and over with new numbers: lines of a shape already
    seen are read by `LineShapes` (one regex match), the others by `parse_line`."""
    result = ParseResult(format="tegrastats", source=source)
    shapes = LineShapes(_values_alone, literal_before=_PLACEHOLDER_ZONES)
    readings = result.readings
    for i, line in enumerate(lines_of(text), start=1):
        if not line or line.isspace():
            continue
        body, stamp = line, None
        if line[:1].isdigit() and (m := _STAMP.match(line)):
            body, stamp = line[m.end():], m.group(1)
        fast = shapes.read(body)
        if fast is not None:
            shape, values = fast
            readings.append_values(i, stamp, shape.channels, shape.units, values)
            continue
        got = parse_line(line, i, result)
        if isinstance(got, Problem):
            result.problem(got)
        else:
            readings.append(got)
            shapes.learn(body)
    return result
