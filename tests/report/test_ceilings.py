"""Ceilings: the synthetic compute model, plateau finding, storage and datasheet fallback,
and the probe measured for real on the local host (CLI) and over a real sshd."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml

from harness.analysis.ceilings import (
    Ceilings,
    CeilingsError,
    bandwidth_plateaus,
    ceilings_for,
    ceilings_path,
    derive_ceilings,
    load_ceilings,
    measure_ceilings,
    save_ceilings,
)
from harness.analysis.static import analyze
from harness.runners.ceilings import build_fc_model
from harness.analysis.tflite_model import load_tflite
from harness.profiles import load_profile_file
from tests.conftest import assert_one_line_error

pytestmark = pytest.mark.timeout(120)

CACHES = [
    {"level": 1, "size_bytes": 32 << 10, "shared_cpus": 1},
    {"level": 2, "size_bytes": 1 << 20, "shared_cpus": 1},
    {"level": 3, "size_bytes": 32 << 20, "shared_cpus": 2},
]
QUICK_BYTES = str(4 << 20)  # a small bandwidth sweep keeps the real measurements to seconds


def test_fc_model_is_a_real_fully_connected_layer(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path = tmp_path / "fc.tflite"
    path.write_bytes(build_fc_model(64, 32, "fp32"))
    ops = analyze(path, mcu=False).ops
    assert [o.type for o in ops] == ["FULLY_CONNECTED"]
    assert ops[0].flops == 2 * 64 * 32
    weights = load_tflite(path).tensor(1).data
    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.resize_tensor_input(0, [4, 64])  # the probe's batch sweep
    interp.allocate_tensors()
    x = np.random.default_rng(3).uniform(-1, 1, (4, 64)).astype(np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    y = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(y, x @ weights.T, rtol=1e-4, atol=1e-4)

    q = tmp_path / "fc8.tflite"
    q.write_bytes(build_fc_model(64, 32, "int8"))
    assert analyze(q, mcu=False).precision == "int8"
    interp = Interpreter(model_path=str(q), num_threads=1)
    interp.resize_tensor_input(0, [8, 64])
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], np.ones((8, 64), np.int8))
    interp.invoke()
    assert interp.get_tensor(interp.get_output_details()[0]["index"]).shape == (8, 32)


def _sweep(rates: dict[int, float], trial_ratios: tuple[float, ...] | None = None) -> list[dict]:
    """Per-thread working sets from 8 KiB to 256 MiB; bandwidth from the first bound ≥ the size.

    `trial_ratios`: each point's repeated trials as fractions of its best one."""
    points, size = [], 8 << 10
    while size <= 256 << 20:
        bw = next(v for bound, v in sorted(rates.items()) if size <= bound)
        point = {"bytes_per_thread": size, "bytes_per_s": bw, "threads": 2}
        if trial_ratios:
            point["trials"] = [bw * r for r in trial_ratios]
        points.append(point)
        size = int(size * 2**0.5)
    return points


def test_plateau_per_cache_level_and_dram():
    # 2 threads: L1 and L2 are private; the shared 32 MiB L3 gives each thread 16 MiB.
    pts = _sweep({32 << 10: 200e9, 1 << 20: 90e9, 16 << 20: 40e9, 1 << 40: 12e9})
    levels, notes = bandwidth_plateaus(pts, CACHES, threads=2)
    assert list(levels) == ["L1", "L2", "L3", "DRAM"]
    assert levels == pytest.approx({"L1": 200e9, "L2": 90e9, "L3": 40e9, "DRAM": 12e9})
    assert notes == []


def test_plateaus_that_do_not_differ_are_said_so_and_a_short_sweep_has_no_dram():
    pts = [p for p in _sweep({1 << 20: 80e9, 1 << 40: 30e9}) if p["bytes_per_thread"] <= 16 << 20]
    levels, notes = bandwidth_plateaus(pts, CACHES, threads=2)
    assert "DRAM" not in levels
    assert any("L1 and L2 plateaus are within 15 %" in n for n in notes)
    assert any(n.startswith("DRAM:") for n in notes)


def test_plateaus_without_cache_sizes_are_steps():
    levels, notes = bandwidth_plateaus(_sweep({64 << 10: 100e9, 4 << 20: 50e9, 1 << 40: 10e9}), [], threads=1)
    assert list(levels.values()) == pytest.approx([100e9, 50e9, 10e9])
    assert notes and "no cache sizes" in notes[0]


