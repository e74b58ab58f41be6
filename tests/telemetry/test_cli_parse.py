"""`harness telemetry parse` as a user runs it."""

import json

from tests.conftest import assert_one_line_error


def test_parse_tegrastats_json(cli, fixtures):
    p = cli("telemetry", "parse", "--format", "tegrastats", str(fixtures / "tegrastats/nano_jp4.6.1.txt"), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["channels"]["power/POM_5V_IN"] == {"unit": "W", "n": 1, "min": 1.75, "max": 1.75, "last": 1.75}
    assert d["readings"][0]["values"]["thermal/cpu"] == 40.0


def test_parse_table_and_battery(cli, fixtures):
    p = cli("telemetry", "parse", "-f", "battery", str(fixtures / "android_sysfs/uevent_old_android_phone_termux_sysprobe.txt"))
    assert p.returncode == 0, p.stderr
    assert "current/battery" in p.stdout and "-0.191" in p.stdout


def test_parse_sysfs_tree(cli, fixtures):
    p = cli("telemetry", "parse", "-f", "rapl", str(fixtures / "sysfs/x86_rapl"), "--json")
    assert json.loads(p.stdout)["channels"]["energy/psys"]["last"] == 99.0


def test_missing_file_is_one_line_error(cli, tmp_path):
    p = cli("telemetry", "parse", "-f", "vcgencmd", str(tmp_path / "missing.txt"))
    assert_one_line_error(p, "missing.txt", "no such file")


def test_unrecognised_file_exits_nonzero_with_warning(cli, tmp_path):
    f = tmp_path / "junk.txt"
    f.write_text("not tegrastats at all\n")
    p = cli("telemetry", "parse", "-f", "tegrastats", str(f))
    assert p.returncode == 1
    assert "line 1" in p.stderr and "Traceback" not in p.stderr
