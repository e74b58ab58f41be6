"""The real sampler script over the local transport, against fixture sysfs trees.

Runs under every shell a target may have (dash, busybox ash, mksh = Android's sh,
bash) and in Python mode. The local host shares its clock with the test, so the
rows' device times can be checked against the test's own `time.monotonic_ns()`.
"""

import os
import threading
import time

import pytest

from harness.telemetry.sampler import Sampler

from .sampler_env import fake_tools, make_profile, transport, tree, write

pytestmark = pytest.mark.timeout(60)

MODES = [("shell", "dash"), ("shell", "busybox sh"), ("shell", "mksh"), ("shell", "bash"), ("python", "sh"),
         ("native", "sh")]
IDS = ["dash", "busybox", "mksh", "bash", "python", "native"]


def run_sampler(sampler: Sampler, seconds: float, during=None):
    before = time.monotonic_ns()
    sampler.start()
    sampler.wait_samples(3)
    if during:
        during()
    time.sleep(seconds)
    rows = sampler.stop()
    after = time.monotonic_ns()
    return rows, before, after


def by_channel(rows):
    out = {}
    for r in rows:
        out.setdefault(r.channel, []).append(r)
    return out


@pytest.mark.parametrize("mode,shell", MODES, ids=IDS)
def test_jetson_tree_exact_values_absent_channels_and_clock(tmp_path, mode, shell):
    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {
        "thermal_zones": ["cpu-thermal", "tj-thermal", "cv0-thermal", "no-such-zone"],
        "cpufreq_cpus": [0, 5, 9],
        "hwmon_rails": [{"label": "VDD_IN"}, {"label": "VDD_SOC"}, {"label": "VDD_GHOST"}],
    })
    s = Sampler(transport(prof), prof, rate_hz=100, root=str(root), mode=mode, shell=shell)
    hwmon = "/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon5"

    rows, before, after = run_sampler(s, 0.3, during=lambda: write(root, f"{hwmon}/curr1_input", 3000))
    ch = by_channel(rows)

    assert s.absent == ["thermal/cv0-thermal", "thermal/no-such-zone", "freq/cpu9",
                        "voltage/VDD_GHOST", "current/VDD_GHOST"]
    assert not any(c.endswith(("cv0-thermal", "cpu9", "VDD_GHOST")) for c in ch)  # absent is never zero
    assert {r.value for r in ch["thermal/cpu-thermal"]} == {53.968}
    assert {r.value for r in ch["freq/cpu5"]} == {729.6e6}
    assert {r.value for r in ch["voltage/VDD_IN"]} == {5.048}
    assert {r.value for r in ch["current/VDD_IN"]} == {2.472, 3.0}  # the change mid-run was seen
    assert {round(r.value, 9) for r in ch["power/VDD_IN"]} == {round(5.048 * 2.472, 9), round(5.048 * 3.0, 9)}
    assert {r.unit for r in ch["power/VDD_SOC"]} == {"W"}
    assert len(ch["thermal/cpu-thermal"]) >= 10

    # device clock = the agent's clock (CLOCK_MONOTONIC); /proc/uptime stamps are ±5 ms
    slack = s.clock.resolution_ns
    assert all(before - slack <= r.t_ns <= after + slack for r in rows)
    assert s.clock_details()["time_base"] == "monotonic"
    assert [r.t_ns for r in rows] == sorted(r.t_ns for r in rows)
    expected_clock = {"dash": "boottime", "python": "monotonic", "native": "monotonic"}.get(
        shell.split()[0] if mode == "shell" else mode, "realtime")
    assert s.details()["mode"] == mode
    assert s.clock.source == expected_clock
    assert s.exit_reason == "term"


