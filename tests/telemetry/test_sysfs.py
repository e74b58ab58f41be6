"""sysfs readers on fixture trees and text dumps: exact SI values."""

import pytest

from harness.errors import HarnessError
from harness.telemetry import procfs
from harness.telemetry.parse import parse_file, parse_text
from harness.telemetry.sysfs import DirView, DumpView, hwmon_channels, rapl_zones, thermal_zones, unwrap_energy


def test_jetson_tree_hwmon_by_label_and_disabled_zones(fixtures):
    res = parse_file("sysfs", fixtures / "sysfs/jetson_orin_nano")
    v = res.readings[0].values
    assert v["voltage/VDD_IN"] == (5.048, "V")
    assert v["current/VDD_IN"] == (2.472, "A")
    assert v["power/VDD_IN"][0] == pytest.approx(5.048 * 2.472, rel=1e-15)
    assert v["current/VDD_SOC"] == (0.56, "A")
    assert v["power/VDD_5V_AUX"][0] == pytest.approx(4.996 * 0.012, rel=1e-15)  # found on the other device
    assert not any("shunt" in k for k in v)  # a label without a current is not a rail
    assert v["thermal/cpu-thermal"] == (53.968, "C")
    assert v["thermal/tj-thermal"] == (53.968, "C")
    assert res.missing == ["thermal/cv0-thermal", "thermal/cv1-thermal", "thermal/cv2-thermal"]  # -256000
    assert v["freq/cpu3"] == (729.6e6, "Hz")
    assert res.meta["governor"][5] == "schedutil"


def test_hwmon_paths_follow_the_label_not_the_index(fixtures):
    rails = hwmon_channels(DirView(fixtures / "sysfs/jetson_orin_nano"))
    assert rails["VDD_IN"].current_path == "/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon5/curr1_input"
    assert rails["VDD_5V_AUX"].voltage_path.endswith("1-0041/hwmon/hwmon2/in1_input")


def test_android_tree_zone_types_from_capture(fixtures):
    zones = thermal_zones(DirView(fixtures / "sysfs/android_phone"))
    assert [z.type for z in zones][:3] == ["battery", "ufs_therm", "pa_therm1"]
    assert zones[18].type == "tsens_tz_sensor9" and zones[18].temp_c == 40.0
    assert zones[0].temp_c == 31.0  # a vendor zone in whole degrees
    assert zones[5].temp_c == 33.5


def test_x86_rapl_zones_named_by_hierarchy(fixtures):
    zones = rapl_zones(DirView(fixtures / "sysfs/x86_rapl"))
    assert [z.name for z in zones] == ["package-0", "package-0.core", "package-0.uncore", "psys"]
    assert zones[0].max_range_uj == 262143328850
    res = parse_file("rapl", fixtures / "sysfs/x86_rapl")
    v = res.readings[0].values
    assert v["energy/package-0.core"] == (1.5, "J")
    assert v["energy/psys"] == (99.0, "J")
    assert res.meta["max_energy_range_j"]["package-0"] == pytest.approx(262143.32885)


def test_rapl_unwrap():
    mx = 262143328850
    e = [mx - 2_000_000, mx - 500_000, 1_000_000, None, 3_000_000]
    got = unwrap_energy(e, mx)
    assert got[0] == 0.0
    assert got[1] == pytest.approx(1.5)
    assert got[2] == pytest.approx(1.5 + 0.5 + 1.0)  # (max - e1) + e2
    assert got[3] is None
    assert got[4] == pytest.approx(5.0)
    # without a known range a decrease cannot be unwrapped: that step is missing, not guessed
    assert unwrap_energy([5_000_000, 1_000_000, 2_000_000], None) == [0.0, None, pytest.approx(1.0)]


def test_grep_dump_and_cat_transcript(fixtures):
    dump = (
        "/sys/class/thermal/thermal_zone0/type:cpu-thermal\n"
        "/sys/class/thermal/thermal_zone0/temp:47250\n"
        "/sys/class/thermal/thermal_zone1/type:gpu-thermal\n"
        "/sys/class/thermal/thermal_zone1/temp:-256000\n"
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq:1800000\n"
    )
    res = parse_text("thermal", dump)
    assert res.readings[0].values == {"thermal/cpu-thermal": (47.25, "C"), "freq/cpu0": (1.8e9, "Hz")}
    assert res.missing == ["thermal/gpu-thermal"]
    transcript = (fixtures / "android_sysfs/thermal_zone_types_sony_xz1c_lilac_transcript_PARTIAL.txt").read_text()
    res = parse_text("thermal", transcript)
    assert res.problems == []
    assert len(res.meta["thermal_zones"]) == 19
    assert res.meta["thermal_zones"][16] == "tsens_tz_sensor7"
    assert len(res.missing) == 19 and res.readings == []  # types only, no temperature captured


def test_duplicate_zone_types_get_unique_channels():
    view = DumpView({
        "/sys/class/thermal/thermal_zone0/type": "cpu", "/sys/class/thermal/thermal_zone0/temp": "40000",
        "/sys/class/thermal/thermal_zone1/type": "cpu", "/sys/class/thermal/thermal_zone1/temp": "41000",
    })
    assert [z.channel for z in thermal_zones(view)] == ["thermal/cpu:0", "thermal/cpu:1"]


def test_procfs_stat_and_status():
    line = "4242 (python3 (agent) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 1234 56 0 0 20 0 3 0 100 0 0"
    assert procfs.cpu_time_s(line) == pytest.approx(12.9)
    assert procfs.rss_bytes("51234", "kB") == 51234 * 1024
    assert procfs.vmrss_from_status("Name:\tx\nVmRSS:\t  2048 kB\n") == 2048 * 1024
    with pytest.raises(HarnessError, match="stat"):
        procfs.cpu_time_s("garbage")
    import os
    me = procfs.read_process(os.getpid())
    assert me["rss/agent"] > 1e6 and me["cpu_time/agent"] > 0


def test_parse_file_errors(tmp_path, fixtures):
    with pytest.raises(HarnessError, match="no such file"):
        parse_file("tegrastats", tmp_path / "nope.txt")
    with pytest.raises(HarnessError, match="unknown telemetry format"):
        parse_file("bogus", fixtures / "tegrastats/nano_jp4.6.1.txt")
    with pytest.raises(HarnessError, match="is a directory"):
        parse_file("tegrastats", tmp_path)
