"""The matrix's rules (what is inside, what `devices check` says), its README table, and
the interpreter lookup that fails — never skips — when a Python is missing."""

from __future__ import annotations

import json
import re

import pytest

from harness.agent.matrix import OLDEST_PYTHON, PIECES, TESTED, assess, matrix_table, outside_matrix
from tests.conftest import REPO, run_cli
from tests.targets.pythons import MissingInterpreter, find_interpreter


def test_readme_shows_the_matrix_declared_in_code():
    readme = (REPO / "README.md").read_text()
    assert matrix_table() in readme


def test_every_tested_python_and_the_oldest_supported():
    pythons = {e.python for e in TESTED}
    assert f"{OLDEST_PYTHON[0]}.{OLDEST_PYTHON[1]}" in pythons
    assert {"3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"} <= pythons
    # the runtimes: LiteRT, tflite-runtime 2.14 with numpy<2, onnxruntime 1.10 on 3.6 and a recent one
    assert any(e.runtimes.get("tflite_runtime") == "2.14.0" and e.numpy == "<2" for e in TESTED)
    assert any(e.python == "3.6" and e.runtimes == {"onnxruntime": "1.10.0"} for e in TESTED)
    assert any("ai_edge_litert" in e.runtimes for e in TESTED)


def test_inside_the_matrix_no_warning():
    assert outside_matrix("3.6.9", "onnxruntime", "1.10.0") == []
    assert outside_matrix("3.8.10", "tflite_runtime", "2.14.0") == []
    assert outside_matrix("3.11.2", "onnxruntime", "1.20.1") == []  # between the tested releases


@pytest.mark.parametrize(
    "python, library, version, needle",
    [
        ("3.5.2", None, None, "older than 3.6"),
        ("3.14.0", None, None, "Python 3.14.0 is outside the tested matrix"),
        ("3.12.3", "tflite_runtime", "2.14.0", "tflite_runtime on Python 3.12 is outside"),
        ("3.8.10", "onnxruntime", "1.8.1", "onnxruntime 1.8.1 is outside the tested matrix (tested 1.10 to"),
        ("3.8.10", "tflite_runtime", "2.99.0", "tflite_runtime 2.99.0 is outside"),
        ("garbage", None, None, "unreadable"),
    ],
)
def test_outside_the_matrix_says_why(python, library, version, needle):
    warnings = outside_matrix(python, library, version)
    assert any(needle in w for w in warnings), warnings


def test_assess_names_what_each_piece_lacks():
    a = assess("3.6.9", {"numpy": "1.19.5"})
    assert a.pieces["agent"].startswith("no: no runtime")
    assert a.pieces["ceilings"].startswith("partly")
    assert a.pieces["sampler"] == "yes"
    a = assess("3.8.10", {"tflite_runtime": "2.14.0"})
    assert a.pieces["agent"] == "no: numpy is missing" and a.pieces["ceilings"] == "no: numpy is missing"
    a = assess("3.11.2", {"ai_edge_litert": "2.3.0", "tflite_runtime": "2.14.0", "numpy": "1.26.4"})
    assert a.pieces["agent"] == "yes: tflite via ai_edge_litert"  # the agent's order of preference
    a = assess("2.7.18", {"numpy": "1.16.6"})
    assert all(v.startswith("no: needs Python 3.6+") for v in a.pieces.values())
    assert set(a.pieces) == {p.name for p in PIECES}
    assert a.warnings and "older than 3.6" in a.warnings[0]
    a = assess(None, {})
    assert all("does not run" in v for v in a.pieces.values())


def test_a_missing_interpreter_fails_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingInterpreter, match=r"Python 2\.5 interpreter not found .*pyenv install 2\.5"):
        find_interpreter("2.5")


def test_interpreters_are_found_under_pyenv(tmp_path, monkeypatch):
    for v in ("3.9.1", "3.9.18", "3.9.7", "3.10.2"):
        exe = tmp_path / "versions" / v / "bin" / "python"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert find_interpreter("3.9") == tmp_path / "versions" / "3.9.18" / "bin" / "python"


def test_on_device_code_sent_as_command_text_is_ascii():
    # Python 3.6 under the C locale (ssh without LANG) cannot encode non-ASCII `-c` code
    from harness.telemetry.clock import PROBE

    assert (REPO / "harness" / "telemetry" / "sampler_py.py").read_text().isascii()
    assert PROBE.isascii()


def test_devices_check_warns_about_a_python_older_than_the_matrix(board, tmp_path):
    """A real Python 2.7 (Ubuntu 16.04's, old Jetson TX1 images) as the board's Python."""
    try:
        python = find_interpreter("2.7")
    except MissingInterpreter as e:
        pytest.fail(str(e), pytrace=False)
    profile = board.write_profile(tmp_path / "old.yaml", "old-board", defaults={"python": str(python)})
    proc = run_cli("devices", "check", str(profile), "--json", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["python"].startswith("2.7.")
    assert all(v.startswith("no: needs Python 3.6+") for v in out["on_device"]["pieces"].values())
    assert any("older than 3.6" in w for w in out["on_device"]["warnings"])
    table = run_cli("devices", "check", str(profile), cwd=tmp_path, timeout=120)
    assert "WARNING" in table.stdout and re.search(r"older\s+than\s+3\.6", table.stdout), table.stdout