@pytest.mark.parametrize("mode,shell", [MODES[0], MODES[2], MODES[4], MODES[5]], ids=["dash", "mksh", "python", "native"])
def test_android_tree_battery_calibrated_over_the_run(tmp_path, mode, shell):
    root = tree(tmp_path, "android_phone")
    prof = make_profile(tmp_path, {"thermal_zones": ["*"], "battery": "/sys/class/power_supply/battery"})
    s = Sampler(transport(prof), prof, rate_hz=50, root=str(root), mode=mode, shell=shell)
    rows, *_ = run_sampler(s, 0.2)
    ch = by_channel(rows)
    assert len([c for c in ch if c.startswith("thermal/")]) == 19
    assert {r.value for r in ch["thermal/tsens_tz_sensor9"]} == {40.0}
    assert {r.value for r in ch["current/battery"]} == {-0.191}  # mA-scale gauge, sign agrees with Discharging
    assert {r.value for r in ch["voltage/battery"]} == {4.246}
    assert {round(r.value, 12) for r in ch["power/battery"]} == {round(0.191 * 4.246, 12)}
    assert s.battery_calibration["current_unit"].startswith("mA")
    assert s.absent == []


@pytest.mark.parametrize("mode,shell", [MODES[0], MODES[1], MODES[4], MODES[5]], ids=["dash", "busybox", "python", "native"])
def test_rapl_counter_wraps_during_the_run(tmp_path, mode, shell):
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {"rapl": True})
    s = Sampler(transport(prof), prof, rate_hz=100, root=str(root), mode=mode, shell=shell)
    mx = 262143328850
    pkg = "/sys/class/powercap/intel-rapl:0/energy_uj"

    def climb():
        for e in (mx - 200_000, mx - 50_000, 400_000, 1_000_000):
            write(root, pkg, e)
            time.sleep(0.05)

    rows, *_ = run_sampler(s, 0.1, during=climb)
    pkg_rows = by_channel(rows)["energy/package-0"]
    assert pkg_rows[0].value == 0.0
    assert pkg_rows[-1].value == pytest.approx((mx - 262143000000 + 1_000_000) * 1e-6, abs=1e-9)
    assert all(b.value >= a.value for a, b in zip(pkg_rows, pkg_rows[1:]))  # unwrapped: never decreases
    assert {r.unit for r in pkg_rows} == {"J"}
    assert {"energy/package-0.core", "energy/psys"} <= set(by_channel(rows))


@pytest.mark.parametrize("mode,shell", [MODES[0], MODES[2], MODES[4], MODES[5]], ids=["dash", "mksh", "python", "native"])
def test_agent_cpu_time_and_rss_from_pid_file(tmp_path, mode, shell):
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {})
    (tmp_path / "wd").mkdir()
    pid_file = tmp_path / "wd" / "agent.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    s = Sampler(transport(prof), prof, rate_hz=50, root=str(root), pid_file=str(pid_file), mode=mode, shell=shell)
    rows, *_ = run_sampler(s, 0.2, during=lambda: sum(i * i for i in range(300_000)))
    ch = by_channel(rows)
    with open("/proc/self/status") as f:
        rss_now = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    assert ch["rss/agent"][0].unit == "bytes"
    assert 0.5 * rss_now < ch["rss/agent"][-1].value < 2 * rss_now
    cpu = [r.value for r in ch["cpu_time/agent"]]
    assert cpu[-1] >= cpu[0] > 0 and ch["cpu_time/agent"][0].unit == "s"
    # local profile with no sensors configured: sample what the host exposes
    assert "thermal/x86_pkg_temp" in ch and "freq/cpu0" in ch and "energy/psys" in ch


@pytest.mark.parametrize("mode,shell", [MODES[0], MODES[4], MODES[5]], ids=["dash", "python", "native"])
def test_tegrastats_and_vcgencmd_streams(tmp_path, monkeypatch, mode, shell):
    monkeypatch.setenv("PATH", f"{fake_tools(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {"tegrastats": True, "vcgencmd": True, "pmic_read_adc": True, "thermal_zones": ["acpitz"]})
    s = Sampler(transport(prof), prof, rate_hz=20, root=str(root), mode=mode, shell=shell)
    rows, *_ = run_sampler(s, 1.2)
    ch = by_channel(rows)
    assert {r.value for r in ch["power/VDD_GPU_SOC"]} == {2.412}
    assert {r.value for r in ch["power/VIN_SYS_5V0"]} <= {4.707, 4.607}
    assert {r.value for r in ch["thermal/soc"]} == {59.3}
    assert {r.value for r in ch["freq/arm"]} == {2400023808.0}
    assert {r.value for r in ch["throttled/under_voltage"]} == {1.0}
    assert {r.value for r in ch["current/VDD_CORE"]} == {10.87674}
    assert s.absent == []


def test_missing_tools_reported_absent(tmp_path):
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {"tegrastats": True, "vcgencmd": True, "battery": "/sys/class/power_supply/BAT0"})
    s = Sampler(transport(prof), prof, rate_hz=20, root=str(root), mode="shell", shell="dash")
    rows, *_ = run_sampler(s, 0.05)
    assert s.absent == ["current/battery", "voltage/battery", "tegrastats (command not found)",
                        "vcgencmd (command not found)"]
    assert not any(r.channel.endswith("battery") for r in rows)


