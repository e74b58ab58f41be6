"""Fixtures shared by every test area: running the real `harness` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _own_device_locks(tmp_path_factory):
    """Each test process (xdist worker) its own host device locks (harness.device_lock): two
    workers' local runs do not wait for each other; the lock tests make their own folder."""
    os.environ.setdefault("HARNESS_LOCK_DIR", str(tmp_path_factory.mktemp("device-locks")))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`harness ARGS...` as a user would type it, in a fresh process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli(tmp_path):
    """Run the CLI with ./results under the test's temporary folder."""

    def _run(*args: str, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("cwd", tmp_path)
        return run_cli(*args, **kw)

    return _run


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user mistake: non-zero exit, one `error:` line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]
