"""The target matrix, for real: every piece of on-device code under every tested Python and runtime.

Each `harness.agent.matrix.TESTED` environment is a venv built from a real interpreter
of that version (tests/targets/pythons.py) and set as the board's `defaults.python`;
the board is a real OpenSSH sshd on loopback. Per environment:

- a full `harness run` of a TFLite model (when the environment has a TFLite runtime)
  and an ONNX model (when it has onnxruntime), telemetry on: the agent and the
  Python sampler both run under that interpreter; the record names the runtime
  library and version, holds steady-state samples and the sampler's rows;
- `harness ceilings`: the probe under that interpreter (its compute sweep needs a TFLite
  runtime; without one, fp32 comes from numpy's sgemm and the record says why);
- `harness devices check`: which pieces that Python can run, no matrix warnings.

A missing interpreter fails the test naming it (never a skip).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import zoo
from harness.agent.matrix import FORMAT_OF, TESTED, TargetEnv
from harness.store.store import RunStore
from tests.conftest import run_cli
from tests.report.models import depthwise_onnx
from tests.targets.conftest import target_python

# The first use of an environment builds it from PyPI (a few minutes on 2 cores).
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

QUICK = ("--min-time", "0.3", "--max-time", "2", "--no-thermal-gate", "--baseline", "0.2")


def _board(board, tmp_path: Path, env: TargetEnv) -> Path:
    return board.write_profile(tmp_path / "board.yaml", "board", defaults={"python": str(target_python(env))})


@pytest.mark.parametrize("env", TESTED, ids=lambda e: e.name)
def test_harness_run_under_the_target_python(env, board, tmp_path):
    profile = _board(board, tmp_path, env)
    # opset 13: onnxruntime 1.10 (the last for Python 3.6) reads opsets up to 15
    onnx_model = depthwise_onnx(tmp_path / "models" / "dw.onnx", channels=8, size=32)
    models = {}
    if env.tflite:
        models["tflite"] = str(zoo.model_file("kws01-int8-tflite"))
    if "onnxruntime" in env.runtimes:
        models["onnx"] = str(onnx_model)
    args = [a for m in models.values() for a in ("-m", m)]
    results = tmp_path / "results"
    proc = run_cli("run", "-d", str(profile), *args, *QUICK, "--results", str(results), "--json", cwd=tmp_path,
                   timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    briefs = json.loads(proc.stdout)
    assert sorted(b["runtime"] for b in briefs) == sorted(models)
    store = RunStore(results)
    for brief in briefs:
        run = store.load(brief["run_id"])
        m = run.manifest
        library = env.tflite if m.runtime.name == "tflite" else "onnxruntime"
        assert FORMAT_OF[library] == m.runtime.name
        assert (m.runtime.library, m.runtime.version) == (library, env.runtimes[library])
        assert m.conditions["agent"]["python"].startswith(env.python + ".")
        steady = [p for p in run.samples["phase"].to_pylist() if p == "steady"]
        assert len(steady) == m.summary.latency.n > 0
        assert m.summary.latency.median_s > 0 and m.phases.init_s > 0
        # the Python sampler ran under the same interpreter and followed the agent's process
        tele = m.conditions["telemetry"]
        assert tele["clock"]["source"] == "monotonic" and tele["samples"] > 0, tele
        channels = set(run.telemetry["channel"].to_pylist())
        assert {"cpu_time/agent", "rss/agent"} <= channels, channels
        assert not [w for w in m.summary.warnings if "target matrix" in w], m.summary.warnings


@pytest.mark.parametrize("env", TESTED, ids=lambda e: e.name)
def test_ceilings_probe_under_the_target_python(env, board, tmp_path):
    profile = _board(board, tmp_path, env)
    proc = run_cli("ceilings", "-d", str(profile), "--max-bytes", "2000000", "--results", str(tmp_path / "r"),
                   "--json", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ceilings = json.loads(proc.stdout)
    assert ceilings["target"]["python"].startswith(env.python + ".")
    assert ceilings["bandwidth_bytes_per_s"] and all(v > 0 for v in ceilings["bandwidth_bytes_per_s"].values())
    if env.tflite:
        assert {"fp32", "int8"} <= set(ceilings["peak_ops_per_s"]), ceilings
        assert f"via {env.tflite} {env.runtimes[env.tflite]}" in ceilings["sources"]["int8"], ceilings["sources"]
    else:  # fp32 from numpy's sgemm, int8 not measurable, and the record says why
        assert set(ceilings["peak_ops_per_s"]) == {"fp32"}, ceilings
        assert "no TFLite runtime" in ceilings["sources"]["fp32"]
        assert any("no TFLite runtime" in w for w in ceilings["warnings"]), ceilings["warnings"]


@pytest.mark.parametrize("env", TESTED, ids=lambda e: e.name)
def test_devices_check_reports_what_the_python_can_run(env, board, tmp_path):
    profile = _board(board, tmp_path, env)
    proc = run_cli("devices", "check", str(profile), "--json", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["python"].startswith(env.python + ".")
    on_device = out["on_device"]
    assert on_device["runtimes"] == env.runtimes
    assert on_device["warnings"] == []
    assert on_device["pieces"]["sampler"] == "yes"
    if env.tflite:
        assert on_device["pieces"]["agent"].startswith(f"yes: tflite via {env.tflite}")
        assert on_device["pieces"]["ceilings"] == "yes"
    else:
        assert on_device["pieces"]["agent"] == "yes: onnx via onnxruntime"
        assert on_device["pieces"]["ceilings"].startswith("partly: no TFLite runtime")
