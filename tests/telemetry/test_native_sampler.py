"""The native sampler: cross-built for the boards' architectures and run under qemu-user,
its output read by the real parser; and the fallback when no binary fits the target."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from harness.errors import HarnessError
from harness.telemetry import native
from harness.telemetry.sampler import Sampler

from .sampler_env import make_profile, transport, tree

pytestmark = pytest.mark.timeout(120)

# uname -m of the board -> (ELF e_machine, qemu-user program)
BOARDS = {"aarch64": (183, "qemu-aarch64"), "armv7l": (40, "qemu-arm"), "x86_64": (62, None)}


@pytest.mark.parametrize("arch", sorted(BOARDS))
def test_cross_built_sampler_reads_a_jetson_tree(tmp_path, arch):
    machine, qemu = BOARDS[arch]
    binary = native.binary_for(arch)
    head = binary.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == machine
    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {"thermal_zones": ["cpu-thermal"], "cpufreq_cpus": [0],
                                   "hwmon_rails": [{"label": "VDD_IN"}]})
    pid_file = tmp_path / "agent.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    s = Sampler(transport(prof), prof, rate_hz=100, root=str(root), pid_file=str(pid_file))
    s.plan()
    s._native = str(binary)
    argv = s._argv("native")
    proc = subprocess.Popen(([qemu] if qemu else []) + argv, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert lines[0].startswith("H\tclock=monotonic") and lines[-1] == "E\tterm"
    for line in lines:
        s.feed(line)
    rows = s._finish()
    channels = {r.channel: r for r in rows}
    assert channels["thermal/cpu-thermal"].value == 53.968
    assert channels["freq/cpu0"].value == pytest.approx(729.6e6)
    assert channels["power/VDD_IN"].unit == "W"
    assert channels["cpu_time/agent"].value > 0 and channels["rss/agent"].unit == "bytes"
    assert 30 <= s.samples_received <= 110  # 100 Hz for ~1 s (emulation and a busy host slow it)


def test_auto_falls_back_when_no_native_sampler_fits(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "COMPILERS", {})
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {"thermal_zones": ["x86_pkg_temp"]})
    s = Sampler(transport(prof), prof, rate_hz=50, root=str(root))
    s.start()
    s.wait_samples(2)
    s.stop()
    d = s.details()
    assert d["mode"] == "python"
    assert any("native sampler unavailable, fell back" in n and "no native sampler for architecture" in n
               for n in d["notes"])
    with pytest.raises(HarnessError, match="sampler mode 'native'.*no native sampler for architecture"):
        Sampler(transport(prof), prof, rate_hz=50, root=str(root), mode="native").start()


def test_a_missing_cross_compiler_is_named(monkeypatch):
    monkeypatch.setitem(native.COMPILERS, "riscv64", ("riscv64-linux-gnu-gcc", []))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(native.NativeUnavailable, match="no compiler for riscv64.*gcc-riscv64-linux-gnu"):
        native.binary_for("riscv64")


def test_native_sampler_cost_is_recorded(tmp_path):
    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {"thermal_zones": ["*"], "cpufreq_cpus": [0, 1, 2, 3, 4, 5],
                                   "hwmon_rails": [{"label": "VDD_IN"}, {"label": "VDD_SOC"}]})
    s = Sampler(transport(prof), prof, rate_hz=100, root=str(root), mode="native")
    s.start()
    time.sleep(1.0)
    s.stop()
    d = s.details()
    assert d["mode"] == "native" and d["rate_hz"] == 100
    assert d["own_cpu_fraction"] is not None and 0 <= d["own_cpu_fraction"] < 0.5 and d["own_cpu_s"] is not None
