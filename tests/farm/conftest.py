"""Fixtures for farm tests: the three-host Ray lab (per module), peers and plans (per test)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.farm.lab import Peers, RayLab

#: quick measurements: the farm's behaviour is under test, not the numbers
QUICK = {"stop": {"mode": "fixed", "count": 20}, "telemetry": False, "baseline_s": 0, "thermal_gate": False}
MCU_QUICK = {"stop": {"mode": "tinyml"}, "options": {"relaxed": True, "windows": 3, "inferences": 1, "warmups": 1}}


@pytest.fixture(scope="module")
def ray_lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    lab = RayLab(folder, folder / "config")
    try:
        lab.start_all()
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def lab(ray_lab):
    """The module's cluster, with every host up (a test may have killed one)."""
    ray_lab.ensure_all()
    return ray_lab


@pytest.fixture
def peers(tmp_path):
    with ExitStack() as stack:
        yield Peers(tmp_path / "peers", stack)


def night_until(sizes: tuple, night: Callable[[Any], Any], happened: Callable[[Any], bool], case: str) -> tuple:
    """Run `night(size)` for each size in turn until `happened(result)`: (size, result).

    On a loaded host a race between Ray actors can decide whether the case under test occurs
    at all (a device whose actor came up late is never asked, or asked too late to matter);
    a larger night makes it occur. Fails naming `case` when no night showed it."""
    for size in sizes:
        result = night(size)
        if happened(result):
            return size, result
    pytest.fail(f"{case}: in none of the nights {sizes}")


def write_plan(path: Path, farm: Path, models: list[str], classes: list[str], **extra) -> Path:
    data = {
        "name": extra.pop("name", "test-plan"),
        "farm": str(farm),
        "matrix": {"models": models, "classes": classes, **extra.pop("matrix", {})},
        "defaults": {**QUICK, **extra.pop("defaults", {})},
        "class_options": {"mcu": MCU_QUICK},
        **extra,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def farm_of_one(tmp_path):
    """A farm file with this host's `local` device, loaded."""
    from harness.farm.inventory import load_farm

    path = tmp_path / "farm-of-one.yaml"
    path.write_text(yaml.safe_dump({"name": "solo", "classes": {"host": {}},
                                    "hosts": {"here": {"devices": [{"profile": "local", "class": "host"}]}}}))
    return load_farm(path)
