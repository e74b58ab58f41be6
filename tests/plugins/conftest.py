"""The toy plugin package (tests/plugin_pkg) must be installed in the test environment:
ci/test.sh installs it; a bare `pytest` run installs it here once, the same way."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

PLUGIN_PKG = Path(__file__).resolve().parents[1] / "plugin_pkg"


@pytest.fixture(scope="session", autouse=True)
def toy_plugin_installed() -> None:
    try:
        distribution("harness-toy-plugin")
    except PackageNotFoundError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(PLUGIN_PKG)], check=True)
