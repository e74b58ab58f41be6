"""Fixtures: the target matrix's Pythons (real interpreters, cached venvs) and sshd boards."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.agent.matrix import TargetEnv
from tests.ssh.sshd import SshdServer, start_sshd
from tests.targets.pythons import MissingInterpreter, ensure_env


def target_python(env: TargetEnv) -> Path:
    """The venv python of `env`, built on first use; a missing interpreter fails the test by name."""
    try:
        return ensure_env(env)
    except MissingInterpreter as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def board(tmp_path) -> SshdServer:
    server = start_sshd(tmp_path, "board")
    yield server
    server.stop()
