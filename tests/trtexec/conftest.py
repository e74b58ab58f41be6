"""Fixtures for the trtexec runner: a real sshd "board" whose trtexec is the stand-in
(tests/logs/trtexec_standin.py: ONNX Runtime on this host's CPU, printing trtexec's layouts and
writing its JSON exports), reached the way a Jetson is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ssh.sshd import SshdServer, start_sshd

STAND_IN = Path(__file__).resolve().parents[1] / "logs" / "trtexec_standin.py"


def install_standin(folder: Path, version: str = "8.6.1") -> Path:
    """An executable `trtexec` on the board: the stand-in under this venv's Python (it needs ONNX Runtime)."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "trtexec"
    tool.write_text(f"#!/bin/sh\nTRTEXEC_STANDIN_VERSION={version} exec {sys.executable} {STAND_IN} \"$@\"\n")
    tool.chmod(0o755)
    return tool


@pytest.fixture
def board(tmp_path) -> SshdServer:
    server = start_sshd(tmp_path, "jetson")
    yield server
    server.stop()


def board_profile(server: SshdServer, tmp_path: Path, name: str = "jetson-standin") -> Path:
    """A profile for the board: runtimes trtexec and onnx, the launcher's Python is this venv's."""
    import yaml

    path = server.write_profile(tmp_path / f"{name}.yaml", name, defaults={"python": sys.executable})
    data = yaml.safe_load(path.read_text())
    data["runtimes"] = ["trtexec", "onnx"]
    data["sensors"] = {"thermal_zones": ["*"], "rate_hz": 20}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
