"""An emulated phone for tests and benchmarks: an `AdbEmulator` on a free port, with its profile.

In pytest, import the fixtures into a conftest::

    from tests.adb_emulator.fixtures import adb_phone  # noqa: F401

Elsewhere (benchmarks), use ``with emulated_phone(folder) as phone: ...``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.profiles import DeviceProfile, load_profile_file
from tests.adb_emulator.device import AdbEmulator

HERE = Path(__file__).resolve().parent
PROFILE_TEMPLATE = HERE / "emulated_phone.yaml"
STAND_IN = HERE / "benchmark_model.py"


@dataclass
class EmulatedPhone:
    emulator: AdbEmulator
    profile: DeviceProfile
    profile_path: Path
    benchmark_binary: Path

    @property
    def sandbox(self) -> Path:
        return self.emulator.sandbox

    def device_path(self, path: str) -> Path:
        """Host path of a path on the phone (/data/... lives in the sandbox)."""
        return self.sandbox / path.lstrip("/")


def install_stand_in(folder: Path) -> Path:
    """The benchmark_model stand-in as an executable that runs with this host's Python."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "benchmark_model"
    body = STAND_IN.read_text().split("\n", 1)[1]  # drop its generic shebang
    exe.write_text(f"#!{sys.executable}\n{body}")
    exe.chmod(0o755)
    return exe


def _clusters() -> list[dict]:
    cpus = sorted(os.sched_getaffinity(0))
    little, big = cpus[:1], cpus[1:] or cpus[:1]
    return [{"name": "little", "core": "host", "cpus": little}, {"name": "big", "core": "host", "cpus": big}]


@contextmanager
def emulated_phone(folder: Path, **emulator_options) -> Iterator[EmulatedPhone]:
    """Start a phone whose filesystem is `folder/phone`; its profile is `folder/emulated-phone.yaml`."""
    folder = Path(folder)
    emu = AdbEmulator(folder / "phone", **emulator_options).start()
    try:
        binary = install_stand_in(folder / "host-bin")
        data = yaml.safe_load(PROFILE_TEMPLATE.read_text())
        data["transport"]["address"] = emu.address
        data["benchmark_binary"] = str(binary)
        data["hardware"]["cpu_clusters"] = _clusters()
        data.setdefault("defaults", {})["python"] = sys.executable  # for the agent runner, if used over adb
        profile_path = folder / "emulated-phone.yaml"
        profile_path.write_text(yaml.safe_dump(data, sort_keys=False))
        yield EmulatedPhone(emu, load_profile_file(profile_path), profile_path, binary)
    finally:
        emu.stop()


@pytest.fixture
def harness_config(tmp_path, monkeypatch) -> Path:
    """A private config folder (the adbkey goes there, not in $HOME)."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("HARNESS_CONFIG_DIR", str(cfg))
    return cfg


@pytest.fixture
def adb_phone(tmp_path, harness_config) -> Iterator[EmulatedPhone]:
    """An emulated phone on a free port; its processes are killed at the end."""
    with emulated_phone(tmp_path) as phone:
        yield phone
