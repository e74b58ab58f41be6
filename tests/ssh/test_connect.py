"""Connecting: host-key policy, auth (key file, ssh-agent), refused ports, a jump host."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time

import pytest

from harness.errors import TransportError
from harness.transports.ssh import SshTransport, parse_jump
from tests.ssh.sshd import _keygen, start_sshd

pytestmark = pytest.mark.timeout(60)


def test_unknown_host_key_is_refused_with_a_command_that_fixes_it(sshd, tmp_path):
    kh = tmp_path / "empty_known_hosts"
    kh.write_text("")
    t = SshTransport(sshd.profile(known_hosts=str(kh)))
    with pytest.raises(TransportError) as exc:
        t.open()
    msg = str(exc.value)
    assert "host key unknown" in msg and "trust-on-first-use" in msg
    # The fingerprint shown is the server's real one (as ssh-keygen prints it).
    fp = subprocess.run(["ssh-keygen", "-lf", f"{sshd.host_key_path}.pub"], capture_output=True, text=True).stdout
    assert fp.split()[1] in msg
    # Running the suggested command really makes the key known.
    suggested = re.search(r"`(ssh-keyscan [^`]+)`", msg).group(1)
    assert suggested == f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {kh}"
    scan, _, target = suggested.partition(" >> ")
    out = subprocess.run(shlex.split(scan), capture_output=True, text=True, timeout=20).stdout
    with open(target, "a") as f:
        f.write(out)
    with SshTransport(sshd.profile(known_hosts=str(kh))) as t2:
        assert t2.run(["echo", "ok"], timeout=20).stdout == "ok\n"
        assert t2.notes == []


def test_a_changed_host_key_is_refused(sshd, tmp_path):
    other = tmp_path / "other_host_key"
    _keygen(other, "impostor")
    kh = tmp_path / "known_hosts"
    kind, b64 = (other.with_suffix(".pub")).read_text().split()[:2]
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    with pytest.raises(TransportError, match=r"host key CHANGED.*ssh-keygen -R"):
        SshTransport(sshd.profile(known_hosts=str(kh))).open()


def test_trust_on_first_use_records_the_key_and_says_so(sshd, tmp_path):
    kh = tmp_path / "new" / "known_hosts"  # the folder does not exist yet either
    with SshTransport(sshd.profile(known_hosts=str(kh), host_key_policy="trust-on-first-use")) as t:
        assert t.run(["true"], timeout=20).ok
        assert len(t.notes) == 1 and "trusted on first use" in t.notes[0]
    assert kh.read_text() == sshd.host_key_line()
    # Next time the key is known: strict mode accepts it and nothing is noted.
    with SshTransport(sshd.profile(known_hosts=str(kh))) as t:
        assert t.run(["true"], timeout=20).ok
        assert t.notes == []


def test_hashed_known_hosts_entries_are_understood(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.host_key_line())
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "127.0.0.1" not in kh.read_text()
    with SshTransport(sshd.profile(known_hosts=str(kh))) as t:
        assert t.run(["true"], timeout=20).ok


def test_wrong_key_is_an_authentication_error(sshd, tmp_path):
    stranger = tmp_path / "stranger"
    _keygen(stranger, "stranger")
    with pytest.raises(TransportError, match="authentication failed"):
        SshTransport(sshd.profile(key=str(stranger))).open()


def test_auth_through_a_real_ssh_agent(sshd, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", str(sshd.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
        with SshTransport(sshd.profile(key=None)) as t:
            assert t.run(["echo", "via agent"], timeout=20).stdout == "via agent\n"
        monkeypatch.delenv("SSH_AUTH_SOCK")
        with pytest.raises(TransportError, match="authentication failed"):
            SshTransport(sshd.profile(key=None)).open()
    finally:
        agent.terminate()
        agent.wait(10)


def test_nothing_listening_is_connection_refused(sshd):
    profile = sshd.profile()
    sshd.stop()
    with pytest.raises(TransportError, match="connection refused"):
        SshTransport(profile).open()


def test_jump_host_reaches_the_target_through_a_forwarded_channel(tmp_path, request):
    jump = start_sshd(tmp_path, "jump", log_level="DEBUG1")  # DEBUG1 logs direct-tcpip requests
    target = start_sshd(tmp_path, "target")
    request.addfinalizer(jump.stop)
    request.addfinalizer(target.stop)
    # One client key and one known_hosts file for both, as a user's ~/.ssh would hold.
    (jump.dir / "authorized_keys").write_text(target.client_key.with_suffix(".pub").read_text())
    kh = tmp_path / "known_hosts"
    kh.write_text(jump.host_key_line() + target.host_key_line())
    profile = target.profile(known_hosts=str(kh), jump=f"{jump.user}@127.0.0.1:{jump.port}")
    with SshTransport(profile) as t:
        assert t.run(["echo", "hop"], timeout=20).stdout == "hop\n"
    # The jump server forwarded a channel to the target's port.
    assert re.search(rf"direct_tcpip: originator .* target 127\.0\.0\.1 port {target.port}", jump.log), jump.log


def test_jump_host_whose_key_is_unknown_is_refused(sshd_pair, tmp_path):
    jump, target = sshd_pair
    (jump.dir / "authorized_keys").write_text(target.client_key.with_suffix(".pub").read_text())
    profile = target.profile(jump=f"127.0.0.1:{jump.port}")  # known_hosts has only the target
    with pytest.raises(TransportError, match=f"127.0.0.1:{jump.port}: host key unknown"):
        SshTransport(profile).open()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gw", ("me", "gw", 22)),
        ("pi@gw:2222", ("pi", "gw", 2222)),
        ("[fe80::1]:22", ("me", "fe80::1", 22)),
        ("fe80::1", ("me", "fe80::1", 22)),
    ],
)
def test_parse_jump(spec, expected):
    assert parse_jump(spec, "me") == expected


def test_parse_jump_rejects_a_bad_port():
    with pytest.raises(TransportError, match="not a number"):
        parse_jump("gw:ssh", None)
