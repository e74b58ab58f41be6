"""tegrastats' fast path (`harness.telemetry.line_shapes`): lines of a shape already seen are read
with one regex match, and give exactly what the line parser gives, whatever the numbers."""

from __future__ import annotations

import random
import re

import pytest

from harness.telemetry import line_shapes, tegrastats
from harness.telemetry.channels import ParseResult, Problem

from .conftest import FIXTURES

CAPTURE_LINES = [ln for f in sorted((FIXTURES / "tegrastats").glob("*.txt"))
                 for ln in f.read_text().splitlines() if ln.strip()]
# numbers as the fast path sees them (a placeholder zone's reading is not one: PMIC@100C stays)
NUMBER = re.compile(f"(?<!{tegrastats._PLACEHOLDER_ZONES})" + line_shapes.NUMBER)


def line_by_line(lines: list[str]) -> ParseResult:
    """What `tegrastats.parse` gives with every line read by `parse_line` (the parser's own path)."""
    result = ParseResult(format="tegrastats")
    for i, line in enumerate(lines, start=1):
        got = tegrastats.parse_line(line, i, result)
        if isinstance(got, Problem):
            result.problem(got)
        else:
            result.readings.append(got)
    return result


def renumbered(line: str, rng: random.Random) -> str:
    """The line with its numbers redrawn (loads above clocks, 100, 0…); now and then a decimal
    printed without decimals (tegrastats prints 42C and 41.968C)."""
    def draw(m: re.Match) -> str:
        decimal = "." in m.group() and rng.random() > 0.1
        whole = rng.choice([rng.randint(0, 99999), 100, 0, rng.randint(0, 9)])
        return f"{whole}.{rng.randint(0, 999)}" if decimal else str(whole)
    m = tegrastats._STAMP.match(line)
    stamp = f"0{rng.randint(1, 9)}-{rng.randint(10, 28)}-2026 12:{rng.randint(10, 59)}:0{rng.randint(0, 9)} " if m else ""
    return stamp + NUMBER.sub(draw, line[m.end():] if m else line)


@pytest.fixture
def spy(monkeypatch):
    """The LineShapes of the next parse, to see how many lines it read."""
    made = []

    class Spy(line_shapes.LineShapes):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tegrastats, "LineShapes", Spy)
    return made


def test_every_capture_line_with_redrawn_numbers_reads_as_the_parser_reads_it(spy):
    rng = random.Random(12)
    lines = []
    for line in CAPTURE_LINES:  # each capture line, then 40 of the same shape with other numbers
        lines += [line] + [renumbered(line, rng) for _ in range(40)]
    fast = tegrastats.parse(lines)
    assert fast.to_dict() == line_by_line(lines).to_dict()
    (shapes,) = spy
    assert shapes._hits > len(lines) // 2  # the fast path read most of them


@pytest.mark.parametrize("first, second, gpu_hz", [
    # the GPU clock is the fastest GPC, whichever it is: never the second GPC's load between them
    ("RAM 1/2MB GR3D_FREQ 1%@[5] GR3D2_FREQ 3%@7", "RAM 1/2MB GR3D_FREQ 1%@[5] GR3D2_FREQ 95%@3", 5e6),
    ("RAM 1/2MB GR3D_FREQ 0%@[305,305] cpu@40C", "RAM 1/2MB GR3D_FREQ 0%@[700,305] cpu@41C", 700e6),
])
def test_the_gpu_clock_is_the_largest_gpc_clock_on_the_fast_path(spy, first, second, gpu_hz):
    res = tegrastats.parse([first, first, second])
    assert res.values("freq/gpu")[-1] == pytest.approx(gpu_hz)
    assert res.to_dict() == line_by_line([first, first, second]).to_dict()
    assert spy[0]._hits == 2


def test_a_placeholder_zone_never_becomes_a_temperature_on_the_fast_path(spy):
    lines = ["RAM 1/2MB PMIC@100C cpu@40.5C", "RAM 1/2MB PMIC@100C cpu@41.5C", "RAM 1/2MB PMIC@50C cpu@42.5C",
             "RAM 1/2MB PMIC@50C cpu@43.5C", "RAM 1/2MB cpu@-256C gpu@3C", "RAM 1/2MB cpu@-256C gpu@4C",
             "RAM 1/2MB cpu@-25C gpu@4C"]
    res = tegrastats.parse(lines)
    assert res.values("thermal/pmic") == [50.0, 50.0] and res.meta["placeholder"] == ["thermal/pmic"]
    assert res.values("thermal/cpu") == [40.5, 41.5, 42.5, 43.5, -25.0] and res.missing == ["thermal/cpu"]
    assert res.to_dict() == line_by_line(lines).to_dict()
    assert spy[0]._hits == 3  # the second line of each shape


def test_lines_with_unrecognised_fields_keep_the_parsers_path_and_are_all_counted():
    lines = [f"RAM {i}/2MB FOO bar{i} cpu@4{i}C" for i in range(30)]
    res = tegrastats.parse(lines)
    assert res.meta["unrecognised_fields"]["count"] == 30
    assert res.to_dict() == line_by_line(lines).to_dict()


def test_learning_stops_when_no_shape_repeats():
    calls = []

    def parse_one(line):
        calls.append(line)
        return tegrastats._values_alone(line)

    shapes = line_shapes.LineShapes(parse_one)
    for i in range(200):  # every line a new shape (a new field name each time)
        line = f"RAM 1/2MB NAME{'X' * i} 3%@4"
        assert shapes.read(line) is None
        shapes.learn(line)
    assert shapes._learnt == line_shapes.LEARN_TRIAL and len(calls) <= 4 * line_shapes.LEARN_TRIAL


def test_numbers_that_are_not_plain_digits_do_not_crash_a_line():
    # str.isdigit() is true for '²', which int() refuses: such a figure is not read, the rest is
    for text in ("RAM ²/2MB cpu@4C", "VDD_IN ²/1 cpu@4C", "APE ² cpu@4C", "GR3D_FREQ ²% cpu@4C"):
        res = tegrastats.parse(text)
        assert res.values("thermal/cpu") == [4.0] and res.meta["unrecognised_fields"]["count"] == 1, text
    res = tegrastats.parse("CPU [²%@1] cpu@4C")
    assert res.values("load/cpu0") == [] and res.values("freq/cpu0") == [1e6]
