"""SshTransport commands against a real sshd: quoting, streaming, timeouts, kills, lost links."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.errors import CommandTimeout, TransportError
from harness.transports.ssh import SshTransport

pytestmark = pytest.mark.timeout(60)

NASTY = ["a b", "x;touch pwned1", "$(touch pwned2)", "`touch pwned3`", "it's", '"q"', "*", "\\n", "-n", ""]


def pgid_members(t: SshTransport, pgid: int) -> list[str]:
    """Live processes on the target still in process group `pgid`, as seen by ps.

    Zombies (state Z) are left out: they have exited and wait only for their reaper.
    """
    out = t.run(["ps", "-e", "-o", "pgid=,pid=,stat=,args="], timeout=20).check().stdout
    rows = [line.split(None, 3) for line in out.splitlines()]
    return [" ".join(r) for r in rows if len(r) >= 3 and r[0] == str(pgid) and not r[2].startswith("Z")]


def test_arguments_reach_the_command_verbatim(ssh, sshd):
    res = ssh.run(["printf", "%s\\n", *NASTY], timeout=20, cwd=str(sshd.dir / "work"))
    assert res.ok, res.stderr
    assert res.stdout.split("\n")[:-1] == NASTY
    assert not list(sshd.dir.rglob("pwned*")) and not list(Path.home().glob("pwned*"))


def test_exit_status_stderr_env_and_cwd(ssh, sshd):
    work = sshd.dir / "work" / "sub dir"
    work.mkdir()
    res = ssh.run(
        ["sh", "-c", 'echo "$GREETING" in "$(pwd)"; echo oops >&2; exit 7'],
        timeout=20,
        env={"GREETING": "hi; there $(x)"},
        cwd=str(work),
    )
    assert res.returncode == 7
    assert res.stdout == f"hi; there $(x) in {work}\n"
    assert res.stderr == "oops\n"
    assert ssh.run(["no-such-program-xyz"], timeout=20).returncode == 127


def test_output_without_trailing_newline_is_kept_exactly(ssh):
    assert ssh.run(["printf", "a\\r\\nb"], timeout=20).stdout == "a\r\nb"


def test_stdout_lines_stream_while_the_command_runs(ssh, sshd):
    gate = sshd.dir / "work" / "gate"
    proc = ssh.start(["sh", "-c", 'echo ready; while [ ! -e "$1" ]; do sleep 0.05; done; echo done', "sh", str(gate)])
    lines = proc.lines()
    # The command cannot finish before the gate exists, so this line arrived while it ran.
    assert next(lines) == "ready"
    gate.touch()
    assert list(lines) == ["done"]
    assert proc.wait(10) == 0


def test_a_hung_command_is_killed_at_its_timeout_with_its_children(ssh, sshd):
    pidfile = sshd.dir / "work" / "pids"
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout, match="timeout and was killed") as exc:
        ssh.run(["sh", "-c", 'sleep 300 & sleep 301 & echo "$$" > "$1"; wait', "sh", str(pidfile)], timeout=1.5)
    assert time.monotonic() - t0 < 10
    pgid = int(pidfile.read_text())
    assert f"process group {pgid}" in str(exc.value)
    assert pgid_members(ssh, pgid) == []


def test_terminate_escalates_to_sigkill_for_a_process_ignoring_sigterm(ssh, sshd):
    proc = ssh.start(["sh", "-c", "trap '' TERM; echo up; sleep 300 & wait; sleep 300"])
    assert next(proc.lines()) == "up"
    t0 = time.monotonic()
    proc.terminate(grace_s=0.5)
    assert proc.wait(10) == -signal.SIGKILL
    assert time.monotonic() - t0 < 8
    assert pgid_members(ssh, proc.pgid) == []


def test_kill_all_stops_everything_started(ssh):
    procs = [ssh.start(["sh", "-c", "echo up; exec sleep 300"]) for _ in range(3)]
    for p in procs:
        assert next(p.lines()) == "up"
    ssh.kill_all()
    for p in procs:
        assert p.wait(10) == -signal.SIGTERM
        assert pgid_members(ssh, p.pgid) == []


def test_a_dropped_connection_raises_promptly_and_the_target_can_be_reached_again(sshd):
    t = SshTransport(sshd.profile()).open()
    proc = t.start(["sh", "-c", "echo up; while true; do echo tick; sleep 0.1; done"])
    lines = proc.lines()
    assert next(lines) == "up"
    sshd.drop_connections()
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="connection lost"):
        for _ in lines:
            pass
    assert time.monotonic() - t0 < 5
    with pytest.raises(TransportError, match="connection lost"):
        t.run(["true"], timeout=5)
    # The harness is not wedged: a fresh open reaches the (still listening) server.
    t.open()
    assert t.run(["echo", "back"], timeout=20).stdout == "back\n"
    t.close()
    # The orphaned command dies of SIGPIPE on its next write.
    deadline = time.monotonic() + 10
    while pgid_members(t.open(), proc.pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pgid_members(t, proc.pgid) == []
    t.close()


def test_two_boards_run_concurrently(sshd_pair):
    a, b = sshd_pair
    results: dict[str, str] = {}

    def work(server, name):
        with SshTransport(server.profile(name)) as t:
            results[name] = t.run(["sh", "-c", "sleep 1; echo $1", "sh", name], timeout=20).stdout

    threads = [threading.Thread(target=work, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert results == {"a": "a\n", "b": "b\n"}
    assert time.monotonic() - t0 < 4  # in parallel, not one after the other (each takes >= 1 s)


def test_a_wedged_peer_is_detected_by_unanswered_keepalives(sshd):
    # SIGSTOP the server side: the kernel still ACKs every packet, so only missing ssh
    # replies can tell; TCP alone would wait forever on a streaming read.
    t = SshTransport(sshd.profile(keepalive_s=1.0)).open()
    proc = t.start(["sh", "-c", "echo up; exec sleep 300"])
    lines = proc.lines()
    assert next(lines) == "up"
    stopped = sshd.connection_pids()
    try:
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(TransportError, match="no reply to keepalives"):
            next(lines)
        assert time.monotonic() - t0 < 8
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        t.close()