def _events(load_start: float = 0.1, load_end: float = 0.2,
            trial_ratios: tuple[float, ...] = (1.0, 0.99, 0.98, 0.97, 0.95)) -> list[dict]:
    return [
        {"event": "hello", "threads": 2, "caches": CACHES, "cpu_count": 2, "loadavg": load_start, "mode": "quick",
         "cpu_model": "Test CPU"},
        {"event": "runtime", "library": "ai_edge_litert", "version": "9"},
        {"event": "bandwidth", "kernel": "acc += a", "points": _sweep({32 << 10: 200e9, 1 << 20: 90e9,
                                                                        16 << 20: 40e9, 1 << 40: 12e9},
                                                                       trial_ratios)},
        {"event": "compute", "dtype": "fp32", "method": "FC sweep", "points": [
            {"batch": 1, "k": 512, "n": 512, "ops_per_weight": 2, "ops_per_s": 5e9},
            {"batch": 64, "k": 512, "n": 512, "ops_per_weight": 128, "ops_per_s": 70e9},
            {"batch": 256, "k": 512, "n": 512, "ops_per_weight": 512, "ops_per_s": 66e9}]},
        {"event": "sanity", "numpy_sgemm_flops_per_s": 60e9, "numpy_sgemm_size": 1024, "copy_bytes_per_s": 11e9},
        {"event": "done", "status": "ok", "duration_s": 3.0, "loadavg": load_end},
    ]


def test_derive_ceilings_takes_the_best_rate_and_says_how():
    c = derive_ceilings(_events(), "dev")
    assert c.peak_ops_per_s == {"fp32": 70e9}
    assert "batch 64" in c.sources["fp32"] and "FC sweep" in c.sources["fp32"]
    assert c.bandwidth_bytes_per_s["DRAM"] == pytest.approx(12e9)
    assert c.method == "measured" and c.measured_at is not None
    assert c.sanity == {"numpy_sgemm_flops_per_s": 60e9, "numpy_sgemm_size": 1024.0, "copy_bytes_per_s": 11e9}
    # no runtime on the target: numpy's matmul stands in for fp32, and says so
    no_rt = [e for e in _events() if e["event"] != "compute"]
    c2 = derive_ceilings(no_rt, "dev")
    assert c2.peak_ops_per_s == {"fp32": 60e9} and "numpy matmul" in c2.sources["fp32"]
    with pytest.raises(CeilingsError, match="measured nothing"):
        derive_ceilings([e for e in _events() if e["event"] in ("hello", "done")], "dev")


def test_quiet_target_is_not_flagged_busy():
    c = derive_ceilings(_events(), "dev")
    assert c.busy_reasons() == [] and not any("busy" in w for w in c.warnings)
    assert c.brief()["busy"] == []


def test_busy_target_is_flagged_from_load_and_from_trial_spread():
    loaded = derive_ceilings(_events(load_start=3.0, load_end=2.5), "dev")
    reasons = loaded.busy_reasons()
    assert len(reasons) == 2
    assert "load average 3.00 on 2 CPU(s) when the measurement started" in reasons[0]
    assert "2.50" in reasons[1] and "probe's own threads" in reasons[1]
    assert sum("target was busy" in w for w in loaded.warnings) == 2  # `harness ceilings` prints these
    assert loaded.brief()["busy"] == reasons

    # the probe's own two threads over a 3 s run raise the 1-minute load by ~0.1: that alone is not busy
    own = derive_ceilings(_events(load_end=1.05), "dev")
    assert own.busy_reasons() == []

    # a quiet load average, but the trials of each point disagree: the typical one 40 % below the best
    noisy = derive_ceilings(_events(trial_ratios=(1.0, 0.7, 0.6, 0.5, 0.4)), "dev")
    assert noisy.busy_reasons() == ["repeated trials disagreed: the typical trial ran 40 % below the best "
                                    "(quiet targets: under 15 %)"]
    # a datasheet has no measurement to be busy during
    assert Ceilings(device="d", peak_ops_per_s={"fp32": 1e9}, bandwidth_bytes_per_s={"DRAM": 1e9},
                    method="datasheet").busy_reasons() == []


def test_busy_flag_survives_storage(tmp_path):
    """Recomputed from the stored measurement, so files written before the flag existed get it too."""
    c = derive_ceilings(_events(load_start=5.0), "dev")
    c.warnings = []  # as an older harness stored it
    save_ceilings(c, tmp_path)
    assert load_ceilings("dev", tmp_path).busy_reasons() == c.busy_reasons() != []


def _profile(tmp_path, kind: str = "local", datasheet: bool = True):
    data = {"id": "devx", "name": "Dev X", "transport": {"kind": kind} if kind == "local" else
            {"kind": "serial", "port": "socket://127.0.0.1:9"}}
    if datasheet:
        data["hardware"] = {"peak_ops_per_s": {"fp32": 8e9, "int8": 32e9}, "memory_bandwidth_bytes_per_s": 4e9,
                            "sources": {"peak_ops_per_s": "vendor sheet p.3", "memory_bandwidth_bytes_per_s": "LPDDR4"}}
    path = tmp_path / "devx.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_storage_reuse_and_datasheet_fallback_labelled(tmp_path):
    profile = load_profile_file(_profile(tmp_path))
    results = tmp_path / "results"
    sheet = ceilings_for(profile, results)
    assert sheet.method == "datasheet" and sheet.measured_at is None
    assert sheet.peak_ops_per_s == {"fp32": 8e9, "int8": 32e9} and sheet.bandwidth_bytes_per_s == {"DRAM": 4e9}
    assert sheet.sources["int8"] == "datasheet: vendor sheet p.3"

    measured = derive_ceilings(_events(), "devx")
    path = save_ceilings(measured, results)
    assert path == ceilings_path("devx", results) == results / "ceilings" / "devx.json"
    stored = json.loads(path.read_text())
    for key in ("peak_ops_per_s", "bandwidth_bytes_per_s", "method", "measured_at"):
        assert key in stored
    merged = ceilings_for(profile, results)
    assert merged.method == "measured"
    assert merged.peak_ops_per_s["fp32"] == 70e9  # measured wins
    assert merged.peak_ops_per_s["int8"] == 32e9  # not measured: datasheet, labelled
    assert merged.sources["int8"].startswith("datasheet:") and "not measured" in merged.sources["int8"]
    assert load_ceilings("devx", results).measured_at == measured.measured_at

    path.write_text("{not json")
    with pytest.raises(CeilingsError, match=str(path)):
        ceilings_for(profile, results)


