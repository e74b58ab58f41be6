"""A full disk (issue 11): the results folder is checked before measuring; a write that fails
mid-session stops the session in one line, keeping and reporting every finished record; no
half record reads as whole; the same for `report -o` and `ceilings`.

The results folder is a real 32 MB tmpfs (CI runs as root; mounted and unmounted here): room for
one run's journal and record together: a `--time 3` run records as many samples as the
machine does in 3 s (≈ 32 000 here, ≈ 1.5 MB of journal and record at once), so at 2 MB the
first run alone sometimes filled the disk, and a faster host needs more."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.store.store import RunStore
from tests.conftest import assert_one_line_error, run_cli
from tests.report.records import write_run

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")]

QUICK = ["--stop", "fixed", "--count", "30", "--baseline", "0.2", "--no-thermal-gate"]


def mount_tmpfs(where: Path, size: str = "32m", options: str = "") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(where)], check=True)
    return where


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def tiny_disk(tmp_path):
    disk = mount_tmpfs(tmp_path / "tiny")
    yield disk
    unmount(disk)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` until at most `leave` bytes are free."""
    filler = disk / f"filler-{time.monotonic_ns()}"
    with open(filler, "wb") as f:
        try:
            while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
                free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                f.write(b"\0" * max(1, min(1 << 16, free - leave)))
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def _wait_for_child(pid: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    return
            except (OSError, IndexError):
                continue
        time.sleep(0.1)
    raise AssertionError(f"process {pid} started no child")


def _whole_records_read_back(results: Path) -> list:
    store = RunStore(results)
    runs = store.manifests()
    assert store.problems == []
    for m in runs:
        run = store.load(m.run_id)
        assert run.samples.num_rows == m.tables["samples"]  # no half record that reads as whole
    return runs


def test_results_folder_that_is_a_file(tmp_path, cli):
    (tmp_path / "results").write_text("not a folder")
    proc = cli("run", "-d", "local", "-m", "kws01", *QUICK, "--results", str(tmp_path / "results"))
    assert_one_line_error(proc, "is not a folder")


def test_results_folder_read_only(tiny_disk, cli):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    proc = cli("run", "-d", "local", "-m", "kws01", *QUICK, "--results", str(tiny_disk / "results"))
    assert_one_line_error(proc, "not writable")


def test_results_folder_without_free_space(tiny_disk, cli):
    fill(tiny_disk, leave=100_000)
    proc = cli("run", "-d", "local", "-m", "kws01", *QUICK, "--results", str(tiny_disk))
    assert_one_line_error(proc, "bytes free", str(tiny_disk))
    assert not any(p.is_dir() for p in tiny_disk.iterdir())  # no run was started


def test_disk_full_mid_session_stops_cleanly_and_keeps_every_finished_record(tiny_disk):
    results = tiny_disk / "results"
    filled: list[Path] = []

    def fill_once_the_first_record_is_written():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            started = [d for d in results.glob("*/journal/start.json")] if results.is_dir() else []
            if list(results.glob("*/manifest.json")) and started:  # run 1 recorded, run 2 begun
                filled.append(fill(tiny_disk))
                return
            time.sleep(0.05)

    filler = threading.Thread(target=fill_once_the_first_record_is_written, daemon=True)
    filler.start()
    proc = run_cli("run", "-d", "local", "-m", "kws01", "-m", "vww01", "-m", "ad01", *QUICK, "--time", "3",
                   "--results", str(results), "--json")
    filler.join(5)
    assert filled, f"the disk was never filled: {proc.stderr[-1500:]}"
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    printed = json.loads(proc.stdout)  # JSON for the finished run(s)
    assert len(printed) == 1 and printed[0]["status"] == "ok" and printed[0]["latency"]["n"] >= 30
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1]
    assert "No space left on device" in errors[0] and "session stopped after 1 recorded run" in errors[0]
    runs = _whole_records_read_back(results)
    assert [m.run_id for m in runs] == [printed[0]["run_id"]]
    # the run that could not be written is incomplete, never whole; with space again it is recovered
    for f in filled:
        f.unlink()
    listed = json.loads(run_cli("results", "list", "--results", str(results), "--json").stdout)
    assert [r["status"] for r in listed] in (["ok"], ["ok", "incomplete"])
    recovered = run_cli("results", "recover", "--results", str(results), "--json")
    assert recovered.returncode == 0, recovered.stderr
    assert all(r["status"] == "aborted" for r in json.loads(recovered.stdout))
    _whole_records_read_back(results)


def test_report_to_a_full_disk(tiny_disk, tmp_path, cli):
    results = tmp_path / "results"
    write_run(RunStore(results), "m", samples=200)
    out = tiny_disk / "index.html"
    out.write_text("the previous report")
    fill(tiny_disk)
    proc = cli("report", "--results", str(results), "-o", str(out))
    assert_one_line_error(proc, "cannot write", str(out), "No space left on device")
    assert out.read_text() == "the previous report"  # untouched
    assert sorted(p.name for p in tiny_disk.iterdir() if not p.name.startswith("filler")) == ["index.html"]


def test_ceilings_to_a_full_disk(tiny_disk, cli):
    filler = fill(tiny_disk, leave=100_000)
    proc = cli("ceilings", "-d", "local", "--results", str(tiny_disk), "--max-bytes", "1048576")
    assert_one_line_error(proc, "bytes free", str(tiny_disk))  # checked before measuring
    filler.unlink()
    # the disk fills while the ceilings are being measured
    proc = subprocess.Popen([sys.executable, "-m", "harness", "ceilings", "-d", "local", "--results", str(tiny_disk),
                             "--max-bytes", "1048576"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_child(proc.pid)  # the probe is measuring on the target
    fill(tiny_disk)
    out, err = proc.communicate(timeout=240)
    err = "\n".join(line for line in err.splitlines() if not line.startswith("local ceilings: "))  # its progress
    assert_one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
                          "cannot write", "ceilings", "No space left on device")
    assert not list((tiny_disk / "ceilings").glob("*")) if (tiny_disk / "ceilings").exists() else True
