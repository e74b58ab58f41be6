"""`harness devices check` against a real sshd: what it finds, and why it cannot connect."""

from __future__ import annotations

import json
import os
import platform
import sys

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.transports import check_device

pytestmark = pytest.mark.timeout(60)


def test_check_reports_the_target(sshd):
    info = check_device(sshd.profile())
    assert info.reachable and info.reason is None
    assert info.arch == platform.machine()
    assert info.os.endswith(f"Linux {platform.release()}")
    assert info.workdir == str(sshd.dir / "work")
    st = os.statvfs(sshd.dir / "work")
    assert abs(info.free_bytes - st.f_bavail * st.f_frsize) < 512 * 1024 * 1024
    assert "taskset" in info.tools and "sha256sum" in info.tools


def test_check_uses_the_profiles_python_and_lists_its_runtimes(sshd, tmp_path):
    # the harness venv's python: it has LiteRT and onnxruntime
    path = sshd.write_profile(tmp_path / "board.yaml", "board-1", defaults={"python": sys.executable})
    res = CliRunner().invoke(app, ["devices", "check", str(path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["reachable"] is True and out["device"] == "board-1"
    assert out["python"] == platform.python_version()
    import onnxruntime

    assert out["runtimes"]["onnxruntime"] == onnxruntime.__version__
    assert "ai_edge_litert" in out["runtimes"]


def test_check_explains_a_missing_python(sshd):
    info = check_device(sshd.profile(defaults={"python": "/nonexistent/python3"}))
    assert info.reachable and info.python is None
    assert any("/nonexistent/python3 does not run on the target" in n for n in info.notes)


def test_unreachable_says_why_and_exits_non_zero(sshd, tmp_path):
    path = sshd.write_profile(tmp_path / "board.yaml")
    sshd.stop()
    res = CliRunner().invoke(app, ["devices", "check", str(path), "--json"])
    assert res.exit_code == 3
    out = json.loads(res.output)
    assert out["reachable"] is False and "connection refused" in out["reason"]


def test_unknown_host_key_is_reported_as_the_reason(sshd, tmp_path):
    kh = tmp_path / "kh"
    kh.write_text("")
    path = sshd.write_profile(tmp_path / "board.yaml", known_hosts=str(kh))
    res = CliRunner().invoke(app, ["devices", "check", str(path)])
    assert res.exit_code == 3
    assert "host key unknown" in res.output and "ssh-keyscan" in " ".join(res.output.split())
