"""The phone profiles in device_profiles/: valid, masks from the cluster CPUs, numbers with sources."""

from __future__ import annotations

import re

import pytest

from harness.profiles import load_profile


@pytest.mark.parametrize("pid, masks, cores", [
    ("pixel8", {"little": "f", "mid": "f0", "big": "100"}, 9),
    ("galaxy-s23", {"silver": "7", "gold": "78", "prime": "80"}, 8),
])
def test_phone_profile(pid, masks, cores):
    p = load_profile(pid)
    assert p.transport.kind == "adb" and p.transport.workdir == "/data/local/tmp/harness"
    assert "benchmark_model" in p.runtimes and p.defaults.runtime == "benchmark_model"
    assert {c.name: c.affinity_mask for c in p.hardware.cpu_clusters} == masks
    assert sum(len(c.cpus) for c in p.hardware.cpu_clusters) == cores
    assert p.hardware.cluster(p.defaults.cluster).affinity_mask in masks.values()
    hw = p.hardware
    assert hw.clock_hz == max(c.max_freq_hz for c in hw.cpu_clusters)
    # the peaks are the sums their source notes show
    for dtype, value in hw.peak_ops_per_s.items():
        m = re.search(rf"{dtype}: [^=]+= ([\d.]+) G", hw.sources["peak_ops_per_s"])
        assert m and float(m.group(1)) * 1e9 == pytest.approx(value), dtype
    assert 60e9 < hw.memory_bandwidth_bytes_per_s < 80e9
    assert set(hw.sources) >= {"clock_hz", "peak_ops_per_s", "memory_bandwidth_bytes_per_s", "memory_bytes"}
