"""`harness ab` on an ssh board: a real OpenSSH server on loopback, both arms through it, interleaved."""

from __future__ import annotations

import json
import sys

import pytest

from harness.store.store import RunStore
from tests.ssh.sshd import SshdServer

pytestmark = pytest.mark.timeout(600)


def test_ab_interleaves_both_arms_on_the_ssh_board(cli, sshd: SshdServer, tmp_path):
    profile = sshd.write_profile(tmp_path / "board-a.yaml", "board-a", defaults={"python": sys.executable})
    proc = cli("ab", "-d", str(profile), "--baseline", "kws01-int8-tflite",
               "--candidate", "mobilenet_v2_1.0_224-int8-tflite", "--repeat", "3", "--reruns", "0",
               "--count", "10", "--no-telemetry", "--no-thermal-gate", "--idle", "0", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr  # the 100× bigger candidate regressed
    out = json.loads(proc.stdout)
    (look,) = out["looks"]
    (m,) = look["measures"]
    assert m["verdict"]["verdict"] == "regressed" and m["verdict"]["ratio"] > 2
    runs = sorted(RunStore(tmp_path / "results").manifests(), key=lambda r: r.started_at)
    assert [r.metadata["ab.arm"] for r in runs] == ["baseline", "candidate"] * 3
    assert {r.device.id for r in runs} == {"board-a"} and all(r.status == "ok" for r in runs)
    assert "Accepted publickey" in sshd.log  # every run went through the real server
