"""The sampler over a real sshd on loopback and over the adb emulator.

Both "targets" run on this host, so their CLOCK_MONOTONIC is the test's: rows can be
checked against `time.monotonic_ns()`. Also checks that stop() leaves no sampler
process behind on the target.
"""

import shutil
import time

import pytest

from harness.profiles import DeviceProfile
from harness.telemetry.sampler import Sampler
from tests.adb_emulator.fixtures import adb_phone, harness_config  # noqa: F401
from tests.ssh.sshd import start_sshd

from .sampler_env import FIXTURES

pytestmark = pytest.mark.timeout(120)
SENSORS = {"thermal_zones": ["cpu-thermal", "cv0-thermal"], "cpufreq_cpus": [0],
           "hwmon_rails": [{"label": "VDD_IN"}]}


def with_sensors(profile: DeviceProfile) -> DeviceProfile:
    data = profile.model_dump()
    data["sensors"] = SENSORS
    return DeviceProfile.model_validate(data)


def check_run(transport, profile, root, mode):
    before = time.monotonic_ns()
    s = Sampler(transport, profile, rate_hz=100, root=root, mode=mode)
    s.start()
    s.wait_samples(5)
    time.sleep(0.3)
    rows = s.stop()
    after = time.monotonic_ns()
    values = {}
    for r in rows:
        values.setdefault(r.channel, set()).add(r.value)
    assert values["thermal/cpu-thermal"] == {53.968}
    assert values["freq/cpu0"] == {729.6e6}
    assert values["current/VDD_IN"] == {2.472}
    assert s.absent == ["thermal/cv0-thermal"]
    slack = s.clock.resolution_ns
    assert all(before - slack <= r.t_ns <= after + slack for r in rows)
    assert s.own_cpu_fraction is not None and 0 <= s.own_cpu_fraction < 1  # CPU ticks between start and stop
    pid = s.header["pid"]
    deadline = time.monotonic() + 5
    while transport.run(["kill", "-0", pid], timeout=30).ok and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not transport.run(["kill", "-0", pid], timeout=30).ok, "sampler still running on the target"
    return s


@pytest.mark.parametrize("mode", ["shell", "python"])
def test_over_ssh(tmp_path, mode):
    from harness.transports.ssh import SshTransport

    server = start_sshd(tmp_path, "board")
    try:
        root = tmp_path / "tree"
        shutil.copytree(FIXTURES / "sysfs/jetson_orin_nano", root)
        prof = with_sensors(server.profile())
        with SshTransport(prof) as t:
            s = check_run(t, prof, str(root), mode)
            assert s.clock.source == ("monotonic" if mode == "python" else "boottime")  # Debian's sh is dash
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["shell", "python"])
def test_over_adb(adb_phone, mode):  # noqa: F811
    from harness.transports.adb import AdbTransport

    shutil.copytree(FIXTURES / "sysfs/jetson_orin_nano", adb_phone.device_path("/data/local/tmp/tree"))
    prof = with_sensors(adb_phone.profile)
    with AdbTransport(prof) as t:
        check_run(t, prof, "/data/local/tmp/tree", mode)


def test_a_dropped_link_costs_the_probe_never_the_rows(tmp_path):
    from harness.transports.ssh import SshTransport

    server = start_sshd(tmp_path, "board")
    try:
        root = tmp_path / "tree"
        shutil.copytree(FIXTURES / "sysfs/jetson_orin_nano", root)
        prof = with_sensors(server.profile())
        with SshTransport(prof) as t:
            s = Sampler(t, prof, rate_hz=100, root=str(root), mode="shell")
            s.start()
            s.wait_samples(5)
            server.drop_connections()  # the cable is pulled: stop()'s probe and /proc read fail
            rows = s.stop()
        values = {}
        for r in rows:
            values.setdefault(r.channel, set()).add(r.value)
        assert values["thermal/cpu-thermal"] == {53.968} and len(rows) >= 5 * 3
        assert any("clock probe failed at stop" in n and "connection lost" in n for n in s.notes)
        assert s.details()["notes"] == s.notes and s.own_cpu_s is None
    finally:
        server.stop()
