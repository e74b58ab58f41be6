"""known_hosts as OpenSSH writes it: marker lines, bad lines, paths that need quoting (issue 11)."""

from __future__ import annotations

import re
import subprocess

import pytest

from harness.errors import TransportConfigError, TransportError
from harness.transports.ssh import SshTransport
from tests.ssh.sshd import _keygen

pytestmark = pytest.mark.timeout(60)


def _other_key(tmp_path, name: str = "other") -> str:
    path = tmp_path / name
    _keygen(path, name)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _server_key(sshd) -> str:
    return " ".join(sshd.host_key_line().split()[1:3])


def test_cert_authority_and_revoked_lines_of_other_keys_do_not_stop_a_connection(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# written by OpenSSH and by hand\n"
        f"@cert-authority *.example.com {_other_key(tmp_path, 'ca')}\n"
        f"@revoked * {_other_key(tmp_path, 'old')}\n"
        "\n"
        + sshd.host_key_line()
    )
    with SshTransport(sshd.profile(known_hosts=str(kh))) as t:
        assert t.run(["echo", "ok"], timeout=20).stdout == "ok\n"
        notes = " ".join(t.notes)
    assert "@cert-authority" in notes and f"{kh}:2" in notes and "not checked" in notes


def test_a_revoked_key_is_refused_even_when_also_listed_as_known(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.host_key_line() + f"@revoked * {_server_key(sshd)}\n")
    with pytest.raises(TransportConfigError, match=rf"REVOKED.*{re.escape(str(kh))}:2"):
        SshTransport(sshd.profile(known_hosts=str(kh))).open()


def test_a_revoked_key_is_never_trusted_on_first_use(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(f"@revoked * {_server_key(sshd)}\n")
    with pytest.raises(TransportConfigError, match="REVOKED"):
        SshTransport(sshd.profile(known_hosts=str(kh), host_key_policy="trust-on-first-use")).open()
    assert kh.read_text() == f"@revoked * {_server_key(sshd)}\n"  # not appended


def test_a_malformed_line_is_skipped_with_a_note(sshd, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("garbage-host ssh-ed25519 not-base64!!\n@cert-authority\n" + sshd.host_key_line())
    with SshTransport(sshd.profile(known_hosts=str(kh))) as t:
        assert t.run(["true"], timeout=20).ok
        assert any(f"{kh}:1" in n and "skipped" in n for n in t.notes), t.notes


def test_the_unknown_host_hint_quotes_the_known_hosts_path(sshd, tmp_path):
    kh = tmp_path / "my keys" / "known hosts"
    kh.parent.mkdir()
    kh.write_text("")
    with pytest.raises(TransportError) as exc:
        SshTransport(sshd.profile(known_hosts=str(kh))).open()
    suggested = re.search(r"`(ssh-keyscan [^`]+)`", str(exc.value)).group(1)
    subprocess.run(["sh", "-c", suggested], check=True, capture_output=True, timeout=20)  # as pasted in a shell
    assert "ssh-ed25519" in kh.read_text()
    with SshTransport(sshd.profile(known_hosts=str(kh))) as t:
        assert t.run(["true"], timeout=20).ok
