"""Every verbatim capture under tests/llm/captures/ is value-checked by name in its parser's tests
and, as an imported record, in the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
TESTS = {"llama_bench": "test_llama_bench_log.py", "llama_timings": "test_llama_timings_log.py",
         "executorch": "test_executorch_log.py", "driver": "test_driver_events.py"}


@pytest.mark.parametrize("folder, test_file", TESTS.items())
def test_every_capture_is_named_in_a_value_test(folder, test_file):
    source = (HERE / test_file).read_text()
    captures = sorted(p.name for p in (HERE / "captures" / folder).iterdir())
    assert captures, f"no captures in {folder}"
    assert [c for c in captures if c not in source] == []


@pytest.mark.parametrize("folder", ["llama_bench", "llama_timings", "executorch"])
def test_every_capture_is_ingested_and_value_checked_in_its_record(folder):
    source = (HERE / "test_llm_ingest.py").read_text()
    captures = sorted(p.name for p in (HERE / "captures" / folder).iterdir())
    assert [c for c in captures if c not in source] == []


def test_the_reference_captures_are_all_copied():
    repo = Path(__file__).resolve().parents[2]
    # shared/ sits beside the main checkout (and CI's clone); worktrees are one level deeper
    found = [d / "shared" / "reference" / "captures" for d in (repo.parent, repo.parent.parent)]
    reference = next((d for d in found if d.is_dir()), None)
    if reference is None:
        pytest.skip("the shared reference folder is not beside this checkout")
    for folder in ("llama_bench", "llama_timings", "executorch"):
        ours = {p.name: p.read_bytes() for p in (HERE / "captures" / folder).iterdir()}
        theirs = {p.name: p.read_bytes() for p in (reference / folder).iterdir()}
        assert ours == theirs, folder
