"""tegrastats during a trtexec run: a Jetson profile (sensors.tegrastats) gets the board's
rails, temperatures and GPU load in the run's telemetry, on the clock of the queries. The
target is the local transport with a `tegrastats` that replays a verbatim Orin capture (the
tool only exists on Jetson); trtexec is the stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from harness import zoo
from harness.store.store import RunStore
from tests.telemetry.sampler_env import fake_tools
from tests.trtexec.conftest import install_standin

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def test_tegrastats_rows_recorded_inside_the_timed_run(tmp_path):
    tool = install_standin(tmp_path / "tensorrt")
    profile = tmp_path / "jetson-local.yaml"
    profile.write_text(yaml.safe_dump({
        "id": "jetson-local", "name": "Jetson stand-in (local)",
        "transport": {"kind": "local", "workdir": str(tmp_path / "work")},
        "sensors": {"tegrastats": True, "rate_hz": 10},
        "runtimes": ["trtexec"],
    }, sort_keys=False))
    env = {**os.environ, "PATH": f"{fake_tools(tmp_path)}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--runtime", "trtexec", "-d", str(profile),
         "-m", str(zoo.model_file("mobilenet_v2_0.35_96-fp32-onnx")), "-o", f"trtexec={tool}",
         "--count", "20", "--time", "1.5", "--no-thermal-gate", "--baseline", "0.3", "-o", "op_profile=0",
         "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    assert "Traceback" not in proc.stderr, proc.stderr
    (brief,) = json.loads(proc.stdout)
    assert proc.returncode == 0 and brief["status"] == "ok", (proc.stderr, brief.get("error"))
    run = RunStore(tmp_path / "results").load(brief["run_id"])
    tele = run.telemetry.to_pylist()
    by_channel: dict[str, list[dict]] = {}
    for row in tele:
        by_channel.setdefault(row["channel"], []).append(row)
    # the capture's figures, in SI units (agx_orin_64gb_r36.4.4_jp6_3lines.txt)
    assert all(r["value"] == pytest.approx(2.412) for r in by_channel["power/VDD_GPU_SOC"])
    assert {r["unit"] for r in by_channel["power/VDD_GPU_SOC"]} == {"W"}
    assert all(r["value"] in (pytest.approx(52.562), pytest.approx(52.343), pytest.approx(52.156))
               for r in by_channel["thermal/tj"])
    assert "freq/gpu" in by_channel and "load/gpu" in by_channel
    # on the queries' clock: tegrastats lines were read while trtexec's timed queries ran
    starts = run.samples["start_ns"].to_pylist()
    assert len(starts) == run.samples.num_rows >= 20
    first, last = min(starts), max(starts)
    assert any(first <= r["t_ns"] <= last for r in by_channel["power/VDD_GPU_SOC"])
