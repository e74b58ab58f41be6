"""`harness compare BASE NEW` on every kind of evidence, every way of naming a side, and its errors."""

from __future__ import annotations

import json

import pytest

from harness.store.store import RunStore
from tests.conftest import assert_one_line_error
from tests.regression.records import write

pytestmark = pytest.mark.timeout(900)


def measures(proc) -> dict[str, dict]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return {m["label"]: m for m in json.loads(proc.stdout)["measures"]}


def two_nights(store: RunStore, kws_new: float = 1.10, kind: str = "samples", runs: int = 5, **kw) -> None:
    """kws01 and vww01 on rpi5, `runs` runs each on night 0 and night 1; kws01 slower by `kws_new` on night 1."""
    for night, factor in ((0, 1.0), (1, kws_new)):
        for r in range(runs):
            write(store, model="kws01-int8", kind=kind, level=1e-3 * factor, night=night, seed=10 * night + r, **kw)
            write(store, model="vww01-int8", kind=kind, level=3e-3, night=night, seed=500 + 10 * night + r, **kw)


def test_tag_selections_per_key_verdict_lines_and_exit_code(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    two_nights(store)
    proc = cli("compare", "nightly=2026-11-01", "nightly=2026-11-02", "--json")
    assert proc.returncode == 1, proc.stderr  # a measure regressed
    out = measures(proc)
    kws, vww = out["kws01-int8 on rpi5"], out["vww01-int8 on rpi5"]
    assert kws["verdict"]["verdict"] == "regressed" and vww["verdict"]["verdict"] in ("same", "unknown")
    assert kws["verdict"]["unit"] == "run" and (kws["verdict"]["n_base"], kws["verdict"]["n_new"]) == (5, 5)
    lo, hi = kws["verdict"]["ci95"]
    assert lo < 1.10 < hi and kws["verdict"]["ratio"] == pytest.approx(1.10, abs=0.03)
    assert kws["new_key"] is None and kws["differs"] == []  # the same configuration: paired by key
    text = cli("compare", "nightly=2026-11-01", "nightly=2026-11-02")
    assert text.returncode == 1
    line = next(x for x in text.stdout.splitlines() if x.startswith("kws01-int8 on rpi5: +"))
    assert "% [" in line and "p = " in line and line.endswith("— regressed (runs 5 + 5)")
    assert cli("compare", "nightly=2026-11-01", "nightly=2026-11-01").returncode == 0  # no change: exit 0


def test_run_ids_keys_and_folders_as_sides(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    base = write(store, level=1e-3, night=0, seed=1, n=300)
    new = write(store, level=1.2e-3, night=1, seed=2, n=300)
    other = RunStore(tmp_path / "elsewhere")
    write(other, level=1.2e-3, night=1, seed=3, n=300)
    # one run a side: batches of consecutive iterations are the replicates; the reason says what that costs
    out = measures(cli("compare", base.run_id[:22], new.run_id, "--json"))
    (v,) = [m["verdict"] for m in out.values()]
    assert v["unit"] == "batch" and v["verdict"] == "regressed" and "one run on a side" in v["reason"]
    # a benchmark key names every run of it: both runs on one side
    write(store, model="vww01-int8", night=0, seed=4)
    out = json.loads(cli("compare", f"key:{base.benchmark_key}", f"dir:{other.root}", "--json").stdout)
    assert out["base"]["how"] == "key" and out["base"]["runs"] == 2
    assert out["new"]["how"] == "dir" and out["new"]["runs"] == 1
    (m,) = out["measures"]
    assert len(m["base_runs"]) == 2 and m["label"] == "kws01-int8 on rpi5"
    assert m["verdict"]["unit"] == "batch"  # one run on the new side: its batches against both runs' batches
    # a folder path without prefix, a key without prefix
    out = json.loads(cli("compare", base.benchmark_key[:8], str(other.root), "--json").stdout)
    assert (out["base"]["how"], out["new"]["how"]) == ("key", "dir")


def test_aggregates_only_one_run_and_several(cli, tmp_path):
    """Ingested benchmark_model logs: (mean, std, n) only. One run a side: Welch's t with the
    reason saying iterations are taken as independent; three a side: a test on the run means."""
    store = RunStore(tmp_path / "results")
    two_nights(store, kws_new=1.12, kind="aggregates", runs=3)
    out = measures(cli("compare", "nightly=2026-11-01", "nightly=2026-11-02", "--json"))
    v = out["kws01-int8 on rpi5"]["verdict"]
    assert v["unit"] == "run" and "log run means" in v["test"] and v["verdict"] == "regressed"
    one = [m for m in store.manifests() if m.model.name == "kws01-int8"]
    v1 = measures(cli("compare", one[0].run_id, one[-1].run_id, "--json"))["kws01-int8 on rpi5"]["verdict"]
    assert v1["unit"] == "aggregate" and "Welch" in v1["test"] and "independent" in v1["reason"]
    assert v1["verdict"] == "regressed" and v1["ratio"] == pytest.approx(1.12, abs=0.02)


def test_deterministic_mcu_windows_any_change_over_the_threshold_is_real(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    base = write(store, kind="windows", level=2.0e-3, deterministic=True, night=0, seed=1)
    slower = write(store, kind="windows", level=2.0e-3 * 1.06, deterministic=True, night=1, seed=2)
    tiny = write(store, kind="windows", level=2.0e-3 * 1.004, deterministic=True, night=2, seed=3)
    v = measures(cli("compare", base.run_id, slower.run_id, "--json"))["kws01-int8 on rpi5"]["verdict"]
    assert (v["unit"], v["verdict"], v["p_value"]) == ("deterministic", "regressed", None)
    assert v["ratio"] == pytest.approx(1.06, rel=1e-6)
    v = measures(cli("compare", base.run_id, tiny.run_id, "--json"))["kws01-int8 on rpi5"]["verdict"]
    assert v["verdict"] == "same"  # real, but under the 5 % threshold
    # noisy windows (a real board): each of the 5 windows is a replicate
    noisy_a = write(store, kind="windows", model="ic01", level=2e-3, sd=0.01, night=0, seed=5)
    noisy_b = write(store, kind="windows", model="ic01", level=2.6e-3, sd=0.01, night=1, seed=6)
    v = measures(cli("compare", noisy_a.run_id, noisy_b.run_id, "--json"))["ic01 on rpi5"]["verdict"]
    assert (v["unit"], v["n_base"], v["n_new"]) == ("window", 5, 5) and v["verdict"] == "regressed"


def test_multi_phase_llm_runs_prefill_and_decode_each_their_own_verdict(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    for night, decode in ((0, 40.0), (1, 33.0)):  # decode tokens/s fell 17.5 %; prefill unchanged
        for r in range(4):
            write(store, model="qwen-q4", kind="phases", level=500.0, decode_level=decode, night=night,
                  seed=10 * night + r, sd=0.01)
    proc = cli("compare", "nightly=2026-11-01", "nightly=2026-11-02", "--json")
    out = measures(proc)
    assert set(out) == {"qwen-q4 on rpi5 · prefill", "qwen-q4 on rpi5 · decode"}
    decode, prefill = out["qwen-q4 on rpi5 · decode"], out["qwen-q4 on rpi5 · prefill"]
    assert decode["unit"] == "token/s" and decode["verdict"]["higher_is_better"]
    assert decode["verdict"]["verdict"] == "regressed" and decode["verdict"]["change"] == pytest.approx(-0.175, abs=0.02)
    assert prefill["verdict"]["verdict"] in ("same", "unknown")
    assert decode["key"].endswith("/decode") and prefill["key"].endswith("/prefill")
    assert proc.returncode == 1


def test_a_new_runtime_version_is_paired_by_model_and_device_and_says_what_differs(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    for r in range(5):
        write(store, night=0, seed=r, runtime_version="2.14", metadata={"arm": "old"})
        write(store, night=0, seed=50 + r, runtime_version="2.15", level=0.8e-3, metadata={"arm": "new"})
    proc = cli("compare", "arm=old", "arm=new")
    assert proc.returncode == 0, proc.stderr
    assert "differs: runtime.version: 2.14 → 2.15" in proc.stdout
    out = measures(cli("compare", "arm=old", "arm=new", "--json"))
    m = out["kws01-int8 on rpi5"]
    assert m["new_key"] and m["new_key"] != m["key"] and m["verdict"]["verdict"] == "improved"


def test_per_key_threshold_overrides(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    two_nights(store, kws_new=1.10)
    sides = ("nightly=2026-11-01", "nightly=2026-11-02")
    out = measures(cli("compare", *sides, "--key-threshold", "kws01* on rpi5=20%", "--json"))
    v = out["kws01-int8 on rpi5"]["verdict"]
    assert v["threshold"] == pytest.approx(0.20) and v["verdict"] != "regressed"
    assert out["vww01-int8 on rpi5"]["verdict"]["threshold"] == pytest.approx(0.05)
    key = out["kws01-int8 on rpi5"]["key"]
    out = measures(cli("compare", *sides, "--threshold", "0.02", "--key-threshold", f"{key[:6]}=0.3", "--json"))
    assert out["kws01-int8 on rpi5"]["verdict"]["threshold"] == pytest.approx(0.3)
    assert out["vww01-int8 on rpi5"]["verdict"]["threshold"] == pytest.approx(0.02)


def test_failed_runs_are_absent_evidence_and_unpaired_measures_are_listed(cli, tmp_path):
    store = RunStore(tmp_path / "results")
    two_nights(store, runs=3)
    write(store, model="kws01-int8", night=1, seed=99, level=5e-3, status="failed")  # would be a regression
    write(store, model="ad01", night=1, seed=98)
    out = json.loads(cli("compare", "nightly=2026-11-01", "nightly=2026-11-02", "--json").stdout)
    assert len(out["new"]["not_ok"]) == 1
    by = {m["label"]: m for m in out["measures"]}
    assert by["kws01-int8 on rpi5"]["verdict"]["n_new"] == 3
    assert by["ad01 on rpi5"]["only"] == "new" and by["ad01 on rpi5"]["verdict"] is None


@pytest.mark.parametrize("args, needles", [
    (("nope", "nightly=2026-11-01"), ("side 'nope'", "no run id, benchmark key")),
    (("nightly=2099-01-01", "nightly=2026-11-01"), ("no runs match",)),
    (("tag:bad", "nightly=2026-11-01"), ("no runs match",)),
    (("nightly=2026-11-01", "nightly=2026-11-02", "--threshold", "lots"), ("--threshold", "not a number")),
    (("nightly=2026-11-01", "nightly=2026-11-02", "--key-threshold", "nothing"), ("expected KEY=THRESHOLD",)),
    (("status=failed", "nightly=2026-11-01"), ("finished ok",)),
])
def test_bad_sides_are_one_error_line(cli, tmp_path, args, needles):
    store = RunStore(tmp_path / "results")
    two_nights(store, runs=2)
    write(store, night=5, seed=7, status="failed", metadata={"status": "failed"})
    assert_one_line_error(cli("compare", *args), *needles)
