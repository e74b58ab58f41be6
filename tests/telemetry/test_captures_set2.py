"""Telemetry parsers on the second set of captures (L4T R21 to JetPack 7) and the variants real
devices print: exact SI values, consistent channel names, placeholders never taken as readings."""

from __future__ import annotations

import pytest

from harness.analysis.energy import summarize
from harness.errors import HarnessError
from harness.telemetry import battery, tegrastats, vcgencmd
from harness.telemetry.channels import KEEP_PROBLEMS, TelemetryRow
from harness.telemetry.parse import parse_file

from .conftest import FIXTURES

MIB = 1024 * 1024


def tegra(name: str):
    res = parse_file("tegrastats", FIXTURES / "tegrastats" / name)
    assert res.problems == [] and res.problem_count == 0
    return res


def test_every_tegrastats_capture_parses_without_problems():
    names = sorted(p.name for p in (FIXTURES / "tegrastats").iterdir())
    assert len(names) == 17
    for name in names:
        res = tegra(name)
        assert res.readings and "mem/ram_used" in res.readings[0].values, name


def test_bare_gr3d_and_no_emc_orin():
    v = tegra("agx_orin_64gb_bare_gr3d_freq_0pct_no_emc_no_ape.txt").readings[0].values
    assert v["load/gpu"] == (0.0, "1") and "freq/gpu" not in v  # 'GR3D_FREQ 0%': a load, no clock
    assert v["thermal/cpu"] == (42.0, "C") and v["thermal/soc2"] == (37.843, "C")
    assert v["power/VDD_GPU_SOC"] == (4.94, "W") and v["mem/ram_total"] == (62840 * MIB, "bytes")
    assert v["freq/cpu11"] == (2201e6, "Hz")


def test_xavier_unitless_short_rails_and_the_pmic_placeholder():
    res = tegra("agx_xavier_32gb_l4t_r32era_unitless_rails_4cores_off_mts.txt")
    v = res.readings[0].values
    assert v["power/CPU"] == (0.311, "W") and v["power/SYS5V"] == (1.482, "W") and v["power/GPU"] == (0.0, "W")
    assert v["thermal/cpu"] == (37.5, "C") and v["thermal/tdiode"] == (40.0, "C")
    assert "thermal/pmic" not in v and res.meta["placeholder"] == ["thermal/pmic"]
    assert "freq/cpu4" not in v and v["freq/gpu"] == (318e6, "Hz") and v["freq/ape"] == (150e6, "Hz")
    assert "unrecognised_fields" not in res.meta  # "MTS fg 0% bg 0%" is a known field


def test_no_swap_and_emc_without_frequency():
    v = tegra("agx_xavier_16gb_l4t_r32era_no_swap_emc_gr3d_without_freq_unitless_rails.txt").readings[0].values
    assert v["load/emc"] == (0.0, "1") and "freq/emc" not in v
    assert "mem/swap_used" not in v and v["power/VDDRQ"] == (0.144, "W")


def test_orin_nx_second_gpc_named_like_every_other_gpu():
    v = tegra("jp5.1.1_r35.3.1_orin_nx_16gb_gr3d2_freq_two_value_mW_rails_first_line_PARTIAL.txt").readings[0].values
    assert v["freq/gpu"] == (611e6, "Hz")  # the GPU clock is the fastest GPC
    assert v["freq/gpu_gpc0"] == (611e6, "Hz") and v["freq/gpu_gpc1"] == (0.0, "Hz")
    assert v["thermal/cv0"] == (45.812, "C") and v["freq/vic"] == (729e6, "Hz")
    assert v["power/VDD_IN"] == (5.299, "W")


def test_vm_passthrough_cpu_without_clock_and_gpu_load_over_time():
    res = tegra("jp6.2_orin_gpu_passthrough_qemu_vm_bare_gr3d_freq_cpu_no_freq_5lines.txt")
    assert res.values("load/gpu") == [0.0, 0.0, 0.0, 0.04, 0.99]
    assert res.values("load/cpu1") == [0.01, 0.0, 0.14, 0.51, 0.17]
    assert res.values("mem/ram_used") == [364 * MIB] * 3 + [376 * MIB, 485 * MIB]
    assert not any(c.startswith("freq/") for c in res.channels())
    assert res.readings[4].stamp == "02-21-2025 16:28:26"


