"""vcgencmd and battery parsers: exact SI values from the captures."""

import pytest

from harness.telemetry import battery, vcgencmd
from harness.telemetry.battery import BatterySample, calibrate

from .conftest import capture


def one(res):
    assert res.problems == [], res.problems
    assert len(res.readings) == 1
    return res.readings[0].values


def test_pi3_throttled_bits_volts_temp():
    res = vcgencmd.parse(capture("vcgencmd/pi3bplus_throttled_0x50005_volts_temp.txt"))
    v = one(res)
    assert v["thermal/soc"] == (39.7, "C")
    assert v["voltage/core"] == (1.2, "V")
    # 0x50005 = bits 0, 2, 16, 18
    set_bits = {k for k, (x, _u) in v.items() if k.startswith("throttled/") and x == 1.0}
    assert set_bits == {"throttled/under_voltage", "throttled/throttled",
                        "throttled/under_voltage_occurred", "throttled/throttled_occurred"}
    assert v["throttled/soft_temp_limit"] == (0.0, "1")
    assert res.meta["throttled_mask"] == "0x50005"


def test_pi5_idle_temp_clock_no_throttle():
    v = one(vcgencmd.parse(capture("vcgencmd/pi5_temp_throttled_clock_idle.txt")))
    assert v["thermal/soc"] == (59.3, "C")
    assert v["freq/arm"] == (2400023808.0, "Hz")
    assert all(x == 0.0 for k, (x, _u) in v.items() if k.startswith("throttled/"))


def test_measure_clock_loop_names_clocks_by_prefix():
    v = one(vcgencmd.parse(capture("vcgencmd/measure_clock_all_clocks_loop_openelec_2017.txt")))
    assert v["freq/arm"] == (600e6, "Hz")
    assert v["freq/core"] == (250e6, "Hz")
    assert v["freq/uart"] == (47999000.0, "Hz")
    assert v["freq/hdmi"] == (163683000.0, "Hz")
    assert v["freq/v3d"] == (0.0, "Hz")
    assert len(v) == 12


def test_pi5_pmic_rails_power_where_both():
    v = one(vcgencmd.parse(capture("vcgencmd/pi5_pmic_read_adc_full_jfikar.txt")))
    assert v["current/VDD_CORE"] == (10.87674, "A")
    assert v["voltage/VDD_CORE"] == (0.8974594, "V")
    assert v["power/VDD_CORE"][0] == pytest.approx(10.87674 * 0.8974594, rel=1e-15)
    assert v["voltage/EXT5V"] == (5.06788, "V")
    assert "current/EXT5V" not in v and "power/EXT5V" not in v  # no current: no board power
    assert v["voltage/BATT"] == (3.011108, "V") and "power/BATT" not in v
    assert len([k for k in v if k.startswith("current/")]) == 12
    assert len([k for k in v if k.startswith("voltage/")]) == 14
    assert len([k for k in v if k.startswith("power/")]) == 12


def test_unknown_throttle_bits_kept():
    res = vcgencmd.parse("throttled=0x100008\n")  # bit 20 is not documented
    assert res.meta["throttled_unknown_bits"] == "0x100000"
    assert res.readings[0].values["throttled/soft_temp_limit"] == (1.0, "1")


def test_vcgencmd_errors_become_problems():
    res = vcgencmd.parse("temp=40.0'C\nVCHI initialization failed\n")
    assert res.readings[0].values["thermal/soc"] == (40.0, "C")
    assert [(p.line_no, p.line) for p in res.problems] == [(2, "VCHI initialization failed")]


# -- battery ---------------------------------------------------------------------------------


def test_old_phone_ma_scale_negative_while_discharging():
    res = battery.parse(capture("android_sysfs/uevent_old_android_phone_termux_sysprobe.txt"))
    v = one(res)
    assert v["current/battery"] == (-0.191, "A")  # -191 is mA: 0.191 µA would be absurd for an awake phone
    assert v["voltage/battery"] == (4.246, "V")
    assert v["power/battery"] == (pytest.approx(0.191 * 4.246, rel=1e-15), "W")
    assert v["thermal/battery_gauge"] == (31.0, "C")
    assert v["level/battery"] == (0.98, "1")
    assert res.meta["status"] == "Discharging"
    assert res.meta["current_unit"].startswith("mA")
    assert res.meta["sign"].startswith("calibrated")


def test_tablet_positive_while_not_charging_sign_and_unit_assumed():
    res = battery.parse(capture("android_sysfs/uevent_android_tablet_paytablet_m8_cat.txt"))
    v = one(res)
    assert v["current/battery"] == (0.0003, "A")  # ABI µA, and the ABI sign: nothing to calibrate against
    assert v["voltage/battery"] == (4.332, "V")
    assert v["thermal/battery_gauge"] == (25.1, "C")
    assert v["charge/battery"] == (pytest.approx(6555000e-6 * 3600), "C")
    assert res.meta["status"] == "Not charging"
    assert res.meta["sign"].startswith("assumed")
    assert res.meta["current_unit"].startswith("uA assumed")


def test_dumpsys_battery_samsung():
    res = battery.parse(capture("android_sysfs/dumpsys_battery_samsung_oneui_2023.txt"))
    v = one(res)
    assert res.meta["source_format"] == "dumpsys"
    assert res.meta["status"] == "Full"  # status: 5
    assert v["voltage/battery"] == (4.312, "V")  # mV in dumpsys
    assert v["thermal/battery_gauge"] == (30.9, "C")
    assert v["level/battery"] == (1.0, "1")
    assert v["current/battery"] == (0.0, "A")
    assert v["charge/battery"] == (pytest.approx(2967000e-6 * 3600), "C")


def test_calibration_flips_inverted_vendor_sign():
    # a vendor reporting discharge as positive µA
    samples = [BatterySample(450_000, 3_900_000, "Discharging") for _ in range(5)]
    samples.append(BatterySample(-20_000, 3_900_000, "Discharging"))  # one odd reading: majority wins
    cal = calibrate(samples)
    assert cal.sign == -1 and cal.current_divisor == 1e6
    cal2 = calibrate([BatterySample(-1_200_000, 4_300_000, "Charging")])
    assert cal2.sign == -1
    cal3 = calibrate([BatterySample(1_200_000, 4_300_000, "Charging")])
    assert cal3.sign == 1
    assert calibrate(samples, "mA").current_divisor == 1e3


def test_uevent_bad_lines_and_bad_values():
    res = battery.parse("POWER_SUPPLY_STATUS=Discharging\nPOWER_SUPPLY_CURRENT_NOW=abc\ngarbage\n")
    assert [p.line_no for p in res.problems] == [3, 2]
    assert "current/battery" not in (res.readings[0].values if res.readings else {})
