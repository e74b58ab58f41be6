"""The LLM section in a real browser: runs on this host, over a real sshd and over the adb
emulator (TTFT, prefill/decode tokens/s, inter-token p50/p99, peak memory) plus an imported
llama-bench table, one report, opened in Debian's headless Chromium: every figure drawn, the
roofline with prefill and decode points, no script run from a hostile model name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.analysis.ceilings import derive_ceilings, save_ceilings
from harness.ingest.files import ingest_file
from harness.report.dashboard import build_report
from harness.store.store import RunStore
from tests.adb_emulator.fixtures import adb_phone, harness_config  # noqa: F401
from tests.llm.test_llm_remote import board_profile, phone_profile
from tests.llm.test_llm_runners_local import run, write_profile
from tests.llm.test_llm_summary import ceilings_events
from tests.report.browser import open_report
from tests.ssh.sshd import start_sshd

pytestmark = pytest.mark.timeout(900)

HOSTILE = "<img src=x onerror=alert(3)>"
CAPTURE = Path(__file__).parent / "captures" / "llama_bench" / "md_cpu_raspberry_pi5_2gb_thread_sweep_build836d571.txt"

_TABLE_JS = """
(id) => Array.from(document.getElementById(id).tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.textContent.trim()))
"""


def test_llm_report_in_headless_chromium(tmp_path, llama_build, tiny_gguf, adb_phone):  # noqa: F811
    store = RunStore(tmp_path / "results")
    model = tmp_path / "models" / f"{HOSTILE}.gguf"
    model.parent.mkdir()
    shutil.copy(tiny_gguf("random-llama-small-q4_0"), model)
    sweep = {"n_prompt": "8,32", "n_gen": 8, "n_depth": "0,32"}

    local = write_profile(tmp_path, llama_build, tools={"llama-bench": str(llama_build.llama_bench)})
    server = start_sshd(tmp_path, "board")
    try:
        board = board_profile(server, tmp_path, llama_build)
        phone = phone_profile(adb_phone, tmp_path, llama_build)
        for device in ("llama-local", "llm-board", "emulated-phone"):
            save_ceilings(derive_ceilings(ceilings_events(), device), store.root)
        runs = {
            "local ttft": run(local, model, store, "llama_ttft", sweep),
            "local bench": run(local, model, store, "llama_bench", sweep),
            "ssh ttft": run(board, model, store, "llama_ttft", sweep),
            "adb ttft": run(phone, tiny_gguf("random-llama-tiny-q8_0"), store, "llama_ttft", {"n_prompt": 16, "n_gen": 8}),
        }
    finally:
        server.stop()
    assert {k: m.status for k, m in runs.items()} == dict.fromkeys(runs, "ok"), {k: m.error for k, m in runs.items()}
    ingest_file("llama-bench", CAPTURE, device=str(local), results=store.root)

    info = build_report(store.root, tmp_path / "reports" / "index.html")
    page = open_report(info.path, tmp_path / "llm.png")
    assert page.page_errors == [] and page.dialogs == []
    assert [c for c in page.console if c[0] in ("error", "warning")] == []
    assert all(u.startswith(("file://", "data:", "blob:")) for u in page.requests)
    figs = {f["id"]: f for f in page.figures}
    for device in ("llama-local", "llm-board", "emulated-phone"):
        assert f"fig-llm-{device}" in figs and f"fig-llm-roofline-{device}" in figs
    assert all(f["drawn"] >= 1 for f in page.figures)

    # TTFT and tokens/s against prompt length and context depth, from the ttft runs
    phases = figs["fig-llm-llama-local"]["traces"]
    ttft = [t for t in phases if (t["meta"] or {}).get("role") == "llm-TTFT vs prompt length"]
    assert {t["meta"]["run_id"] for t in ttft} == {runs["local ttft"].run_id}
    assert sorted(x for t in ttft for x in t["x"]) == [8, 8, 32, 32]  # two depths × two prompt lengths
    decode = [t for t in phases if (t["meta"] or {}).get("role") == "llm-decode tokens/s vs context"]
    assert {t["meta"]["run_id"] for t in decode} >= {runs["local ttft"].run_id, runs["local bench"].run_id}

    # prefill and decode on the roofline, over ssh too
    roof = figs["fig-llm-roofline-llm-board"]["traces"]
    points = [t for t in roof if (t["meta"] or {}).get("role") == "model"]
    assert len(points) == 8 and all(t["meta"]["run_id"] == runs["ssh ttft"].run_id for t in points)
    assert {t["meta"]["bound"] for t in points} <= {"memory", "compute"}
    assert any(t["name"].endswith("prefill pp32+tg8 @ d32") for t in points)
    assert any((t["meta"] or {}).get("role") == "peak" for t in roof)

    # the table: TTFT, rates, inter-token p50/p99, peak memory per phase; the hostile name as text
    with_page = page.text
    assert HOSTILE in with_page and "LLMs" in with_page
    from tests.report.browser import opened

    with opened(info.path) as (p, _):
        rows = p.evaluate(_TABLE_JS, "llm-table-emulated-phone")
    assert [r[1:3] for r in rows] == [["prefill", "pp16+tg8"], ["decode", "pp16+tg8"]]
    prefill, decode = rows
    assert prefill[6].endswith("ms") and decode[7].count("ms") == 2 and prefill[8].endswith("B")
    assert decode[11].endswith("of bandwidth") and prefill[11].endswith("of compute")
    # the imported Raspberry Pi table is there too, at its printed rates
    with opened(info.path) as (p, _):
        imported = p.evaluate(_TABLE_JS, "llm-table-llama-local")
    assert sorted(r[5] for r in imported if r[2] == "pp512" and "qwen2 1B Q4_0" in r[0]) == [
        "174 tok/s", "233 tok/s", "290 tok/s", "93.5 tok/s"]  # one record per thread count
