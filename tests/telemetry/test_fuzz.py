"""No input crashes a parser: bad lines become problems (or a HarnessError), never an escaping exception."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.profiles import DeviceProfile
from harness.telemetry import battery, procfs, tegrastats, vcgencmd
from harness.telemetry.channels import ParseResult
from harness.telemetry.clock import stamp_ns
from harness.telemetry.parse import parse_text
from harness.telemetry.sampler import Channel, Sampler

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE_LINES = sorted(
    {line for f in FIXTURES.glob("*/*.txt") for line in f.read_text().splitlines() if line.strip()}
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

noise = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
digits = st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{0,30})?", fullmatch=True)


@st.composite
def mutated_lines(draw):
    """A real capture line with random damage: cuts, insertions, digit runs swapped for odd numbers."""
    line = draw(st.sampled_from(CAPTURE_LINES))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(line)))
        op = draw(st.sampled_from(["cut", "insert", "number"]))
        if op == "cut":
            line = line[:i] + line[i + draw(st.integers(1, 20)):]
        elif op == "insert":
            line = line[:i] + draw(noise) + line[i:]
        else:
            line = line[:i] + draw(digits) + line[i:]
    return line


texts = st.one_of(noise, st.lists(mutated_lines(), max_size=6).map("\n".join))


@FUZZ
@given(texts)
def test_tegrastats_never_raises(text):
    assert isinstance(tegrastats.parse(text), ParseResult)


@FUZZ
@given(texts)
def test_vcgencmd_never_raises(text):
    assert isinstance(vcgencmd.parse(text), ParseResult)


@FUZZ
@given(texts, st.sampled_from(["auto", "uA", "mA"]))
def test_battery_never_raises(text, unit):
    assert isinstance(battery.parse(text, current_unit=unit), ParseResult)


@FUZZ
@given(texts, st.sampled_from(["thermal", "rapl", "hwmon", "sysfs"]))
def test_sysfs_dumps_never_raise(text, fmt):
    assert isinstance(parse_text(fmt, text), ParseResult)


@FUZZ
@given(st.one_of(noise, digits))
def test_stamps_and_procfs(text):
    got = stamp_ns(text)
    assert got is None or got >= 0
    for fn in (procfs.cpu_time_s, procfs.rss_bytes):
        try:
            fn(text)
        except HarnessError:
            pass


@pytest.fixture(scope="module")
def fed_sampler():
    prof = DeviceProfile(id="f", name="f", transport={"kind": "local"})
    s = Sampler(transport=None, profile=prof)  # never started: only its line parser is exercised
    s.channels = [Channel("thermal", "thermal/cpu", "/t"), Channel("hwmon_v", "voltage/VDD_IN", "/v"),
                  Channel("hwmon_i", "current/VDD_IN", "/i"), Channel("rapl", "energy/package-0", "/e"),
                  Channel("bat_i", "current/battery", "/b"), Channel("bat_status", "status/battery", "/s")]
    return s


sampler_lines = st.one_of(
    noise,
    st.builds(lambda tag, parts: "\t".join([tag, *parts]), st.sampled_from(list("HSATVE")),
              st.lists(st.one_of(noise, digits, st.sampled_from(CAPTURE_LINES)), max_size=8)),
)


@FUZZ
@given(st.lists(sampler_lines, max_size=10))
def test_sampler_stream_never_raises(fed_sampler, lines):
    for line in lines:
        fed_sampler.feed(line)
    fed_sampler._finish()