@pytest.mark.parametrize("mode,shell", [MODES[0], MODES[4], MODES[5]], ids=["dash", "python", "native"])
def test_marks_are_device_clock_times_of_received_samples(tmp_path, mode, shell):
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {"thermal_zones": ["x86_pkg_temp"]})
    s = Sampler(transport(prof), prof, rate_hz=100, root=str(root), mode=mode, shell=shell)
    s.start()
    s.wait_samples(2)
    t0 = time.monotonic_ns()
    time.sleep(0.1)
    m = s.mark("baseline_start_ns")
    t1 = time.monotonic_ns()
    s.stop()
    # the newest sample the host had: after t0 (a 10 ms period, ±10 ms stamp resolution), not after t1
    assert t0 - 2 * s.clock.resolution_ns <= m <= t1 + s.clock.resolution_ns
    assert s.marks == {"baseline_start_ns": m}


def test_max_duration_stops_the_sampler_by_itself(tmp_path):
    root = tree(tmp_path, "x86_rapl")
    prof = make_profile(tmp_path, {"thermal_zones": ["acpitz"]})
    s = Sampler(transport(prof), prof, rate_hz=50, root=str(root), mode="shell", shell="dash", max_duration_s=1)
    s.start()
    deadline = time.monotonic() + 10
    while s.exit_reason is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s.exit_reason == "max_time"
    rows = s.stop()
    assert 20 <= len(rows) <= 80


def test_watchdog_listener_sees_rows_live(tmp_path):
    from harness.telemetry.thermal import ThermalWatchdog

    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {"thermal_zones": ["cpu-thermal", "gpu-thermal"]}, limits={"max_temp_c": 80})
    s = Sampler(transport(prof), prof, rate_hz=50, root=str(root), mode="shell", shell="dash")
    dog = ThermalWatchdog.for_profile(prof)
    s.listeners.append(dog)
    s.start()
    s.wait_samples(3)
    assert not dog.tripped.is_set()
    threading.Timer(0.1, write, (root, "/sys/class/thermal/thermal_zone1/temp", 85500)).start()
    assert dog.tripped.wait(5)
    s.stop()
    assert "thermal/gpu-thermal reached 85.5 °C" in dog.reason


def test_raw_lines_keep_only_the_first_ones(tmp_path):
    from harness.telemetry.sampler import MAX_RAW_LINES

    prof = make_profile(tmp_path, {})
    s = Sampler(transport(prof), prof)
    for i in range(MAX_RAW_LINES + 50):
        s.feed(f"junk {i}")
    assert len(s.raw_lines) == MAX_RAW_LINES and s.raw_lines[-1] == f"junk {MAX_RAW_LINES - 1}"


def test_python_mode_runs_the_profiles_python(tmp_path):
    import sys

    from harness.errors import HarnessError
    from harness.profiles import DeviceProfile

    root = tree(tmp_path, "x86_rapl")
    alias = tmp_path / "bin" / "target-python"
    alias.parent.mkdir()
    alias.symlink_to(sys.executable)

    def profile(python):
        return DeviceProfile(id="fixture", name="fixture", transport={"kind": "local"},
                             sensors={"thermal_zones": ["acpitz"]}, defaults={"python": python})

    prof = profile(str(alias))
    s = Sampler(transport(prof), prof, rate_hz=50, root=str(root), mode="python")
    rows, *_ = run_sampler(s, 0.1)
    assert s.discovery.commands["python"] == str(alias) and s.clock.source == "monotonic"
    assert {r.value for r in by_channel(rows)["thermal/acpitz"]} == {27.8}
    prof = profile(str(tmp_path / "no-such-python"))
    with pytest.raises(HarnessError, match="no-such-python on the target"):
        Sampler(transport(prof), prof, root=str(root), mode="python").start()
