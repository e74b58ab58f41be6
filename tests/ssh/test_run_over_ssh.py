"""`harness run` over ssh, end to end: real sshd, real agent, records read back.

The loopback "board" runs the agent with the harness venv's Python (`defaults.python`),
which has LiteRT; everything else (push, quoting, streaming, kill) goes through sshd.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.store.store import RunStore
from tests.processes import agent_pids as agent_pids_of
from tests.ssh.sshd import SshdServer

pytestmark = pytest.mark.timeout(120)

QUICK = ("--min-time", "0.3", "--max-time", "2", "--no-thermal-gate")
LONG = ("--ci-target", "0.0000001", "--min-time", "60", "--max-time", "60", "--no-thermal-gate")


@pytest.fixture
def model(tmp_path) -> Path:
    """A small real TFLite model (shipped with the tflite-micro dependency)."""
    import tflite_micro

    src = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    dst = tmp_path / "models" / "sine.tflite"
    dst.parent.mkdir()
    shutil.copy(src, dst)
    return dst


def board_profile(server: SshdServer, tmp_path: Path, name: str, **transport) -> Path:
    return server.write_profile(tmp_path / f"{name}.yaml", name, defaults={"python": sys.executable}, **transport)


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "run", *args, "--json"]


def runs_of(proc: subprocess.CompletedProcess) -> list[dict]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def agent_pids(server: SshdServer) -> list[int]:
    """Agent processes started through this server (the agent and the models live in its work folder)."""
    return agent_pids_of(str(server.dir / "work").encode())


def wait_for_agent(server: SshdServer, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not agent_pids(server):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the agent never started on the board"
        time.sleep(0.1)


def wait_for_agent_cpu(server: SshdServer, cpu_s: float, timeout: float = 120) -> None:
    """Until the agent has used `cpu_s` of CPU: past loading and warmup on a busy host too,
    where a fixed sleep after its start may still find it importing its runtime."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in agent_pids(server):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if (int(fields[11]) + int(fields[12])) / tick >= cpu_s:  # utime + stime
                return
        time.sleep(0.1)
    raise AssertionError(f"the agent did not use {cpu_s} s of CPU within {timeout} s")


def kind(obj) -> str:
    return "number" if isinstance(obj, (int, float)) and not isinstance(obj, bool) else type(obj).__name__


def shape_differences(a, b, path="record") -> list[str]:
    """Where two JSON documents differ in structure (keys and value kinds), not in values.

    A null on one side matches any value on the other: an optional figure (a CI that needs
    more blocks than a short run on a busy machine gives) may be missing on either transport.
    """
    if a is None or b is None:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: keys {sorted(set(a) ^ set(b))} on one side only"] if set(a) != set(b) else []
        for k in sorted(set(a) & set(b)):
            out += shape_differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        return shape_differences(a[0], b[0], f"{path}[0]") if a and b else []
    return [] if kind(a) == kind(b) else [f"{path}: {kind(a)} vs {kind(b)}"]


def test_ssh_and_local_records_have_the_same_schema(sshd, tmp_path, model):
    # Trust-on-first-use, so the record must say the host key was trusted.
    empty_kh = tmp_path / "fresh_known_hosts"
    prof = board_profile(sshd, tmp_path, "board-a", known_hosts=str(empty_kh), host_key_policy="trust-on-first-use")
    proc = subprocess.run(
        harness_cmd("-d", "local", "-d", str(prof), "-m", str(model), "--threads", "1", *QUICK),
        cwd=tmp_path, capture_output=True, text=True, timeout=100,
    )
    assert proc.returncode == 0, proc.stderr
    local, remote = runs_of(proc)
    assert (local["transport"], remote["transport"]) == ("local", "ssh")
    assert local["status"] == remote["status"] == "ok"
    assert remote["latency"]["n"] > 0 and remote["cold"]["init_s"] > 0
    assert shape_differences(local, remote) == []

    store = RunStore(tmp_path / "results")
    a, b = store.load(local["run_id"]), store.load(remote["run_id"])
    for table in ("samples", "telemetry", "ops"):
        fa, fb = a.path / f"{table}.parquet", b.path / f"{table}.parquet"
        assert fa.exists() == fb.exists()
        if fa.exists():
            assert pq.read_schema(fa) == pq.read_schema(fb)
    ma, mb = a.manifest.model_dump(mode="json"), b.manifest.model_dump(mode="json")
    assert set(ma) == set(mb)
    assert set(ma["summary"]) == set(mb["summary"]) and set(ma["phases"]) == set(mb["phases"])
    assert mb["model"]["sha256"] == ma["model"]["sha256"]
    assert any("trusted on first use" in n for n in mb["notes"])
    assert empty_kh.read_text() == sshd.host_key_line()


