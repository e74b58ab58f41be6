"""The llama_bench and llama_ttft runners on this host (local transport), end to end through
`harness run`'s library path: the real llama.cpp build, tiny random-weight GGUFs, records read
back. One thread (-t 1): ggml's workers spin, and this host is shared. Values are checked for
consistency with the raw rows and the device clock, never for speed."""

from __future__ import annotations

import functools
import subprocess
import threading
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness import session
from harness.analysis.ceilings import derive_ceilings, save_ceilings
from harness.llm.results import LlmResult, phase_from_samples, rows_of
from harness.store.record import StopRule
from harness.store.store import RunStore
from tests.llm.test_llm_summary import ceilings_events

pytestmark = pytest.mark.timeout(600)


def write_profile(tmp_path: Path, llama_build, *, tools: dict | None = None, sensors: dict | None = None,
                  device: str = "llama-local") -> Path:
    data = {"id": device, "name": "this host, with llama.cpp", "transport": {"kind": "local", "workdir": str(tmp_path / "wd")},
            "runtimes": ["llama_ttft", "llama_bench"],
            "tools": tools if tools is not None else {"llama-bench": str(llama_build.llama_bench)}}
    if sensors:
        data["sensors"] = sensors
    path = tmp_path / f"{device}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(profile: Path, model: Path, store: RunStore, runtime: str, options: dict, count: int = 3, cancel=None,
        progress=None, **kw):
    opts = session.RunOptions(runtime=runtime, threads=1, options=options, telemetry=kw.pop("telemetry", False),
                              thermal_gate=False, baseline_s=kw.pop("baseline_s", 0.0),
                              stop_fields={"count": count}, **kw)
    (job,) = session.plan_runs([str(profile)], [str(model)], opts)
    return session.run_planned(job, store, cancel=cancel, progress=progress)


def test_ttft_sweep_with_the_host_build_and_the_roofline(tmp_path, llama_build, tiny_gguf):
    profile = write_profile(tmp_path, llama_build, tools={})  # the driver: harness's own build for this host
    store = RunStore(tmp_path / "results")
    save_ceilings(derive_ceilings(ceilings_events(), "llama-local"), store.root)
    model = tiny_gguf("random-llama-small-q4_0")
    before = time.monotonic_ns()
    m = run(profile, model, store, "llama_ttft", {"n_prompt": "8,16", "n_gen": 6, "n_depth": [0, 32], "flash_attn": "off"})
    after = time.monotonic_ns()
    assert m.status == "ok", m.error
    assert (m.runtime.name, m.runtime.library, m.runtime.version) == ("llama_ttft", "llama.cpp", llama_build.llama_cpp_commit)
    tool = m.runtime.details["tools"]["harness-llm-driver"]
    assert tool["from"] == "built by harness for this host (pushed)" and tool["sha256"]
    stored = store.load(m.run_id)
    samples = stored.samples
    r = m.result(LlmResult)
    assert [(p.name, p.test) for p in r.phases] == [
        (phase, test) for test in ("pp8+tg6", "pp8+tg6 @ d32", "pp16+tg6", "pp16+tg6 @ d32") for phase in ("prefill", "decode")]
    for p in r.phases:
        assert p.repetitions == 3 and p.stamped and p.costs is not None
        assert p.units == (p.n_prompt if p.name == "prefill" else p.n_gen - 1)
        again = phase_from_samples(samples, **p.model_dump(include={"name", "test", "n_prompt", "n_gen", "n_depth", "rows",
                                                                     "stamped", "costs", "reported"}))
        assert again.model_dump_json() == p.model_dump_json()
        # every stamp is on this host's CLOCK_MONOTONIC, inside the run
        rows = rows_of(samples, p.name, p.rows)
        assert all(before < t < after for t in rows["start_ns"].to_pylist())
    pre, dec = r.phases[0], r.phases[1]
    assert pre.ttft_s.n == 3 and 0 < pre.ttft_s.median_s < 60
    ttft = rows_of(samples, "ttft", pre.rows)["latency_ns"].to_pylist()
    prefill = [lat * n for lat, n in zip(rows_of(samples, "prefill", pre.rows)["latency_ns"].to_pylist(),
                                         rows_of(samples, "prefill", pre.rows)["inferences"].to_pylist())]
    assert all(t >= p - 8 for t, p in zip(ttft, prefill))  # TTFT = prefill + the first sample (8: rounding)
    assert dec.inter_token_s.n == 3 * 5 and 0 < dec.inter_token_s.median_s <= dec.inter_token_s.p99_s
    assert len(rows_of(samples, "warmup_ttft", (0, samples.num_rows))) == 4  # one warm-up repetition per point
    # peak memory, load time, the driver's raw events
    assert model.stat().st_size < m.summary.memory["peak_rss_bytes"] < 4 * 2**30
    assert m.phases.load_s > 0
    assert stored.raw("llm_driver").count('"event":"rep"') == 4 * 4
    assert m.summary.throughput_per_s > 0
    # prefill and decode placed on the device's measured roofline
    roof = m.summary.roofline
    assert roof["kind"] == "llm" and len(roof["points"]) == 8 and roof["decode_bandwidth_utilisation"] > 0
    assert m.benchmark_key and m.config.options == {"n_prompt": [8, 16], "n_gen": [6], "n_depth": [0, 32],
                                                     "flash_attn": "off"}
    # the configuration as the driver reported it back
    assert (r.threads, r.flash_attn) == (1, "off") and " -fa 0 " in next(n for n in m.notes if "driver command" in n)


