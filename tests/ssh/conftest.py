"""Fixtures: real OpenSSH servers on loopback acting as Linux boards (see sshd.py)."""

from __future__ import annotations

import pytest

from tests.ssh.sshd import SshdServer, start_sshd


@pytest.fixture
def sshd(tmp_path) -> SshdServer:
    server = start_sshd(tmp_path, "board-a")
    yield server
    server.stop()


@pytest.fixture
def sshd_pair(tmp_path) -> tuple[SshdServer, SshdServer]:
    """Two servers: two boards (concurrent runs), or a jump host and a target."""
    a = start_sshd(tmp_path, "board-a")
    b = start_sshd(tmp_path, "board-b")
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def ssh(sshd):
    """An open ssh transport to `sshd`."""
    from harness.transports.ssh import SshTransport

    t = SshTransport(sshd.profile()).open()
    yield t
    t.close()
