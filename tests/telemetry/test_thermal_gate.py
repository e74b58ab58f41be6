"""Thermal gate on a fixture tree through the real local transport and discovery script."""

import threading

import pytest

from harness.telemetry.thermal import CooldownTimeout, clocks_dropped, snapshot, wait_for_cooldown

from .sampler_env import fake_tools, make_profile, transport, tree, write

pytestmark = pytest.mark.timeout(60)
ZONES = "/sys/class/thermal/thermal_zone{}/temp"


def test_waits_until_hottest_zone_is_below_target(tmp_path):
    root = tree(tmp_path, "jetson_orin_nano")  # hottest: cpu/tj at 53.968 °C
    prof = make_profile(tmp_path, {}, limits={"cooldown_temp_c": 50.0, "cooldown_timeout_s": 30})
    polls = []

    def cool_down():
        for z in (0, 1, 5, 6, 7, 8):
            write(root, ZONES.format(z), 45000)

    threading.Timer(0.5, cool_down).start()
    got = wait_for_cooldown(transport(prof), prof, poll_s=0.1, root=str(root), on_poll=lambda z, c: polls.append((z, c)))
    assert got["temp_c"] == 45.0 and got["target_c"] == 50.0
    assert got["waited_s"] >= 0.4
    assert polls[0] == ("thermal/cpu-thermal", 53.968)  # first of the two hottest zones


def test_timeout_names_zone_and_temperature(tmp_path):
    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {"thermal_zones": ["gpu-thermal", "soc0-thermal"]}, limits={"cooldown_temp_c": 40.0})
    with pytest.raises(CooldownTimeout, match=r"53\.3 °C \(thermal/gpu-thermal\) after 0\.3 s"):
        wait_for_cooldown(transport(prof), prof, timeout_s=0.3, poll_s=0.1, root=str(root))


def test_no_target_or_no_sensor_is_a_recorded_skip(tmp_path):
    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {})
    assert "cooldown_temp_c" in wait_for_cooldown(transport(prof), prof, root=str(root))["skipped"]
    prof = make_profile(tmp_path, {}, limits={"cooldown_temp_c": 40.0})
    got = wait_for_cooldown(transport(prof), prof, root=str(tmp_path / "empty"))
    assert got["skipped"] == "no readable thermal zone on the target"


def test_snapshot_conditions_and_clock_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_tools(tmp_path)}:{__import__('os').environ['PATH']}")
    root = tree(tmp_path, "jetson_orin_nano")
    prof = make_profile(tmp_path, {"vcgencmd": True})
    t = transport(prof)
    before = snapshot(t, prof, root=str(root))
    assert before["thermal_c"]["tj-thermal"] == 53.968 and "cv0-thermal" not in before["thermal_c"]
    assert before["freq_hz"]["cpu2"] == 729.6e6 and before["max_freq_hz"]["cpu2"] == 1510.4e6
    assert before["governor"]["cpu0"] == "schedutil"
    assert before["hottest_c"] == 53.968
    assert before["vcgencmd"]["throttled/under_voltage"] == 1.0 and before["vcgencmd"]["freq/arm"] == 2400023808.0
    write(root, "/sys/devices/system/cpu/cpu3/cpufreq/scaling_max_freq", 1113600)
    after = snapshot(t, prof, root=str(root))
    assert clocks_dropped(before, after) == ["cpu3 max clock 1510 → 1114 MHz"]
    assert clocks_dropped(before, before) == []
