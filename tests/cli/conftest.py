"""CLI tests: the command tree, and typer's runner for the checks that visit every command."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner


def command_tree():
    """(path, click command) of every leaf command of `harness`, e.g. (['results', 'list'], cmd)."""
    from harness.cli import app

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    return list(walk(typer.main.get_command(app), []))


@pytest.fixture
def invoke():
    """`harness ARGS...` in this process through typer's runner (stdout and stderr apart)."""
    from harness.cli import app

    runner = CliRunner()

    def _invoke(*args: str, columns: int = 100):
        return runner.invoke(app, list(args), env={"COLUMNS": str(columns)}, prog_name="harness")

    return _invoke


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(*args: str, cwd, columns: int = 100) -> tuple[int, str]:
    """Run `harness ARGS` with stdout and stderr on a pseudo-terminal `columns` wide, as a
    user's shell does; (exit status, what the terminal received)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")
