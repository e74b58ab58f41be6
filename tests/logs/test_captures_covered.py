"""Every capture of the formats harness reads (tflite, tegrastats, vcgencmd, android_sysfs, trtexec,
onnxruntime_perf_test, mlperf_tiny) is value-checked by name in a test, and the copies in the
repository are byte-for-byte those of the shared reference."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
# reference folder → (where its copies live in the repository, the tests that check their figures)
COPIES = {
    "trtexec": ([TESTS / "logs" / "captures" / "trtexec"], ["logs/test_trtexec.py"]),
    "onnxruntime_perf_test": ([TESTS / "logs" / "captures" / "onnxruntime_perf_test"],
                              ["logs/test_onnxruntime_perf_test.py"]),
    "mlperf_tiny": ([TESTS / "logs" / "captures" / "mlperf_tiny"], ["logs/test_mlperf_tiny.py"]),
    "tflite": ([TESTS / "logs" / "captures" / "tflite", TESTS / "android" / "fixtures"],
               ["logs/test_benchmark_model_captures.py", "android/test_benchmark_model_log.py"]),
    "tegrastats": ([TESTS / "telemetry" / "fixtures" / "tegrastats"],
                   ["telemetry/test_tegrastats.py", "telemetry/test_captures_set2.py"]),
    "vcgencmd": ([TESTS / "telemetry" / "fixtures" / "vcgencmd"], ["telemetry/test_vcgencmd_battery.py"]),
    "android_sysfs": ([TESTS / "telemetry" / "fixtures" / "android_sysfs"],
                      ["telemetry/test_vcgencmd_battery.py", "telemetry/test_sysfs.py"]),
}


def _copies(folders: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for d in folders for p in d.iterdir() if not p.name.startswith(".")}


@pytest.mark.parametrize("folder", sorted(COPIES))
def test_every_capture_is_named_in_a_value_test(folder):
    places, tests = COPIES[folder]
    source = "".join((TESTS / t).read_text() for t in tests)
    names = sorted(_copies(places))
    assert names, folder
    # a test names a capture whole, or by the start it shares with no other capture
    missing = [n for n in names if n not in source and n.rsplit("_", 1)[0] not in source]
    assert missing == []


def test_the_copies_are_those_of_the_shared_reference():
    repo = TESTS.parent
    found = [d / "shared" / "reference" / "captures" for d in (repo.parent, repo.parent.parent)]
    reference = next((d for d in found if d.is_dir()), None)
    if reference is None:
        pytest.skip("the shared reference folder is not beside this checkout")
    for folder, (places, _) in COPIES.items():
        theirs = {p.name: p.read_bytes() for p in (reference / folder).iterdir()}
        assert _copies(places) == theirs, folder