def test_hostile_model_name_runs_and_creates_nothing(sshd, tmp_path, model):
    hostile = model.with_name("a b;touch pwned$(id).tflite")
    shutil.copy(model, hostile)
    prof = board_profile(sshd, tmp_path, "board-a")
    proc = subprocess.run(
        harness_cmd("-d", str(prof), "-m", str(hostile), *QUICK), cwd=tmp_path, capture_output=True, text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = runs_of(proc)
    assert run["status"] == "ok" and run["model"] == "a b;touch pwned$(id)"
    pushed = list((sshd.dir / "work" / "models").rglob("*.tflite"))
    assert [p.name for p in pushed] == [hostile.name]
    for where in (tmp_path, sshd.dir, Path.home(), Path("/tmp"), Path.cwd()):
        assert not list(where.glob("pwned*")), where
    assert not list(sshd.dir.rglob("pwned*"))


def test_two_boards_measured_concurrently(sshd_pair, tmp_path, model):
    a, b = sshd_pair
    procs = [
        subprocess.Popen(
            harness_cmd("-d", str(board_profile(s, tmp_path, name)), "-m", str(model), *QUICK),
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for s, name in ((a, "board-a"), (b, "board-b"))
    ]
    outs = [p.communicate(timeout=100) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    runs = [json.loads(o[0])[0] for o in outs]
    assert [r["device"] for r in runs] == ["board-a", "board-b"]
    assert all(r["status"] == "ok" for r in runs)
    store = RunStore(tmp_path / "results")
    ma, mb = (store.load(r["run_id"]).manifest for r in runs)
    assert ma.started_at < mb.finished_at and mb.started_at < ma.finished_at  # they overlapped


def test_killing_sshd_mid_run_fails_that_run_and_the_next_device_still_runs(sshd_pair, tmp_path, model):
    a, b = sshd_pair
    pa_, pb_ = board_profile(a, tmp_path, "board-a"), board_profile(b, tmp_path, "board-b")
    # Each run would last its full 4 s (the CI target is unreachable); board-a dies first.
    settings = ("--ci-target", "0.0000001", "--min-time", "4", "--max-time", "4", "--no-thermal-gate")
    proc = subprocess.Popen(
        harness_cmd("-d", str(pa_), "-d", str(pb_), "-m", str(model), *settings),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for_agent(a, proc)
    while not agent_pids_of(str(a.dir / "work").encode(), workers_only=True):  # the process that measures
        time.sleep(0.1)
    time.sleep(2.5)  # into the measurement (the worker imports its runtime, loads, warms up)
    a.stop()  # the board's sshd dies with every connection and command it served
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 1, err  # one run failed
    ra, rb = json.loads(out)
    assert ra["device"] == "board-a" and ra["status"] == "failed", err
    assert "connection lost" in ra["error"]["message"] and ra["error"]["stage"] == "run"
    assert ra["error"]["raw_output"]
    stored = RunStore(tmp_path / "results").load(ra["run_id"])
    events = [json.loads(line)["event"] for line in stored.raw("agent_events").splitlines()]
    assert events[:2] == ["hello", "runtime"] and "done" not in events
    assert stored.samples.num_rows > 0  # what was measured before the link died is kept
    # The harness stayed healthy: board-b was measured after board-a failed.
    assert rb["device"] == "board-b" and rb["status"] == "ok" and rb["latency"]["n"] > 0


def test_sigterm_during_an_ssh_run_kills_the_agent_on_the_board(sshd, tmp_path, model):
    prof = board_profile(sshd, tmp_path, "board-a")
    proc = subprocess.Popen(
        harness_cmd("-d", str(prof), "-m", str(model), *LONG), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for_agent(sshd, proc)
    wait_for_agent_cpu(sshd, 3.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (run,) = json.loads(out)
    assert run["status"] == "aborted" and run["latency"]["n"] > 0
    assert agent_pids(sshd) == []


def test_unknown_host_key_fails_the_run_with_the_fix_in_the_record(sshd, tmp_path, model):
    kh = tmp_path / "kh"
    kh.write_text("")
    prof = board_profile(sshd, tmp_path, "board-a", known_hosts=str(kh))
    proc = subprocess.run(
        harness_cmd("-d", str(prof), "-m", str(model), *QUICK), cwd=tmp_path, capture_output=True, text=True,
        timeout=100,
    )
    assert proc.returncode == 1
    (run,) = runs_of(proc)
    assert run["status"] == "failed" and run["error"]["stage"] == "connect"
    assert "host key unknown" in run["error"]["message"] and "ssh-keyscan" in run["error"]["message"]
    assert agent_pids(sshd) == [] and not (sshd.dir / "work" / "agent").exists()


def test_agent_runs_pinned_to_the_profiles_cluster_with_its_thread_count(sshd, tmp_path, model):
    import yaml

    data = sshd.profile_dict("board-a", defaults={"python": sys.executable, "cluster": "second", "threads": 1})
    data["hardware"] = {"cpu_clusters": [{"name": "second", "core": "loopback", "cpus": [1]}]}
    prof = tmp_path / "pinned.yaml"
    prof.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        harness_cmd("-d", str(prof), "-m", str(model), *QUICK), cwd=tmp_path, capture_output=True, text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = runs_of(proc)
    m = RunStore(tmp_path / "results").load(run["run_id"]).manifest
    assert m.config.affinity_mask == "2" and m.config.threads == 1
    assert m.conditions["agent"]["affinity"] == [1]  # what the agent saw on the board
    assert m.runtime.details["threads"] == 1
    assert any(n.startswith("agent command: taskset 2 ") for n in m.notes)
