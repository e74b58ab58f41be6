"""The ssh board profiles: valid, and their datasheet ceilings agree with their own numbers."""

from __future__ import annotations

import pytest

from harness.profiles import load_profile

# per-core ops per cycle, from the sources notes: (fp32, fp16, int8)
PER_CYCLE = {
    "rpi5": (16, 32, 64),  # Cortex-A76: 2x128-bit FMA pipes, FP16 arithmetic, SDOT
    "rpi4": (16, 16, 16),  # Cortex-A72: 2x128-bit FMA pipes, no FP16 arithmetic, no SDOT
    "jetson-orin-nano-8gb": (16, 32, 64),  # Cortex-A78AE: as A76
}
# (transfers/s, bus bytes)
MEMORY = {"rpi5": (4267e6, 4), "rpi4": (3200e6, 4), "jetson-orin-nano-8gb": (4266e6, 16)}


@pytest.mark.parametrize("device", sorted(PER_CYCLE))
def test_peaks_are_cores_times_clock_times_ops_per_cycle(device):
    p = load_profile(device)
    hw = p.hardware
    assert p.transport.kind == "ssh" and p.transport.host_key_policy == "strict"
    cores = sum(len(c.cpus) for c in hw.cpu_clusters)
    clock = max(c.max_freq_hz for c in hw.cpu_clusters)
    assert clock == hw.clock_hz
    for dtype, per_cycle in zip(("fp32", "fp16", "int8"), PER_CYCLE[device]):
        assert hw.peak_ops_per_s[dtype] == pytest.approx(cores * clock * per_cycle, rel=2e-3), dtype
    rate, width = MEMORY[device]
    assert hw.memory_bandwidth_bytes_per_s == pytest.approx(rate * width, rel=2e-3)
    for field in ("peak_ops_per_s", "memory_bandwidth_bytes_per_s", "clock_hz", "memory_bytes"):
        assert len(hw.sources[field]) > 40  # a real note, not a placeholder


def test_jetson_masks_and_rails():
    p = load_profile("jetson-orin-nano-8gb")
    assert [c.affinity_mask for c in p.hardware.cpu_clusters] == ["f", "30"]
    assert [r.label for r in p.sensors.hwmon_rails] == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]
    assert p.sensors.tegrastats
