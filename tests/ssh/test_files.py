"""SFTP push/pull/read_file, and the sha256 skip (sidecar fast path, then sha256sum on the target)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from harness.errors import TransportError

pytestmark = pytest.mark.timeout(60)


def _file(path, data: bytes):
    path.write_bytes(data)
    # as model files usually are: not seconds old (a file whose mtime is "now" gets no
    # sidecar, since a change on the target within that second could keep its mtime)
    os.utime(path, (time.time() - 60,) * 2)
    return path


def test_push_uploads_once_then_skips_identical_content(ssh, sshd, tmp_path):
    src = _file(tmp_path / "model.tflite", os.urandom(300_000))
    remote = ssh.path("models", "m1", "model.tflite")
    assert ssh.push(src, remote) is True
    landed = sshd.dir / "work" / "models" / "m1" / "model.tflite"
    assert landed.read_bytes() == src.read_bytes()
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    # The sidecar is in sha256sum's format, so `sha256sum -c` on the target agrees.
    assert (landed.parent / "model.tflite.sha256").read_text() == f"{digest}  model.tflite\n"
    assert ssh.run(["sha256sum", "-c", "model.tflite.sha256"], timeout=20, cwd=str(landed.parent)).ok
    assert ssh.push(src, remote) is False
    assert not (landed.parent / "model.tflite.part").exists()


def test_push_sends_again_when_the_target_copy_changed(ssh, sshd, tmp_path):
    src = _file(tmp_path / "m.bin", b"A" * 1000)
    remote = ssh.path("m.bin")
    assert ssh.push(src, remote) is True
    landed = sshd.dir / "work" / "m.bin"
    # Same size, different bytes, written after the sidecar: the fast path must not trust it.
    later = time.time() + 5
    landed.write_bytes(b"B" * 1000)
    os.utime(landed, (later, later))
    assert ssh.push(src, remote) is True
    assert landed.read_bytes() == b"A" * 1000


def test_push_skips_by_sha256sum_when_there_is_no_sidecar(ssh, sshd, tmp_path):
    src = _file(tmp_path / "m.bin", os.urandom(5000))
    landed = sshd.dir / "work" / "m.bin"
    landed.write_bytes(src.read_bytes())  # already there, put by someone else
    os.utime(landed, (time.time() - 60,) * 2)
    assert ssh.push(src, ssh.path("m.bin")) is False
    assert (sshd.dir / "work" / "m.bin.sha256").exists()  # and the next push takes the fast path


def test_push_sends_when_a_stale_sidecar_disagrees_with_the_local_file(ssh, sshd, tmp_path):
    src = _file(tmp_path / "m.bin", b"new content")
    assert ssh.push(_file(tmp_path / "old.bin", b"old content"), ssh.path("m.bin")) is True
    assert ssh.push(src, ssh.path("m.bin")) is True
    assert (sshd.dir / "work" / "m.bin").read_bytes() == b"new content"


def test_push_keeps_the_executable_bit(ssh, sshd, tmp_path):
    src = _file(tmp_path / "tool", b"#!/bin/sh\necho tool ran\n")
    src.chmod(0o755)
    remote = ssh.path("bin", "tool")
    ssh.push(src, remote)
    assert ssh.run([remote], timeout=20).stdout == "tool ran\n"


def test_hostile_file_names_are_just_names(ssh, sshd, tmp_path):
    name = "a b;touch pwned$(id).tflite"
    src = _file(tmp_path / name, b"TFL3 not really")
    remote = ssh.path("models", name)
    assert ssh.push(src, remote) is True
    assert ssh.push(src, remote) is False
    # and through the sha256sum path (quoted on the remote shell): without the sidecar
    (sshd.dir / "work" / "models" / f"{name}.sha256").unlink()
    assert ssh.push(src, remote) is False
    assert ssh.run(["cat", remote], timeout=20, cwd=ssh.workdir).stdout == "TFL3 not really"
    assert ssh.read_file(remote) == b"TFL3 not really"
    pulled = tmp_path / "back"
    ssh.pull(remote, pulled)
    assert pulled.read_bytes() == b"TFL3 not really"
    everywhere = [sshd.dir, tmp_path, os.path.expanduser("~"), os.getcwd()]
    assert not [p for d in everywhere for p in os.listdir(d) if p.startswith("pwned")]


def test_read_file_and_pull_of_a_missing_file_name_the_file(ssh, tmp_path):
    with pytest.raises(TransportError, match="read /nonexistent/x: no such file"):
        ssh.read_file("/nonexistent/x")
    with pytest.raises(TransportError, match="pull /nonexistent/x: no such file"):
        ssh.pull("/nonexistent/x", tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


def test_pull_round_trip_of_a_larger_file(ssh, sshd, tmp_path):
    data = os.urandom(3_000_000)
    (sshd.dir / "work" / "big").write_bytes(data)
    ssh.pull(ssh.path("big"), tmp_path / "big")
    assert (tmp_path / "big").read_bytes() == data


def test_push_keeps_the_local_mtime_and_a_fresh_file_gets_no_sidecar(ssh, sshd, tmp_path):
    src = _file(tmp_path / "m.bin", b"M" * 100)
    assert ssh.push(src, ssh.path("m.bin")) is True
    landed = sshd.dir / "work" / "m.bin"
    assert landed.stat().st_mtime == int(src.stat().st_mtime)
    # the sidecar's mtime is the file's when its digest was recorded
    assert (sshd.dir / "work" / "m.bin.sha256").stat().st_mtime == landed.stat().st_mtime
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"F" * 10)
    assert ssh.push(fresh, ssh.path("fresh.bin")) is True
    assert not (sshd.dir / "work" / "fresh.bin.sha256").exists()
    assert ssh.push(fresh, ssh.path("fresh.bin")) is False  # hashed on the target instead
