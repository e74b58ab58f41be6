"""Write as you measure (issue 11): a run killed mid-way is listed as incomplete with what it
measured, and `harness results recover` (or the next session) finishes its record."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import harness
from harness.owner import Owner
from harness.recovery import incomplete_runs, read_incomplete, recover
from harness.store.journal import RunStart, journal_dir
from harness.store.record import DeviceRef, ModelRef, RunConfig, RuntimeInfo
from harness.store.recorder import Recorder
from harness.store.store import RunStore, load_samples
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.timeout(300)

QUICK = ["--baseline", "0.2", "--no-thermal-gate"]


def _start(store: RunStore, writer: Owner | None = None, when: dt.datetime | None = None) -> RunStart:
    started = when or dt.datetime.now(dt.timezone.utc)
    model = ModelRef(name="m", path="/m.tflite", sha256="0" * 64, format="tflite", size_bytes=1)
    return RunStart(run_id=store.new_run_id(started, "local", "m"), started_at=started,
                    device=DeviceRef(id="local", name="this host", transport="local"), model=model,
                    config=RunConfig(runtime="tflite"), harness_version=harness.__version__,
                    writer=writer or Owner.me("test"))


def _journaled(store: RunStore, n: int, writer: Owner | None = None, chunks: int = 1):
    """A run begun in `store` with `n` steady samples per chunk on disk; its journal left open."""
    rec = Recorder(runtime=RuntimeInfo(name="tflite"))
    start = _start(store, writer)
    journal = store.begin(start, rec)
    journal._stop.set()  # the test flushes by hand
    for c in range(chunks):
        for i in range(n):
            rec.add_sample(c * n + i, "steady", (c * n + i) * 1000, 900 + i % 7)
        rec.stage = "run"
        journal.flush()
    return start, rec, journal


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _wait_for_rows(results: Path, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in results.glob("*/journal/samples.arrows"):
            if f.stat().st_size > 20_000 and list(results.glob("*/journal/telemetry_live.arrows")):
                return f.parent.parent
        time.sleep(0.2)
    raise AssertionError(f"no journal with samples under {results}")


def test_sigkill_mid_run_leaves_an_incomplete_run_with_its_samples_and_recover_finishes_it(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "-d", "local", "-m", "kws01", "--stop", "fixed", "--time", "60",
         *QUICK, "--results", str(results), "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        run_dir = _wait_for_rows(results)
        time.sleep(1.5)  # a few more chunks
    finally:
        _kill_group(proc)  # harness and its agent, as a reboot would
    assert not (run_dir / "manifest.json").exists()

    listed = run_cli("results", "list", "--results", str(results), "--json")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["run_id"] == run_dir.name and run["status"] == "incomplete"
    measured = run["latency"]["n"]
    assert measured > 100 and run["cold"]["init_s"] is not None
    table = run_cli("results", "list", "--results", str(results))
    assert "incomplete" in table.stdout and str(measured) in table.stdout

    done = run_cli("results", "recover", "--results", str(results), "--json")
    assert done.returncode == 0, done.stderr
    (rec,) = json.loads(done.stdout)
    assert rec["status"] == "aborted" and rec["error"]["kind"] == "interrupted" and rec["error"]["transient"]
    assert rec["latency"]["n"] >= measured
    assert not journal_dir(run_dir).exists() and (run_dir / "manifest.json").is_file()
    samples = load_samples(results)
    assert len(samples[samples.phase == "steady"]) == rec["latency"]["n"]
    stored = RunStore(results).load(run_dir.name)
    assert stored.telemetry.num_rows > 0  # the sampler's rows as they came
    assert any("interrupted" in n for n in stored.manifest.notes)


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    from harness.store.store import RunStore
    from tests.records.test_incomplete_runs import _journaled
    start, rec, journal = _journaled(RunStore({results!r}), 300)
    print(start.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _killed_run(results: Path) -> str:
    out = subprocess.run([sys.executable, "-c", KILLED_WRITER.format(repo=str(REPO), results=str(results))],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL, out.stderr
    return out.stdout.strip()


def test_the_next_session_finishes_an_interrupted_record_first(tmp_path):
    results = tmp_path / "results"
    killed = _killed_run(results)
    proc = run_cli("run", "-d", "local", "-m", "kws01", "--stop", "fixed", "--count", "20", *QUICK,
                   "--results", str(results), "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"finished the record of interrupted run {killed}" in proc.stderr
    runs = {m.run_id: m for m in RunStore(results).manifests()}
    assert runs[killed].status == "aborted" and runs[killed].error.kind == "interrupted"
    assert runs[killed].summary.latency.n == 300
    assert len(runs) == 2 and incomplete_runs(RunStore(results)) == []


def test_a_live_writer_is_left_alone_unless_forced(tmp_path):
    store = RunStore(tmp_path / "results")
    start, rec, journal = _journaled(store, 50)
    (run,) = incomplete_runs(store)
    assert not run.interrupted and run.manifest.status == "incomplete" and run.manifest.summary.latency.n == 50
    assert recover(store) == []
    with pytest.raises(harness.errors.HarnessError, match="still being measured by test, pid"):
        recover(store, [start.run_id[:20]])
    (m,) = recover(store, [start.run_id], force=True)
    assert m.status == "aborted" and m.summary.latency.n == 50


def test_a_rebooted_host_or_a_silent_other_host_means_interrupted(tmp_path):
    store = RunStore(tmp_path / "results")
    rebooted = Owner.me("before the reboot").model_copy(update={"boot_id": "another-boot"})
    _journaled(store, 10, writer=rebooted)
    far = Owner(hostname="lab-host-7", pid=1, boot_id="x", heartbeat=time.time() - 3600)  # started an hour ago
    _journaled(store, 10, writer=far)
    runs = {r.journal.start.writer.what or r.journal.start.writer.hostname: r for r in incomplete_runs(store)}
    assert runs["before the reboot"].interrupted
    assert not runs["lab-host-7"].interrupted  # its journal was written a moment ago
    (gone,) = [d for d in store.incomplete_dirs() if read_incomplete(store, d).journal.start.writer.hostname == "lab-host-7"]
    state = journal_dir(gone) / "state.json"
    payload = json.loads(state.read_text())
    payload["updated_at"] = time.time() - 3600  # silent for an hour
    state.write_text(json.dumps(payload))
    assert read_incomplete(store, gone).interrupted


def test_a_stream_cut_mid_batch_reads_up_to_its_last_whole_batch(tmp_path):
    store = RunStore(tmp_path / "results")
    start, rec, journal = _journaled(store, 40, chunks=3)
    stream = journal_dir(store.root / start.run_id) / "samples.arrows"
    with open(stream, "r+b") as f:
        f.truncate(stream.stat().st_size - 30)  # killed in the middle of writing the third chunk
    run = read_incomplete(store, store.root / start.run_id)
    assert run.recorder.rows("samples") == 80
    assert any("cut" in p for p in run.problems)
    (m,) = recover(store, force=True)
    assert m.summary.latency.n == 80 and any("journal: samples.arrows" in w for w in m.summary.warnings)


def test_killed_during_the_final_write_reads_as_incomplete_not_whole(tmp_path):
    store = RunStore(tmp_path / "results")
    start, rec, journal = _journaled(store, 30, writer=Owner.me().model_copy(update={"boot_id": "old"}))
    run_dir = store.root / start.run_id
    rec.table("samples")  # the final write got as far as one table file
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = rec.table("samples")
    pq.write_table(t.append_column("run_id", pa.array([start.run_id] * t.num_rows)), run_dir / "samples.parquet")
    assert store.manifests() == [] and [r.manifest.status for r in incomplete_runs(store)] == ["incomplete"]
    (m,) = recover(store)
    assert store.load(start.run_id).samples.num_rows == 30 and m.tables["samples"] == 30