def test_llama_bench_sweep_records_each_repetition(tmp_path, llama_build, tiny_gguf):
    profile = write_profile(tmp_path, llama_build)
    store = RunStore(tmp_path / "results")
    m = run(profile, tiny_gguf("random-llama-tiny-q8_0"), store, "llama_bench",
            {"n_prompt": [16, 32], "n_gen": 8, "n_depth": "0,16", "n_ubatch": 16, "n_gpu_layers": 0})
    assert m.status == "ok", m.error
    assert m.runtime.version == llama_build.llama_cpp_commit[:8]
    assert m.runtime.details["tools"]["llama-bench"] == {"path": str(llama_build.llama_bench), "from": "profile tools"}
    note = next(n for n in m.notes if n.startswith("llama-bench command: "))
    assert " -p 16,32 -n 8 -d 0,16 -r 3 -o jsonl -t 1 -ngl 0 -ub 16" in note
    r = m.result(LlmResult)
    assert [p.test for p in r.phases] == ["pp16", "pp32", "tg8", "pp16 @ d16", "pp32 @ d16", "tg8 @ d16"]
    samples = store.load(m.run_id).samples
    assert samples.num_rows == 6 * 3
    for p in r.phases:
        rows = rows_of(samples, p.name, p.rows)
        assert rows["inferences"].to_pylist() == [p.units] * 3 and not p.stamped
        # computed from the rows, equal (to the ns rounding) to the rate llama-bench printed
        assert p.rate_per_s == pytest.approx(p.reported["avg_ts"], rel=1e-4)
        assert p.costs is not None and p.costs.n_tokens == p.units
    assert m.summary.stop_reason == "llama-bench: 3 repetitions of each test"
    assert (r.threads, r.n_gpu_layers, r.n_ubatch) == (1, 0, 16)  # as llama-bench reported them


#: a power meter whose current follows a process: 2 A at 5 V (10 W) while the pid in argv[1]
#: runs and for 0.1 s after it ends, 0.5 A (2.5 W) otherwise, written to the sysfs file argv[2].
#: Written in place with one same-length pwrite, as the kernel updates a sysfs value: the native
#: sampler keeps the file open and reads it with pread, so a replaced file would be seen only
#: when it reopens (every 100 ms), later than the driver's millisecond phases. The hold stands
#: for a rail that does not drop the instant a process exits; without it the sampler's
#: interpolation between the last busy sample and the first idle one (10 ms apart at 100 Hz)
#: reaches into a phase that ended a few ms before the exit.
METER = """
import os, sys, time
pid_file, current = sys.argv[1], sys.argv[2]
fd = os.open(current, os.O_WRONLY)
busy_now, seen_at = None, 0.0
while True:
    try:
        alive = os.path.exists("/proc/%d" % int(open(pid_file).read()))
    except (OSError, ValueError):
        alive = False
    if alive:
        seen_at = time.monotonic()
    busy = time.monotonic() - seen_at < 0.1
    if busy != busy_now:
        os.pwrite(fd, b"2000\\n" if busy else b"0500\\n", 0)
        busy_now = busy
    time.sleep(0.001)
"""


