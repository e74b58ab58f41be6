"""The llama.cpp runners over ssh (a real sshd on loopback) and adb (the emulated phone, which
runs commands on this host in its sandbox): the cached build's llama-bench and driver pushed
through the profile's ``tools`` with the hash cache, the model pushed under a hostile name, the
`harness run` CLI end to end, records read back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.llm.results import LlmResult
from harness.store.store import RunStore
from tests.adb_emulator.fixtures import adb_phone, harness_config  # noqa: F401
from tests.ssh.sshd import start_sshd

pytestmark = pytest.mark.timeout(600)

HOSTILE = "my model; touch pwned $(id).gguf"


def pushed_tools(llama_build) -> dict:
    return {"llama-bench": {"push": str(llama_build.llama_bench)}, "harness-llm-driver": {"push": str(llama_build.driver)}}


def board_profile(server, tmp_path: Path, llama_build) -> Path:
    """The sshd "board" with both llama.cpp runtimes and the cached build's binaries to push."""
    data = server.profile_dict("llm-board")
    data.update(runtimes=["llama_ttft", "llama_bench"], tools=pushed_tools(llama_build))
    path = tmp_path / "llm-board.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def phone_profile(phone, tmp_path: Path, llama_build) -> Path:
    """The emulated phone with both llama.cpp runtimes and the cached build's binaries to push."""
    data = yaml.safe_load(phone.profile_path.read_text())
    data.update(runtimes=["llama_ttft", "llama_bench"], tools=pushed_tools(llama_build))
    data["defaults"].pop("runtime", None)
    path = tmp_path / "phone.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def harness_run(profile: Path, model: Path, results: Path, runtime: str, *options: str) -> dict:
    cmd = [sys.executable, "-m", "harness", "run", "-d", str(profile), "-m", str(model), "--runtime", runtime,
           "--threads", "1", "--count", "3", "--no-thermal-gate", "--baseline", "0.3", "--results", str(results),
           "--json", *(x for o in options for x in ("-o", o))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=500)
    assert "Traceback" not in proc.stderr, proc.stderr
    (run,) = json.loads(proc.stdout)
    assert proc.returncode == 0 and run["status"] == "ok", (run["error"], proc.stderr)
    return run


def check_ttft_run(run: dict, model_bytes: int) -> None:
    """What the issue asks of a run: TTFT, prefill/decode tok/s, per-token p50/p99, peak memory."""
    (result,) = run["results"]
    assert result["kind"] == "llm" and result["source"] == "harness-llm-driver"
    prefill, decode = result["phases"][:2]  # the first test point
    assert (prefill["name"], prefill["unit"], decode["name"], decode["unit"]) == ("prefill", "token", "decode", "token")
    assert prefill["ttft_s"]["n"] == 3 and 0 < prefill["ttft_s"]["median_s"] < 60
    assert prefill["rate_per_s"] > 0 and decode["rate_per_s"] > 0
    itl = decode["inter_token_s"]
    assert itl["n"] == 3 * (decode["n_gen"] - 1) and 0 < itl["median_s"] <= itl["p99_s"]
    assert run["memory"]["peak_rss_bytes"] > model_bytes and run["throughput_per_s"] > 0


def test_over_ssh(tmp_path, llama_build, tiny_gguf):
    server = start_sshd(tmp_path, "board")
    try:
        profile = board_profile(server, tmp_path, llama_build)
        model = tmp_path / "models" / f"{HOSTILE}"
        model.parent.mkdir()
        shutil.copy(tiny_gguf("random-llama-small-q8_0"), model)
        results = tmp_path / "results"

        run = harness_run(profile, model, results, "llama_ttft", "n_prompt=16", "n_gen=8")
        assert (run["transport"], run["model"]) == ("ssh", "my model; touch pwned $(id)")
        check_ttft_run(run, model.stat().st_size)
        work = server.dir / "work"
        assert (work / "bin" / "harness-llm-driver").is_file()
        assert not list(tmp_path.rglob("pwned*")) and not (work / "pwned").exists()
        manifest = RunStore(results).load(run["run_id"]).manifest
        assert manifest.runtime.details["tools"]["harness-llm-driver"]["pushed"] is True

        bench = harness_run(profile, model, results, "llama_bench", "n_prompt=16", "n_gen=8", "n_depth=0,8")
        phases = bench["results"][0]["phases"]
        assert [p["test"] for p in phases] == ["pp16", "tg8", "pp16 @ d8", "tg8 @ d8"]
        assert all(p["repetitions"] == 3 and p["rate_per_s"] > 0 for p in phases)
        assert (work / "bin" / "llama-bench").is_file()

        # the second run found the model and the driver already there: nothing re-sent
        again = harness_run(profile, model, results, "llama_ttft", "n_prompt=16", "n_gen=8")
        m = RunStore(results).load(again["run_id"]).manifest
        assert m.runtime.details["pushed"] == {"model": False}
        assert m.runtime.details["tools"]["harness-llm-driver"]["pushed"] is False
    finally:
        server.stop()


def test_over_adb(adb_phone, tmp_path, llama_build, tiny_gguf):  # noqa: F811
    profile = phone_profile(adb_phone, tmp_path, llama_build)
    model = tiny_gguf("random-llama-tiny-q4_0")
    results = tmp_path / "results"

    run = harness_run(profile, model, results, "llama_ttft", "n_prompt=16", "n_gen=8", "n_depth=0,16")
    assert run["transport"] == "adb"
    check_ttft_run(run, model.stat().st_size)
    assert [p["test"] for p in run["results"][0]["phases"]] == ["pp16+tg8"] * 2 + ["pp16+tg8 @ d16"] * 2
    driver = adb_phone.device_path("/data/local/tmp/harness/bin/harness-llm-driver")
    assert driver.is_file() and driver.stat().st_mode & 0o111
    assert any(e.startswith("OPEN shell:") and "harness-llm-driver" in e for e in adb_phone.emulator.events)

    bench = harness_run(profile, model, results, "llama_bench", "n_prompt=16", "n_gen=8")
    m = RunStore(results).load(bench["run_id"]).manifest
    r = m.result(LlmResult)
    assert [p.test for p in r.phases] == ["pp16", "tg8"] and all(p.repetitions == 3 for p in r.phases)
    assert m.runtime.details["tools"]["llama-bench"]["path"] == "/data/local/tmp/harness/bin/llama-bench"
    assert adb_phone.emulator.leftover_pids() == []