def test_level_holding_uses_the_cache_sizes():
    c = derive_ceilings(_events(), "dev")
    assert c.level_holding(20 << 10) == "L1"
    assert c.level_holding(1.5 * (1 << 20)) == "L2"  # two private 1 MiB L2s with 2 threads
    assert c.level_holding(30 << 20) == "L3"
    assert c.level_holding(100 << 20) == "DRAM"
    # a one-thread run has one private L2: 1.5 MiB no longer fits there
    assert c.level_holding(1.5 * (1 << 20), threads=1) == "L3"


def test_cli_measures_on_the_local_host_then_reuses(cli, tmp_path):
    proc = cli("ceilings", "--device", "local", "--json", "--max-bytes", QUICK_BYTES)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["method"] == "measured" and out["device"] == "local"
    assert out["measured_at"]
    assert set(out["peak_ops_per_s"]) >= {"fp32", "int8"}
    assert all(v > 1e8 for v in out["peak_ops_per_s"].values())
    assert {"L1", "L2"} <= set(out["bandwidth_bytes_per_s"])
    assert all(v > 1e8 for v in out["bandwidth_bytes_per_s"].values())
    assert out["sanity"]["numpy_sgemm_flops_per_s"] > 1e8 and out["sanity"]["copy_bytes_per_s"] > 1e8
    assert "FULLY_CONNECTED" in out["sources"]["int8"]
    stored = tmp_path / "results" / "ceilings" / "local.json"
    assert json.loads(stored.read_text())["sweeps"]["bandwidth"]

    again = cli("ceilings", "--device", "local", "--json")  # reused, not re-measured
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["measured_at"] == out["measured_at"]


def test_cli_serial_device_uses_the_datasheet(cli, tmp_path):
    profile = _profile(tmp_path, kind="serial")
    assert_one_line_error(cli("ceilings", "--device", str(profile)), "serial", "datasheet")
    shown = cli("ceilings", "--device", str(profile), "--show", "--json")
    assert shown.returncode == 0, shown.stderr
    out = json.loads(shown.stdout)
    assert out["method"] == "datasheet" and out["measured_at"] is None
    assert out["bandwidth_bytes_per_s"] == {"DRAM": 4e9}
    none = _profile(tmp_path, kind="serial", datasheet=False)
    assert_one_line_error(cli("ceilings", "--device", str(none), "--show"), "no datasheet numbers")


def test_probe_runs_over_a_real_sshd(tmp_path):
    from tests.ssh.sshd import start_sshd

    server = start_sshd(tmp_path)
    try:
        profile = server.profile("board", defaults={"python": sys.executable})
        c = measure_ceilings(profile, tmp_path / "results", max_bytes=int(QUICK_BYTES))
    finally:
        server.stop()
    assert c.device == "board" and c.method == "measured"
    assert set(c.peak_ops_per_s) == {"fp32", "int8"}
    assert c.bandwidth_bytes_per_s and c.target["runtime"] == "ai_edge_litert"
    assert (tmp_path / "results" / "ceilings" / "board.json").is_file()
    assert isinstance(load_ceilings("board", tmp_path / "results"), Ceilings)


def test_level_holding_skips_a_cache_without_a_level():
    c = derive_ceilings(_events(), "dev")
    c.target["caches"] = [{"size_bytes": 16 << 10}, *CACHES[:2]]  # an entry the target gave no level for
    assert c.level_holding(20 << 10) == "L1"
    assert c.level_holding(100 << 20) == "DRAM"


def test_a_probe_over_its_deadline_is_a_timeout_not_an_early_exit(tmp_path, monkeypatch):
    import harness.runners.ceilings as probe_runner
    from harness.errors import CommandTimeout
    from harness.profiles import load_profile

    monkeypatch.setitem(probe_runner.DEADLINE_S, "quick", 0.5)
    with pytest.raises(CommandTimeout, match=r"ceilings probe \(quick mode\) exceeded its 0.5 s deadline"):
        measure_ceilings(load_profile("local"), tmp_path / "results", max_bytes=int(QUICK_BYTES))
    assert not (tmp_path / "results" / "ceilings").exists()
