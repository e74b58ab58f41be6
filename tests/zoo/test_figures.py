"""MACs and params as deployed (batch norm folded, biases counted) against published figures.

The analysis runs on the real model files: int8 for every architecture (committed), and
fp32 as well where that file is committed.
"""

from __future__ import annotations

import pytest

from harness import zoo
from harness.analysis.static import analyze

pytestmark = pytest.mark.timeout(120)

# arch: (MACs, params, tolerance) as the issue states them
PUBLISHED = {
    "kws01": (2.66e6, 22.6e3, 0.01),
    "vww01": (7.49e6, 211e3, 0.01),
    "ic01": (12.5e6, 77.7e3, 0.01),
    "ad01": (0.264e6, 266e3, 0.01),
    "mobilenet_v1_1.0_224": (569e6, 4.2e6, 0.02),
    # 3.47 M: the MobileNetV2 authors' checkpoint table, which the paper's Table 4 rounds down
    # to "3.4 M". No count of the real network lands within 2 % of 3.4 M (see the README).
    "mobilenet_v2_1.0_224": (300e6, 3.47e6, 0.02),
}


def _files(arch: str):
    return [e for e in zoo.entries() if e.arch == arch and e.format == "tflite" and e.storage == "repo"]


@pytest.mark.parametrize("arch", list(PUBLISHED))
def test_macs_and_params_match_the_published_figures(arch):
    macs, params, tol = PUBLISHED[arch]
    files = _files(arch)
    assert any(e.precision == "int8" for e in files)
    for e in files:
        a = analyze(e.path, mcu=False)
        assert a.macs == pytest.approx(macs, rel=tol), (e.id, a.macs)
        assert a.params == pytest.approx(params, rel=tol), (e.id, a.params)
        assert e.expected.macs == macs and e.expected.params == params  # manifest cites the same


def test_mobilenet_v2_paper_rounding_is_the_only_gap():
    """The paper's 3.4 M is 2.6 % below the real count; the weights alone (no biases) are
    3.47 M, still 2.05 % above it — so no bias convention closes the gap."""
    a = analyze(zoo.model_file("mobilenet_v2_1.0_224-int8-tflite"), mcu=False)
    assert a.params == 3_487_816
    biases = sum(o.params for o in a.ops) - sum(
        _weight_elems(shapes) for shapes in (o.input_shapes for o in a.ops if o.type in
                                             ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")))
    assert a.params - biases == 3_469_760
    assert (a.params - biases) / 3.4e6 - 1 > 0.02


def _weight_elems(shapes) -> int:
    n = 1
    for d in shapes[1]:
        n *= d
    return n


def test_mlperf_tiny_macs_are_exact_layer_sums():
    """kws01 by hand: 10x4 conv to 25x5x64, then 4 x (3x3 depthwise + 1x1 conv), FC 64->12."""
    conv1 = 25 * 5 * 64 * 10 * 4
    blocks = 4 * (25 * 5 * 64 * 9 + 25 * 5 * 64 * 64)
    assert analyze("kws01-int8-tflite", mcu=False).macs == conv1 + blocks + 64 * 12