def test_tk1_and_tx1_lowercase_cpu_with_one_clock_for_all_cores():
    v = tegra("l4t_r24_r28era_tx1_lowercase_cpu_emc_gr3d_nvdec_msenc.txt").readings[0].values
    assert v["load/cpu0"] == (0.4, "1") and v["load/cpu3"] == (0.42, "1")
    assert v["freq/cpu0"] == (1734e6, "Hz") == v["freq/cpu3"]
    assert v["load/emc"] == (0.55, "1") and v["freq/emc"] == (1600e6, "Hz")
    assert v["load/gpu"] == (0.0, "1") and v["freq/gpu"] == (76e6, "Hz")  # old 'GR3D 0%@76'
    assert v["freq/nvdec"] == (716e6, "Hz") and v["freq/msenc"] == (716e6, "Hz") and v["freq/ape"] == (25e6, "Hz")
    off = tegra("l4t_r21_tk1_lowercase_cpu_3cores_off_freq_minus1.txt").readings[0].values
    assert off["load/cpu0"] == (0.0, "1") and "load/cpu1" not in off
    assert not any(k.startswith("freq/cpu") for k in off)  # '@-1': the clock is unknown, not -1 Hz
    on = tegra("l4t_r21_tk1_lowercase_cpu_all_on_freq_minus1_trailing_space.txt").readings[0].values
    assert [on[f"load/cpu{i}"] for i in range(4)] == [(0.0, "1")] * 4 and on["mem/ram_used"] == (601 * MIB, "bytes")


def test_multispace_separators_and_gpc_array():
    res = tegra("r36_agx_orin_32gb_irregular_multispace_separators_gr3d_gpc_array.txt")
    v = res.readings[0].values
    assert v["freq/gpu"] == (305e6, "Hz") and v["freq/gpu_gpc1"] == (305e6, "Hz")
    assert v["freq/ape"] == (174e6, "Hz") and v["load/cpu5"] == (1.0, "1")
    assert v["mem/swap_used"] == (4915 * MIB, "bytes") and v["power/VIN_SYS_5V0"] == (4.767, "W")
    assert "unrecognised_fields" not in res.meta


def test_tx1_iram_and_unitless_rails_with_differing_average():
    res = tegra("tx1_l4t_r28_r32era_iram_uppercase_cpu_unitless_vdd_rails.txt")
    v = res.readings[0].values
    assert v["power/VDD_IN"] == (2.532, "W") and v["power_avg/VDD_IN"] == (2.698, "W")
    assert v["mem/iram_total"] == (252 * 1024, "bytes") and "thermal/pmic" not in v
    assert v["freq/cpu0"] == (102e6, "Hz")


def test_xavier_nx_mixed_core_clocks():
    v = tegra("xavier_nx_l4t_r32era_unitless_vdd_cpu_gpu_cv_mixed_cpu_freq.txt").readings[0].values
    assert v["freq/cpu5"] == (1267e6, "Hz") and v["freq/cpu0"] == (1190e6, "Hz")
    assert v["power/VDD_CPU_GPU_CV"] == (0.738, "W") and v["load/gpu"] == (0.62, "1")


def test_jetpack7_three_value_rails_and_temperature_limits():
    line = ("07-25-2026 09:08:28 RAM 20642/62817MB (lfb 1x2MB) CPU [23%@2201,10%@2201] EMC_FREQ 3%@3199 "
            "GR3D_FREQ 12%@[1300,1300] NVENC0 off VIC off APE 174 cpu@52.968C/52.968C gpu@47.625C/47.625C "
            "VDD_GPU_SOC 5139mW/5100mW/6230mW VIN_SYS_5V0 5500mW/5500mW/5500mW")
    v = tegrastats.parse(line).readings[0].values
    assert v["power/VDD_GPU_SOC"] == (5.139, "W") and v["power_avg/VDD_GPU_SOC"] == (5.1, "W")
    assert v["power_peak/VDD_GPU_SOC"] == (6.23, "W")
    assert v["thermal/cpu"] == (52.968, "C") and v["load/gpu"] == (0.12, "1") and v["freq/gpu"] == (1300e6, "Hz")


def test_the_pmic_placeholder_never_feeds_the_maximum_temperature():
    line = (FIXTURES / "tegrastats" / "agx_xavier_32gb_l4t_r32era_unitless_rails_4cores_off_mts.txt").read_text()
    rows = [TelemetryRow(t * 50_000_000, ch, v, u) for t in range(20)
            for ch, (v, u) in tegrastats.parse_line(line.strip()).values.items()]
    out = summarize(rows, steady_start_ns=0, steady_end_ns=19 * 50_000_000, iterations=10)
    assert out["temp_c_max"] == 40.0  # Tdiode, not PMIC's 100 °C


def test_unrecognised_fields_and_problems_are_bounded():
    text = "\n".join(["RAM 1/2MB CPU [1%@100] FOO_BAR fg 7"] * 3 + ["garbage"] * (KEEP_PROBLEMS + 30))
    res = tegrastats.parse(text)
    assert res.meta["unrecognised_fields"] == {"count": 3, "first": ["FOO_BAR fg 7"]}
    assert res.problem_count == KEEP_PROBLEMS + 30 and len(res.problems) == KEEP_PROBLEMS
    assert res.to_dict()["problem_count"] == KEEP_PROBLEMS + 30


