"""Any name survives (issue 11): a model file whose name is not valid UTF-8 is measured over
local and ssh, and recorded with its odd bytes escaped (\\xHH) — manifest, Parquet, report,
trace — never a crash after measuring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from harness.report.dashboard import build_report
from harness.store.store import RunStore, load_runs
from tests.ssh.test_run_over_ssh import QUICK, board_profile

pytestmark = pytest.mark.timeout(180)

RAW_NAME = b"sine-\xff\xfe caf\xe9.tflite"  # Latin-1 bytes: not UTF-8
ESCAPED = "sine-\\xff\\xfe caf\\xe9"


@pytest.fixture
def odd_model(tmp_path) -> bytes:
    import tflite_micro
    from pathlib import Path

    src = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    folder = os.fsencode(tmp_path / "models")
    os.makedirs(folder, exist_ok=True)
    dst = os.path.join(folder, RAW_NAME)
    shutil.copyfile(src, dst)
    return dst


def _run(device: str, model: bytes, results, cwd):
    argv = [sys.executable.encode(), b"-m", b"harness", b"run", b"-d", device.encode(), b"-m", model,
            *(a.encode() for a in QUICK), b"--baseline", b"0.2", b"--results", os.fsencode(results), b"--json"]
    return subprocess.run(argv, cwd=cwd, capture_output=True, timeout=150)


def _check_everywhere(results, tmp_path, run_id: str) -> None:
    store = RunStore(results)
    m = store.load(run_id).manifest
    assert m.model.name == ESCAPED and m.model.path.endswith(ESCAPED + ".tflite")
    assert any("not valid UTF-8" in n for n in m.notes)
    (results / run_id / "manifest.json").read_bytes().decode("utf-8")  # valid UTF-8 throughout
    runs = load_runs(results)
    assert list(runs.model) == [ESCAPED]
    con = store.connect()
    assert con.execute("SELECT model FROM runs").fetchone() == (ESCAPED,)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] > 0
    html = build_report(results, tmp_path / f"{run_id}.html").path.read_text(encoding="utf-8")
    assert ESCAPED in html
    out = tmp_path / f"{run_id}.trace.json"
    trace = subprocess.run([sys.executable, "-m", "harness", "trace", run_id, "--results", str(results), "-o", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert trace.returncode == 0, trace.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["otherData"]["model"] == ESCAPED


def test_a_non_utf8_model_name_over_local(tmp_path, odd_model):
    results = tmp_path / "results"
    proc = _run("local", odd_model, results, tmp_path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "ok" and run["model"] == ESCAPED
    _check_everywhere(results, tmp_path, run["run_id"])


def test_a_non_utf8_model_name_over_ssh(sshd, tmp_path, odd_model):
    results = tmp_path / "results"
    prof = board_profile(sshd, tmp_path, "board-a")
    proc = _run(str(prof), odd_model, results, tmp_path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "ok" and run["model"] == ESCAPED
    pushed = [os.fsencode(p.name) for p in (sshd.dir / "work" / "models").rglob("*.tflite")]
    assert pushed == [ESCAPED.encode() + b".tflite"]  # on the board under its escaped name
    _check_everywhere(results, tmp_path, run["run_id"])
