"""`harness ceilings` progress: a rich bar per stage on a terminal (a pseudo-terminal here),
one plain line per step when piped, never carriage returns run into one long line."""

from __future__ import annotations

import re

import pytest

from tests.cli.conftest import ANSI, on_a_terminal

pytestmark = pytest.mark.timeout(300)

QUICK = ["ceilings", "--device", "local", "--remeasure", "--max-bytes", str(4 << 20)]


def test_progress_is_a_bar_on_a_terminal(tmp_path):
    code, out = on_a_terminal(*QUICK, cwd=tmp_path)
    assert code == 0, out
    text = ANSI.sub("", out)
    # one bar per stage, each ending complete (rich redraws in place, then leaves the last frame)
    for stage, n in (("bandwidth", None), ("compute/fp32", 4), ("compute/int8", 4), ("sanity", 1)):
        frames = re.findall(rf"local ceilings: {re.escape(stage)}\s+━+\s+(\d+)/(\d+)", text)
        assert frames, (stage, text[-2000:])
        done, total = frames[-1]
        assert done == total and (n is None or int(total) == n), (stage, frames)
    assert "\x1b[?25l" in out  # the cursor is hidden while the bars are live: a real rich display
    assert "stored in" in text


def test_progress_is_one_line_per_step_when_piped(cli):
    proc = cli(*QUICK, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    steps = re.findall(r"^local ceilings: (\S+) (\d+)/(\d+)$", proc.stderr, re.M)
    stages = list(dict.fromkeys(s for s, _, _ in steps))
    assert stages == ["bandwidth", "compute/fp32", "compute/int8", "sanity"]
    for stage in stages:  # every step of every stage, in order
        numbers = [(int(i), int(n)) for s, i, n in steps if s == stage]
        total = numbers[0][1]
        assert numbers == [(i, total) for i in range(1, total + 1)]
    assert proc.stdout.lstrip().startswith("{")  # --json: the progress stays on stderr
