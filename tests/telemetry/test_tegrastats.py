"""tegrastats: exact SI values from every captured variant."""


from harness.telemetry import tegrastats
from harness.telemetry.channels import Problem

from .conftest import capture


def values(rel, line=0):
    res = tegrastats.parse(capture(f"tegrastats/{rel}"), rel)
    assert res.problems == []
    return res, res.readings[line].values


def test_orin_nano_jp6_rails_in_mw_lowercase_temps_gpu_bracket():
    res, v = values("orin_nano_8gb_jp6_sudo.txt")
    assert v["power/VDD_IN"] == (12.479, "W")
    assert v["power/VDD_CPU_GPU_CV"] == (4.667, "W")
    assert v["power/VDD_SOC"] == (2.817, "W")
    assert v["power_avg/VDD_IN"] == (12.479, "W")
    assert v["thermal/cpu"] == (53.968, "C")
    assert v["thermal/gpu"] == (53.343, "C")
    assert v["thermal/soc0"] == (50.75, "C")
    assert v["load/gpu"] == (0.63, "1")
    assert v["freq/gpu"] == (621e6, "Hz")
    assert v["freq/emc"] == (2133e6, "Hz") and v["load/emc"] == (0.43, "1")
    assert v["freq/cpu5"] == (729e6, "Hz") and v["load/cpu5"] == (0.08, "1")
    assert "freq/cpu6" not in v
    assert v["mem/ram_used"] == (6185 * 1024 * 1024, "bytes")
    assert v["mem/ram_total"] == (7620 * 1024 * 1024, "bytes")
    assert res.readings[0].stamp == "11-15-2024 08:38:09"


def test_agx_orin_three_lines_multi_gpc_and_engines():
    res, _ = values("agx_orin_64gb_r36.4.4_jp6_3lines.txt")
    assert len(res.readings) == 3
    assert res.values("power/VIN_SYS_5V0") == [4.707, 4.607, 4.707]
    assert res.values("power_avg/VIN_SYS_5V0") == [4.707, 4.657, 4.674]
    assert res.values("power/VDD_GPU_SOC") == [2.412] * 3
    assert res.values("thermal/tj") == [52.562, 52.343, 52.156]
    v = res.readings[0].values
    assert v["freq/gpu_gpc0"] == (0.0, "Hz") and v["freq/gpu_gpc1"] == (0.0, "Hz") and v["load/gpu"] == (0.0, "1")
    assert v["freq/gpu"] == (0.0, "Hz")  # the same name as a one-GPC line
    assert v["load/nvenc"] == (0.79, "1") and v["freq/nvenc"] == (166e6, "Hz")
    assert v["freq/vic"] == (115e6, "Hz") and v["freq/ape"] == (174e6, "Hz")
    assert v["freq/cpu11"] == (1036e6, "Hz")
    assert "freq/nvdec" not in v  # 'NVDEC off': no value, not zero
    assert v["mem/swap_used"] == (86 * 1024 * 1024, "bytes")


def test_agx_thor_gpu_without_load():
    res, v = values("agx_thor_r38.4_jp7_3lines.txt")
    assert "load/gpu" not in v
    assert v["freq/gpu_gpc2"] == (0.0, "Hz") and v["freq/gpu"] == (0.0, "Hz")
    assert v["freq/nvenc0"] == (0.0, "Hz")
    assert v["freq/ape"] == (300e6, "Hz")
    assert res.values("power/VDD_CPU_SOC_MSS") == [4.165, 4.923, 4.544]
    assert res.values("thermal/soc345") == [34.5, 34.5, 34.468]
    assert res.values("freq/cpu9") == [972e6, 2601e6, 972e6]


def test_nano_jp4_rails_without_mw():
    _, v = values("nano_jp4.6.1.txt")
    assert v["power/POM_5V_IN"] == (1.75, "W")
    assert v["power_avg/POM_5V_IN"] == (1.628, "W")
    assert v["power/POM_5V_CPU"] == (0.366, "W")
    assert v["power/POM_5V_GPU"] == (0.0, "W")
    assert v["thermal/cpu"] == (40.0, "C")  # 'CPU@40C': case folded
    assert v["thermal/pmic"] == (50.0, "C")
    assert v["freq/gpu"] == (76e6, "Hz")
    assert v["mem/iram_total"] == (252 * 1024, "bytes")


def test_tx2_vdd_sys_rails():
    _, v = values("tx2_jp4_vdd_sys_rails.txt")
    assert v["power/VDD_IN"] == (5.297, "W")
    assert v["power/VDD_SYS_GPU"] == (0.182, "W")
    assert v["power/VDD_SYS_DDR"] == (1.241, "W")
    assert v["thermal/tdiode"] == (39.25, "C")
    assert v["thermal/bcpu"] == (42.5, "C")
    assert v["freq/cpu2"] == (2034e6, "Hz")
    assert len([c for c in v if c.startswith("power/")]) == 6


def test_xavier_nx_jp5():
    _, v = values("xavier_nx_jp5.1.2.txt")
    assert v["power/VDD_IN"] == (2.763, "W")
    assert v["power_avg/VDD_IN"] == (2.846, "W")
    assert v["power/VDD_SOC"] == (0.65, "W")
    assert v["freq/gpu"] == (114e6, "Hz")
    assert v["freq/vic"] == (115e6, "Hz")
    assert v["thermal/aux"] == (45.0, "C")


def test_sensor_off_is_missing_not_a_value():
    line = capture("tegrastats/xavier_nx_jp5.1.2.txt").replace("AUX@45C", "AUX@-256C").replace("GPU@45.5C", "GPU@-256C")
    res = tegrastats.parse(line)
    v = res.readings[0].values
    assert "thermal/aux" not in v and "thermal/gpu" not in v
    assert res.missing == ["thermal/aux", "thermal/gpu"]
    assert v["thermal/cpu"] == (46.5, "C")


def test_offline_core_and_garbage_lines():
    res = tegrastats.parse("RAM 1/2MB CPU [10%@100,off,5%@200]\nhello world\n\n")
    v = res.readings[0].values
    assert v["freq/cpu0"] == (100e6, "Hz") and v["freq/cpu2"] == (200e6, "Hz")
    assert "freq/cpu1" not in v and "load/cpu1" not in v
    assert len(res.problems) == 1 and res.problems[0].line_no == 2 and res.problems[0].line == "hello world"
    assert isinstance(tegrastats.parse_line("nonsense"), Problem)