def test_an_empty_file_is_an_error_not_an_empty_table(tmp_path):
    for fmt in ("tegrastats", "vcgencmd", "battery"):
        f = tmp_path / f"{fmt}.txt"
        f.write_text("\n\n")
        with pytest.raises(HarnessError, match="the file is empty"):
            parse_file(fmt, f)


# -- vcgencmd -------------------------------------------------------------------------------------


def test_vcgencmd_clocks_are_named_by_what_was_asked():
    res = vcgencmd.parse("$ vcgencmd measure_clock v3d\nfrequency(46)=500000000\n"
                         "$ vcgencmd measure_clock arm\nfrequency(48)=1800000000\n"
                         "pi@rpi:~ $ vcgencmd measure_volts sdram_c\nvolt=1.1000V\n"
                         "$ vcgencmd measure_temp pmic\ntemp=45.2'C\n")
    v = res.readings[0].values
    assert v == {"freq/v3d": (500e6, "Hz"), "freq/arm": (1.8e9, "Hz"), "voltage/sdram_c": (1.1, "V"),
                 "thermal/pmic": (45.2, "C")}
    assert "assumed" not in res.meta and res.problems == []


def test_vcgencmd_labelled_lines_for_every_command():
    v = vcgencmd.parse("core:\tvolt=0.8500V\nsdram_i: volt=1.2000V\narm:\tfrequency(48)=600000000\n"
                       ).readings[0].values
    assert v == {"voltage/core": (0.85, "V"), "voltage/sdram_i": (1.2, "V"), "freq/arm": (600e6, "Hz")}
    bare = vcgencmd.parse("frequency(0)=2400023808\n")
    assert bare.readings[0].values == {"freq/arm": (2400023808.0, "Hz")} and "assumed" in bare.meta


def test_vcgencmd_one_reading_per_time_stamp_or_loop_pass():
    res = vcgencmd.parse("12:00:01 temp=40.0'C\n12:00:01 throttled=0x0\n12:00:02 temp=41.5'C\n"
                         "12:00:02 throttled=0x50005\n")
    assert [r.stamp for r in res.readings] == ["12:00:01", "12:00:02"]
    assert res.values("thermal/soc") == [40.0, 41.5] and res.values("throttled/under_voltage") == [0.0, 1.0]
    loop = vcgencmd.parse("temp=40.0'C\nfrequency(48)=600000000\ntemp=43.0'C\nfrequency(48)=1500000000\n")
    assert len(loop.readings) == 2 and loop.values("freq/arm") == [600e6, 1.5e9]


# -- battery -------------------------------------------------------------------------------------


def test_battery_uevent_without_the_power_supply_prefix():
    res = battery.parse("STATUS=Discharging\nHEALTH=Good\nCAPACITY=80\nCURRENT_NOW=-450000\n"
                        "VOLTAGE_NOW=3900000\nTEMP=300\n")
    v = res.readings[0].values
    assert res.meta["source_format"] == "uevent" and res.problems == []
    assert v["current/battery"] == (-0.45, "A") and v["voltage/battery"] == (3.9, "V")
    assert v["power/battery"][0] == pytest.approx(0.45 * 3.9) and v["level/battery"] == (0.8, "1")
    assert v["thermal/battery_gauge"] == (30.0, "C")


def test_battery_adb_shell_transcripts():
    uevent = (FIXTURES / "android_sysfs" / "uevent_old_android_phone_termux_sysprobe.txt").read_text()
    res = battery.parse("$ adb shell cat /sys/class/power_supply/battery/uevent\n" + uevent + "$ \n")
    assert res.problems == [] and res.readings[0].values["current/battery"] == (-0.191, "A")
    files = battery.parse("$ adb shell cat /sys/class/power_supply/battery/current_now\n-612000\n"
                          "$ adb shell cat /sys/class/power_supply/battery/voltage_now\n3851000\n"
                          "$ adb shell cat /sys/class/power_supply/battery/status\nDischarging\n")
    v = files.readings[0].values
    assert files.meta["source_format"] == "sysfs" and files.meta["status"] == "Discharging"
    assert v["current/battery"] == (-0.612, "A") and v["voltage/battery"] == (3.851, "V")
    tablet = battery.parse("PAYTABLETM8:/sys/class/power_supply/battery # cat uevent\n"
                           + (FIXTURES / "android_sysfs" / "uevent_android_tablet_paytablet_m8_cat.txt").read_text())
    assert tablet.problems == [] and tablet.readings[0].values["level/battery"] == (1.0, "1")