def test_joules_per_token_from_a_power_rail_sampled_during_the_run(tmp_path, llama_build, tiny_gguf, monkeypatch):
    """A real sampler on an INA3221-style rail whose current follows the driver process: 10 W
    while it runs, 2.5 W otherwise. The J/token per phase must read that power over windows
    aligned to the driver's stamps, and the idle baseline around the run. (The sampler reads
    the rail from a sysfs tree under tmp_path: its root, as in the telemetry tests.)"""
    from harness.telemetry import recording
    from harness.telemetry.sampler import Sampler

    tree = tmp_path / "sysfs"
    monkeypatch.setattr(recording, "Sampler", functools.partial(Sampler, root=str(tree)))
    hwmon = tree / "sys" / "bus" / "i2c" / "drivers" / "ina3221" / "1-0040" / "hwmon" / "hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "in1_label").write_text("VDD_IN\n")
    (hwmon / "in1_input").write_text("5000\n")  # mV
    current = hwmon / "curr1_input"
    current.write_text("0500\n")  # mA (fixed width: the meter rewrites it in place)
    sensors = {"hwmon_rails": [{"label": "VDD_IN"}], "rate_hz": 100}
    profile = write_profile(tmp_path, llama_build, tools={}, sensors=sensors)
    pid_file = tmp_path / "wd" / "run" / "agent.pid"
    # The meter is its own process, not a thread of this one: the run parses the driver's stream
    # in this process, and a thread waiting for the GIL lagged the driver's millisecond phases.
    meter = subprocess.Popen([sys.executable, "-c", METER, str(pid_file), str(current)])
    try:
        store = RunStore(tmp_path / "results")
        m = run(profile, tiny_gguf("random-llama-small-f16"), store, "llama_ttft",
                {"n_prompt": 64, "n_gen": 16}, count=3, telemetry=True, baseline_s=1.0)
    finally:
        meter.kill()
        meter.wait()
    assert m.status == "ok", m.error
    e = m.summary.energy
    assert e["channels"] == ["power/VDD_IN"] and e["unit"] == "token"
    pre, dec = e["phases"]["prefill"], e["phases"]["decode"]
    assert (pre["windows"], pre["tokens"], dec["windows"], dec["tokens"]) == (3, 3 * 64, 3, 3 * 15)
    # idle power: the meter follows the driver process, whose exit after its last stamp (and, on a
    # busy host, the meter's own lag) can leak a little busy power into the trailing baseline
    assert 2.5 * 0.99 < pre["baseline_power_w"] < 4.0
    for phase in (pre, dec):
        assert phase["power_w_mean"] == pytest.approx(10.0, rel=0.1)
        assert phase["j_per_token"] == pytest.approx(phase["power_w_mean"] * phase["window_s"] / phase["tokens"])
        assert phase["j_per_token_net"] == pytest.approx(
            (phase["power_w_mean"] - phase["baseline_power_w"]) * phase["window_s"] / phase["tokens"])
    r = m.result(LlmResult)
    assert dec["window_s"] == pytest.approx(3 * 15 / r.phases[1].rate_per_s, rel=0.05)  # the decode windows' length
    assert m.summary.energy_j_per_inference == dec["j_per_token"]


