"""integrate_power / coverage: exact integrals on traces where the trapezoid rule is exact."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.energy import coverage, integrate_power
from harness.errors import HarnessError


def test_constant_power_uneven_times():
    t = np.array([0.0, 0.013, 0.5, 0.51, 2.0])
    assert integrate_power(t, np.full(5, 3.0), 0.0, 2.0) == pytest.approx(6.0, rel=1e-12)


def test_ramp_with_window_edges_between_samples():
    # p = 2t (linear: the trapezoid rule and edge interpolation are exact)
    t = np.array([0.0, 0.3, 1.1, 1.7, 3.0])
    # ∫_0.5^2.5 2t dt = 2.5^2 - 0.5^2 = 6.0
    assert integrate_power(t, 2 * t, 0.5, 2.5) == pytest.approx(6.0, rel=1e-12)


def test_window_inside_one_interval():
    t = np.array([0.0, 10.0])
    # ∫_2^4 t dt = (16 - 4) / 2 = 6
    assert integrate_power(t, t, 2.0, 4.0) == pytest.approx(6.0, rel=1e-12)


def test_outside_span_holds_edge_values_and_coverage_reports_it():
    t = np.array([1.0, 2.0])
    p = np.array([4.0, 6.0])
    # [0,1] held at 4 W, [1,2] trapezoid 5 J, [2,3] held at 6 W
    assert integrate_power(t, p, 0.0, 3.0) == pytest.approx(15.0)
    assert coverage(t, 0.0, 3.0, max_gap_s=1.0) == pytest.approx(1 / 3)


def test_gap_bridged_linearly_but_not_covered():
    t = np.array([0.0, 0.1, 0.2, 5.0, 5.1])
    p = np.ones(5)
    assert integrate_power(t, p, 0.0, 5.1) == pytest.approx(5.1)
    assert coverage(t, 0.0, 5.1, max_gap_s=0.5) == pytest.approx(0.3 / 5.1)


def test_nan_samples_dropped_and_unsorted_sorted():
    t = np.array([2.0, 0.0, 1.0, 1.5])
    p = np.array([2.0, 2.0, np.nan, 2.0])
    assert integrate_power(t, p, 0.0, 2.0) == pytest.approx(4.0)


def test_zero_window_and_errors():
    assert integrate_power([0.0, 1.0], [1.0, 1.0], 0.5, 0.5) == 0.0
    with pytest.raises(HarnessError, match="before it starts"):
        integrate_power([0.0, 1.0], [1.0, 1.0], 1.0, 0.5)
    with pytest.raises(HarnessError, match="no finite samples"):
        integrate_power([0.0, 1.0], [np.nan, np.nan], 0.0, 1.0)
    with pytest.raises(HarnessError, match="sample times"):
        integrate_power([0.0, 1.0], [1.0], 0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=50, unique=True),
    st.floats(-10, 10),
    st.floats(-5, 5),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_linear_power_is_exact(times, a, b, w0, w1):
    """For linear power inside the sampled span, the result equals the analytic integral."""
    t = np.sort(np.array(times))
    lo, hi = sorted((w0, w1))
    lo, hi = max(lo, t[0]), min(hi, t[-1])
    if hi < lo:
        return
    got = integrate_power(t, a + b * t, lo, hi)
    want = a * (hi - lo) + b * (hi**2 - lo**2) / 2
    assert got == pytest.approx(want, rel=1e-9, abs=1e-7)
