"""The farm on a three-host Ray cluster on loopback, with real peers and real faults.

lab-a (head): two sshd boards; lab-b: the ADB emulator and an sshd board; lab-c: a QEMU
MCU. Each test runs a plan with `harness.farm.scheduler.run_plan` against the cluster's
address, as `harness farm run --address` does, and reads the records back from the one
results store.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.farm.plan import load_plan
from harness.farm.registry import Registry
from harness.farm.results import EXIT_FAILED, EXIT_INFRA, EXIT_OK, FAILED, PASSED, SKIPPED
from harness.farm.scheduler import Timeouts, run_plan
from harness.store.store import RunStore
from tests.farm.conftest import night_until, write_plan
from tests.farm.lab import HOSTS, write_farm

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

HOST_OF = {d: h for h, devices in HOSTS.items() for d in devices}


def _run(lab, plan_path: Path, results: Path, **kw):
    return run_plan(load_plan(plan_path, kw.pop("tags", None)), RunStore(results), lab.address, **kw)


def _records(results: Path):
    return {m.run_id: m for m in RunStore(results).manifests()}


def test_a_plan_runs_across_three_hosts_into_one_store(lab, peers, tmp_path):
    peers.all()
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles)
    plan = write_plan(tmp_path / "plan.yaml", farm, ["kws01-int8-tflite", "ad01-int8-tflite"],
                      ["board", "phone", "mcu"], tags={"build": "b42"})
    results = tmp_path / "results"
    events = []
    out = _run(lab, plan, results, tags={"nightly": "n-001"}, on_event=lambda what, info: events.append((what, info)))

    assert out.exit_code == EXIT_OK, [(r.job.name, r.status, r.reason) for r in out.results]
    assert [r.status for r in out.results] == [PASSED] * 6
    records = _records(results)
    assert len(records) == 6  # every record in the one store, whichever host measured it
    for r in out.results:
        (attempt,) = r.attempts
        m = records[attempt.run_id]
        assert m.status == "ok" and m.device.id == attempt.device
        assert m.metadata["farm.host"] == HOST_OF[attempt.device]  # measured where the device is attached
        assert m.metadata["farm.device_class"] == r.job.device_class
        assert m.metadata["nightly"] == "n-001" and m.metadata["build"] == "b42"
        assert m.metadata["farm.job"] == r.job.key and m.metadata["farm.attempt"] == "1"
        for table, rows in m.tables.items():  # the tables came along with the manifest
            assert (results / m.run_id / f"{table}.parquet").is_file() == (rows > 0)
        if r.job.device_class != "phone":  # benchmark_model gives aggregates, no samples
            assert m.tables["samples"] > 0 and m.summary.latency is not None
    used = {r.attempts[0].device for r in out.results if r.job.device_class == "board"}
    assert used <= {"board-a1", "board-a2", "board-b1"}
    # the two board jobs ran at the same time, on two devices
    boards = [r.attempts[0] for r in out.results if r.job.device_class == "board"]
    assert boards[0].device != boards[1].device
    assert boards[0].t_start < boards[1].t_end and boards[1].t_start < boards[0].t_end
    health = Registry(results)
    ran = {a.device for r in out.results for a in r.attempts}
    assert {health.health(d).state for d in ran} == {"good"}  # a passing job makes a device good


def test_a_killed_node_mid_job_is_retried_on_an_equivalent_device(lab, peers, tmp_path):
    """lab-b dies while board-b1 runs a job: the attempt is recorded as a transient
    `node_lost` failure, the job runs again on a board of lab-a, nothing hangs."""
    for d in ("board-a1", "board-a2", "board-b1"):
        peers.board(d)
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles)
    long_job = {"stop": {"mode": "fixed", "time_s": 6.0}}
    plan = write_plan(tmp_path / "plan.yaml", farm, ["kws01-int8-tflite", "ad01-int8-tflite", "vww01-int8-tflite"],
                      ["board"], defaults=long_job)
    results = tmp_path / "results"
    killed = threading.Event()

    def kill_when_measuring(what, info):
        if what == "dispatched" and info["device"] == "board-b1" and not killed.is_set():
            killed.set()
            threading.Thread(target=_kill_once_running, args=(lab, peers, "board-b1", "lab-b"), daemon=True).start()

    t0 = time.monotonic()
    out = _run(lab, plan, results, on_event=kill_when_measuring)
    assert killed.is_set()
    # Ray itself must have declared the node dead (not just a slow reply) before we conclude
    lab.wait_hosts({"lab-b"}, timeout=60, dead=True)
    assert time.monotonic() - t0 < 240

    lost = [r for r in out.results if any(a.device == "board-b1" for a in r.attempts)]
    assert len(lost) == 1, [(r.job.name, r.attempts) for r in out.results]
    job = lost[0]
    assert job.status == PASSED
    first, second = job.attempts
    assert (first.device, first.outcome, first.kind) == ("board-b1", "node_lost", "node_lost")
    assert second.device in ("board-a1", "board-a2") and second.outcome == "ok"
    records = _records(results)
    lost_record = records[first.run_id]
    assert lost_record.status == "failed"
    assert lost_record.error.kind == "node_lost" and lost_record.error.transient is True
    assert lost_record.metadata["farm.attempt"] == "1" and records[second.run_id].metadata["farm.attempt"] == "2"
    assert out.exit_code == EXIT_OK  # the retry passed
    # a node death alone is not a device fault: board-b1 is 'unknown', not suspect or quarantined
    assert Registry(results).health("board-b1").state == "unknown"


def _kill_once_running(lab, peers, device: str, host: str) -> None:
    from tests.ssh.test_run_over_ssh import agent_pids

    server = peers.sshd[device]
    deadline = time.monotonic() + 60
    while not agent_pids(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    lab.kill(host)


def test_a_vanished_device_hangs_nothing(lab, peers, tmp_path):
    """board-a2's sshd is gone and the phone's emulator too: the liveness checks fail, both
    are quarantined, board jobs finish on the other boards, phone jobs end as infrastructure."""
    for d in ("board-a1", "board-a2", "board-b1"):
        peers.board(d)
    peers.emulated_phone()
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles)
    peers.sshd["board-a2"].stop()
    peers.phone.emulator.stop()
    # A device is checked before each job it asks for: if board-a2's actor came up after
    # board-a1 and board-b1 had taken every board job, it was never checked (health
    # 'unknown'), which is right but not the case under test; the night is run again with
    # twice the jobs (option sets) until board-a2 asked for one.
    def night(sets: int):
        plan = write_plan(tmp_path / f"plan-{sets}.yaml", farm, ["kws01-int8-tflite", "ad01-int8-tflite"],
                          ["board", "phone"], matrix={"options": [{"seed": i} for i in range(sets)]})
        results = tmp_path / f"results-{sets}"
        t0 = time.monotonic()
        out = _run(lab, plan, results)
        assert time.monotonic() - t0 < 180
        return out, Registry(results)

    def a2_was_checked(result) -> bool:
        _, reg = result
        return bool(reg.recent_checks("board-a2", 1))

    sets, (out, reg) = night_until((1, 2, 4), night, a2_was_checked, "board-a2 asked for a job")
    by_class = {}
    for r in out.results:
        by_class.setdefault(r.job.device_class, []).append(r)
    assert [r.status for r in by_class["board"]] == [PASSED] * 2 * sets
    assert all(r.attempts[0].device != "board-a2" for r in by_class["board"])
    assert [r.status for r in by_class["phone"]] == [SKIPPED] * 2 * sets
    assert all("phone-1" in r.reason and "liveness check failed" in r.reason for r in by_class["phone"])
    assert out.exit_code == EXIT_INFRA
    assert reg.health("board-a2").state == "quarantined"
    assert reg.health("phone-1").state == "quarantined"
    assert "cannot connect" in reg.health("board-a2").reason


def test_a_device_whose_host_is_not_in_the_cluster_is_reported_not_waited_for(lab, peers, tmp_path):
    """Ray would wait forever for a resource no node has: the farm checks the node table first."""
    peers.board("board-a1")
    peers.board("board-z9")
    hosts = {"lab-a": ["board-a1"], "lab-z": ["board-z9"]}
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles, hosts=hosts)
    plan = write_plan(tmp_path / "plan.yaml", farm, ["kws01-int8-tflite"], ["board"])
    out = _run(lab, plan, tmp_path / "results")
    (job,) = out.results
    assert job.status == PASSED and job.attempts[0].device == "board-a1"
    (z9,) = [d for d in out.devices if d.id == "board-z9"]
    assert "no live Ray node advertises device:board-z9" in z9.reason and "lab-z" in z9.reason


def test_a_permanent_failure_is_reported_once_not_retried(lab, peers, tmp_path):
    import numpy as np

    for d in ("board-a1", "board-a2", "board-b1"):
        peers.board(d)
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, 3), dtype=np.float32))  # the model wants [1, 49, 10, 1]
    plan = write_plan(tmp_path / "plan.yaml", farm, ["kws01-int8-tflite"], ["board"],
                      matrix={"options": [{}, {"inputs": str(wrong)}]})
    results = tmp_path / "results"
    out = _run(lab, plan, results)
    good, bad = out.results
    assert good.status == PASSED
    assert bad.status == FAILED and len(bad.attempts) == 1  # never retried
    assert bad.attempts[0].outcome == "permanent" and "shape" in bad.attempts[0].message
    assert out.exit_code == EXIT_FAILED
    assert len(_records(results)) == 2
    # the device did its job: a model/config failure is not a device fault
    assert Registry(results).health(bad.attempts[0].device).state == "good"


def test_a_device_that_keeps_failing_is_quarantined_and_the_plan_completes_on_the_others(lab, peers, tmp_path):
    """board-a2 hangs every job (its 'python' never returns): each job is abandoned at the
    plan's job_timeout_s (a transient failure the farm itself sees), retried on another
    board; after 3 such failures in its last 10 jobs board-a2 is quarantined."""
    hung = tmp_path / "hung-python"
    hung.write_text("#!/bin/sh\nexec sleep 600\n")
    hung.chmod(0o755)
    peers.board("board-a1")
    peers.board("board-a2", python=str(hung))
    peers.board("board-b1")
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles)
    models = ["kws01-int8-tflite", "ad01-int8-tflite", "vww01-int8-tflite", "ic01-int8-tflite"]
    # healthy jobs measure 6 s each, so the two healthy boards are still busy with the plan
    # when board-a2 has failed its third job (3 × the 25 s limit)
    plan = write_plan(tmp_path / "plan.yaml", farm, models, ["board"], defaults={"stop": {"mode": "fixed", "time_s": 6}},
                      matrix={"options": [{"seed": s} for s in range(6)]}, job_timeout_s=25)
    results = tmp_path / "results"
    out = _run(lab, plan, results, timeouts=Timeouts(abort_grace_s=20))
    assert [r.status for r in out.results] == [PASSED] * 24, [(r.job.name, r.status, r.reason) for r in out.results]
    on_a2 = [a for r in out.results for a in r.attempts if a.device == "board-a2"]
    assert len(on_a2) == 3 and {a.outcome for a in on_a2} == {"transient"} and {a.kind for a in on_a2} == {"timeout"}
    reg = Registry(results)
    assert reg.health("board-a2").state == "quarantined"
    assert "3 transient failures" in reg.health("board-a2").reason
    assert out.exit_code == EXIT_OK
    # every attempt has its record: 24 passing ones and the abandoned ones (on a busy
    # machine a healthy board may also outlive the limit once: retried, not quarantined)
    attempts = [a for r in out.results for a in r.attempts]
    assert len(_records(results)) == len(attempts) >= 27
    assert {d.id for d in out.devices if d.state == "quarantined"} == {"board-a2"}


def test_a_link_lost_mid_job_is_retried_on_another_board_and_marks_the_device_suspect(lab, peers, tmp_path):
    """The session classifies a connection cut in the middle of a run as a transient
    `link_lost`; the farm retries the job on another board of the class, once."""
    for d in ("board-a1", "board-a2", "board-b1"):
        peers.board(d)
    farm = write_farm(tmp_path / "farm.yaml", peers.profiles)
    plan = write_plan(tmp_path / "plan.yaml", farm, ["kws01-int8-tflite"], ["board"],
                      defaults={"stop": {"mode": "fixed", "time_s": 6.0}})
    cut = threading.Event()

    def cut_the_link(what, info):
        if what == "dispatched" and not cut.is_set():
            cut.set()
            threading.Thread(target=_drop_once_running, args=(peers.sshd[info["device"]],), daemon=True).start()

    out = _run(lab, plan, tmp_path / "results", on_event=cut_the_link)
    (job,) = out.results
    first, second = job.attempts
    assert (first.outcome, first.kind) == ("transient", "link_lost")
    assert second.device != first.device and second.outcome == "ok" and job.status == PASSED
    assert Registry(tmp_path / "results").health(first.device).state == "suspect"


def _drop_once_running(server) -> None:
    from tests.ssh.test_run_over_ssh import agent_pids

    deadline = time.monotonic() + 60
    while not agent_pids(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    server.drop_connections()
