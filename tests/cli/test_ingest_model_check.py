"""`harness ingest -m MODEL` checks the log against the model it is told: the log's
`Graph:` file name and the model size it prints. A mismatch is a warning in the record and
the output; with --strict an error, and nothing is written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import zoo
from tests.conftest import assert_one_line_error

pytestmark = pytest.mark.timeout(300)

STANDIN = Path(__file__).resolve().parent.parent / "adb_emulator" / "benchmark_model.py"
INT8 = "kws01-int8-tflite"


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    """A benchmark_model log of kws01 int8: the stand-in runs the model with LiteRT and prints
    the real tool's log (Graph: path, 'The input model file size (MB): 0.046872')."""
    path = tmp_path_factory.mktemp("logs") / "bm.log"
    proc = subprocess.run([sys.executable, str(STANDIN), f"--graph={zoo.model_file(INT8)}", "--num_runs=10",
                           "--min_secs=0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    path.write_text(proc.stderr)
    assert f"Graph: [{zoo.model_file(INT8)}]" in proc.stderr
    return path


def _ingest(cli, log: Path, model: str, *more: str):
    return cli("ingest", "--format", "benchmark_model", str(log), "--model", model, *more)


def _runs(tmp_path: Path) -> list[dict]:
    root = tmp_path / "results"
    return [json.loads((d / "manifest.json").read_text()) for d in root.iterdir()] if root.exists() else []


def test_the_model_the_log_ran_is_accepted_silently(cli, tmp_path, log):
    proc = _ingest(cli, log, INT8)
    assert proc.returncode == 0, proc.stderr
    assert "the log ran model" not in proc.stdout and "the log's model is" not in proc.stdout
    (m,) = _runs(tmp_path)
    assert m["model"]["sha256"] and m["model"]["size_bytes"] == zoo.model_file(INT8).stat().st_size
    assert not [w for w in m["summary"]["warnings"] if "--model" in w]


def test_another_model_is_a_warning_in_the_record_and_the_output(cli, tmp_path, log):
    other = zoo.model_file("kws01-fp32-tflite")
    proc = _ingest(cli, log, str(other))
    assert proc.returncode == 0, proc.stderr
    name = f"the log ran model 'kws01-int8.tflite' ({zoo.model_file(INT8)}), but --model is '{other.name}'"
    size = f"the log's model is 46,872 bytes, but --model '{other.name}' is {other.stat().st_size:,} bytes"
    (m,) = _runs(tmp_path)
    assert name in m["summary"]["warnings"] and size in m["summary"]["warnings"]
    assert f"{m['run_id']}: warning: {name}" in proc.stdout and f"{m['run_id']}: warning: {size}" in proc.stdout


def test_a_renamed_copy_differs_by_name_only(cli, tmp_path, log):
    copy = tmp_path / "my_kws.tflite"
    shutil.copy(zoo.model_file(INT8), copy)
    proc = _ingest(cli, log, str(copy))
    assert proc.returncode == 0, proc.stderr
    (m,) = _runs(tmp_path)
    mismatch = [w for w in m["summary"]["warnings"] if "--model" in w]
    assert mismatch == [f"the log ran model 'kws01-int8.tflite' ({zoo.model_file(INT8)}), but --model is 'my_kws.tflite'"]


def test_a_same_named_model_of_another_size_differs_by_size_only(cli, tmp_path, log):
    # another model under the log's file name: only the size tells them apart (to the log's
    # six significant digits of MB: 46,872 bytes prints as 0.046872)
    lookalike = tmp_path / "kws01-int8.tflite"
    shutil.copy(zoo.model_file("kws01-fp32-tflite"), lookalike)
    proc = _ingest(cli, log, str(lookalike))
    assert proc.returncode == 0, proc.stderr
    (m,) = _runs(tmp_path)
    mismatch = [w for w in m["summary"]["warnings"] if "--model" in w]
    assert mismatch == [f"the log's model is 46,872 bytes, but --model 'kws01-int8.tflite' is "
                        f"{lookalike.stat().st_size:,} bytes"]


def test_strict_makes_a_mismatch_an_error_and_writes_nothing(cli, tmp_path, log):
    proc = _ingest(cli, log, "kws01-fp32-tflite", "--strict")
    assert_one_line_error(proc, str(log), "the log ran model 'kws01-int8.tflite'", "--strict")
    assert _runs(tmp_path) == []
    ok = _ingest(cli, log, INT8, "--strict")  # the right model passes --strict
    assert ok.returncode == 0, ok.stderr
    assert len(_runs(tmp_path)) == 1


def test_a_model_name_alone_is_not_checked(cli, tmp_path, log):
    proc = _ingest(cli, log, "my label", "--strict")
    assert proc.returncode == 0, proc.stderr
    (m,) = _runs(tmp_path)
    assert m["model"]["name"] == "my label" and m["model"]["sha256"] == ""


def test_size_precision_follows_the_logs_digits():
    from harness.ingest.base import IngestedRun
    from harness.ingest.files import model_mismatches
    from harness.store.record import ModelRef, RuntimeInfo, StopRule
    from harness.store.recorder import Recorder

    def mismatches(file_bytes: int, logged_mb: str) -> list[str]:
        run = IngestedRun(recorder=Recorder(RuntimeInfo(name="benchmark_model")), runtime="benchmark_model",
                          stop=StopRule(mode="fixed", count=1), model_name="/data/m.tflite",
                          model_size_bytes=round(float(logged_mb) * 1e6))
        ref = ModelRef(name="m", path="/x/m.tflite", sha256="ab", format="tflite", size_bytes=file_bytes)
        return model_mismatches(ref, run)

    assert mismatches(4_276_352, "4.27635") == []  # mobilenet_v1 quant, as benchmark_model prints it
    assert mismatches(1_000_004, "1") == []  # within half a unit of the sixth digit
    assert len(mismatches(1_000_020, "1")) == 1
    assert len(mismatches(4_276_452, "4.27635")) == 1