def test_a_model_llama_cpp_cannot_load_is_a_failed_record_with_its_output(tmp_path, llama_build):
    import gguf
    import numpy as np

    path = tmp_path / "unknown-arch.gguf"
    w = gguf.GGUFWriter(str(path), "nosucharch")
    w.add_block_count(1)
    w.add_embedding_length(8)
    w.add_head_count(2)
    w.add_tensor("blk.0.attn_q.weight", np.ones((8, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    profile = write_profile(tmp_path, llama_build, tools={"harness-llm-driver": str(llama_build.driver),
                                                          "llama-bench": str(llama_build.llama_bench)})
    store = RunStore(tmp_path / "results")
    said = {"llama_bench": ("llama_bench_stderr", "failed to load model"), "llama_ttft": ("llm_driver", '"stage":"load"')}
    for runtime, (raw, text) in said.items():
        m = run(profile, path, store, runtime, {"n_prompt": 8, "n_gen": 4}, count=1)
        assert (m.status, m.error.kind, m.error.stage) == ("failed", "runtime_error", "run"), m.error
        assert text in store.load(m.run_id).raw(raw) and m.error.raw_output == "raw/"
        assert m.result(LlmResult) is None
    assert "harness-llm-driver failed at load" in m.error.message


def test_no_llama_bench_is_one_clear_error(tmp_path, llama_build, tiny_gguf):
    profile = write_profile(tmp_path, llama_build, tools={"llama-bench": str(tmp_path / "nowhere" / "llama-bench")})
    store = RunStore(tmp_path / "results")
    m = run(profile, tiny_gguf("random-llama-tiny-q4_0"), store, "llama_bench", {"n_prompt": 8, "n_gen": 4}, count=1)
    assert m.status == "failed" and m.error.kind == "config_invalid"
    assert "tools.llama-bench.path" in m.error.message and "is not an executable file on the target" in m.error.message
    profile = write_profile(tmp_path, llama_build, tools={"llama-bench": {"push": str(tmp_path / "missing")}})
    with pytest.raises(Exception, match=r"missing: llama-bench to push to device 'llama-local' not found"):
        run(profile, tiny_gguf("random-llama-tiny-q4_0"), store, "llama_bench", {"n_prompt": 8}, count=1)
    with pytest.raises(Exception, match=r"-o n_prompt: .*at least 1 prompt token"):
        run(profile, tiny_gguf("random-llama-tiny-q4_0"), store, "llama_ttft", {"n_prompt": 0}, count=1)
    with pytest.raises(Exception, match=r"repeats each test --count times"):
        run(profile, tiny_gguf("random-llama-tiny-q4_0"), store, "llama_ttft", {}, count=1, stop=StopRule(mode="fixed", time_s=1))


def test_a_cancelled_sweep_keeps_the_points_it_measured(tmp_path, llama_build, tiny_gguf):
    profile = write_profile(tmp_path, llama_build, tools={})
    store = RunStore(tmp_path / "results")
    cancel = threading.Event()
    reps = []

    def progress(what, fields):
        if what == "ttft":
            reps.append(fields["point"])
            if fields["point"] == "pp8 tg4 d16":  # the second point started: stop the run
                cancel.set()

    m = run(profile, tiny_gguf("random-llama-tiny-q4_0"), store, "llama_ttft",
            {"n_prompt": 8, "n_gen": 4, "n_depth": [0, 16, 32]}, count=20, cancel=cancel, progress=progress)
    assert m.status == "aborted" and m.error.kind == "aborted"
    r = m.result(LlmResult)
    assert r.phases[0].test == "pp8+tg4" and r.phases[0].repetitions == 20  # the first point, whole
    assert "pp8+tg4 @ d32" not in [p.test for p in r.phases]
    assert store.load(m.run_id).samples.num_rows > 0


def test_the_cli_prints_each_phase(tmp_path, llama_build, tiny_gguf, cli):
    profile = write_profile(tmp_path, llama_build, tools={})
    proc = cli("run", "-d", str(profile), "-m", str(tiny_gguf("random-llama-tiny-q8_0")), "--runtime", "llama_ttft",
               "--threads", "1", "-o", "n_prompt=16", "-o", "n_gen=8", "--count", "3", "--no-thermal-gate",
               "--baseline", "0")
    assert proc.returncode == 0, proc.stderr
    lines = [ln.split(": ", 1)[1] for ln in proc.stdout.splitlines() if "-llama-local-" in ln and "│" not in ln]
    assert lines[0].startswith("prefill pp16+tg8: ") and "(3 reps), TTFT p50 " in lines[0]
    assert lines[1].startswith("decode pp16+tg8: ") and " inter-token p50 " in lines[1] and " p99 " in lines[1]
    assert lines[2].startswith("peak RSS ")
