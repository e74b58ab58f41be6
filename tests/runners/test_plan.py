"""What the runners' declarations decide at plan time: one `error:` line before any device
time is spent for a flag a runner cannot honour, and derived lists (runtimes, help)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.profiles import runtime_names
from harness.runners.registry import default_runtime, runner_for, runtimes
from harness.session import RunOptions, plan_runs
from tests.conftest import assert_one_line_error

MODEL = "kws01-int8-tflite"
QUICK = ("--stop", "fixed", "--count", "3", "--baseline", "0", "--no-thermal-gate", "--no-telemetry")


def test_runtime_names_and_defaults_come_from_the_declarations():
    from harness.profiles import load_profile

    assert {"tflite", "onnx", "benchmark_model", "tinyml"} <= set(runtime_names())
    assert runtimes()["onnx"].name == runtimes()["tflite"].name == "agent"
    assert runner_for("benchmark_model").stop_modes == ("fixed",)
    local, mcu = load_profile("local"), load_profile("mps2-an386")
    assert default_runtime(local, "tflite") == "tflite" and default_runtime(local, "onnx") == "onnx"
    assert default_runtime(mcu, "tflite") == "tinyml"
    with pytest.raises(HarnessError, match="has no runtime for onnx models"):
        default_runtime(mcu, "onnx")


def test_run_help_lists_the_registered_runtimes(cli):
    proc = cli("run", "--help")
    assert proc.returncode == 0
    flat = " ".join(proc.stdout.split())
    for name in runtime_names():
        assert name in flat


@pytest.mark.parametrize("delegate", ["gpu", "banana"])
def test_a_delegate_the_agent_cannot_apply_is_refused(cli, tmp_path, delegate):
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "--delegate", delegate, *QUICK),
                          f"runner agent cannot apply --delegate {delegate}", "runs the runtime's default kernels")
    assert not (tmp_path / "results").exists()


def test_a_delegate_benchmark_model_does_not_know_is_refused(bm_profile):
    opts = RunOptions(runtime="benchmark_model", delegate="tpu")
    with pytest.raises(HarnessError, match="cannot apply --delegate tpu .*gpu, nnapi"):
        plan_runs([str(bm_profile)], [MODEL], opts)


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_threads_below_one_are_refused(cli, threads):
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "--threads", threads, *QUICK),
                          f"--threads must be at least 1 (got {threads})")


def test_runner_options_are_validated_against_the_runner(cli):
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "-o", "windows=3", *QUICK),
                          "-o windows: not an option of runner agent (its options: op_profile)")
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "-o", "op_profile=many", *QUICK),
                          "runner agent: -o op_profile:", "integer")
    assert_one_line_error(cli("run", "-d", "mps2-an386", "-m", MODEL, "-o", "mode=fast"),
                          "runner tinyml: -o mode:", "performance", "accuracy", "energy")
    assert_one_line_error(cli("run", "-d", "mps2-an386", "-m", MODEL, "-o", "windows=0"),
                          "runner tinyml: -o windows:", "greater than or equal to 1")


def test_a_dedicated_flag_no_planned_runner_has_is_refused(cli):
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "--relaxed-windows", *QUICK),
                          "--relaxed-windows does not apply to the planned runs", "agent", "'relaxed'")


def test_a_stop_rule_the_runner_cannot_honour_is_refused(cli, bm_profile):
    assert_one_line_error(cli("run", "-d", "mps2-an386", "-m", MODEL, "--stop", "adaptive"),
                          "runner tinyml cannot honour --stop adaptive (it supports: tinyml)")
    with pytest.raises(HarnessError, match="runner benchmark_model cannot honour --stop adaptive"):
        plan_runs([str(bm_profile)], [MODEL], RunOptions(runtime="benchmark_model",
                                                           stop_fields={"mode": "adaptive"}))
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "--stop", "adaptive", "--count", "5"),
                          "--count and --time apply to --stop fixed")


def test_each_runner_gets_its_own_default_stop_rule(bm_profile):
    (agent,) = plan_runs(["local"], [MODEL], RunOptions())
    (bm,) = plan_runs([str(bm_profile)], [MODEL], RunOptions(runtime="benchmark_model",
                                                                 stop_fields={"max_time_s": 30.0}))
    (mcu,) = plan_runs(["mps2-an386"], [MODEL], RunOptions())
    assert agent.config.stop.mode == "adaptive"
    assert (bm.config.stop.mode, bm.config.stop.count, bm.config.stop.time_s, bm.config.stop.max_time_s) == (
        "fixed", 50, 1.0, 30.0)  # the tool's own rule, the user's cap
    assert mcu.config.stop.mode == "tinyml"


def test_a_repeated_device_or_model_runs_once_and_says_so(cli, tmp_path):
    proc = cli("run", "-d", "local", "-d", "local", "-m", MODEL, "-m", MODEL, *QUICK, "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 1
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert notes == ["note: device 'local' given more than once: it runs once",
                     f"note: model '{MODEL}' given more than once: it runs once"]


def test_the_format_check_comes_from_the_runner(cli):
    assert_one_line_error(cli("run", "-d", "local", "-m", "mobilenet_v2_0.35_96-fp32-onnx", "--runtime", "tflite",
                              *QUICK), "a onnx model cannot run with runtime 'tflite' (it takes: tflite)")
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, "--runtime", "tinyml", *QUICK),
                          "device 'local' does not have runtime 'tinyml'")


def test_a_runner_needs_its_transport_capability(tmp_path):
    profile = tmp_path / "serial-agent.yaml"
    profile.write_text("id: serial-agent\nname: x\ntransport: {kind: serial, port: 'socket://127.0.0.1:9'}\n"
                       "runtimes: [tflite]\n")
    with pytest.raises(HarnessError, match="runtime 'tflite' needs a CommandTransport; .* 'serial'"):
        plan_runs([str(profile)], [MODEL], RunOptions(runtime="tflite"))


def test_a_profile_naming_an_unknown_runtime_lists_the_known_ones(cli, tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("id: p\nname: p\ntransport: {kind: local}\nruntimes: [tflite, tensorrt9]\n")
    line = assert_one_line_error(cli("devices", "validate", str(profile)), "runtimes", "'tensorrt9'")
    for name in ("tflite", "onnx", "benchmark_model", "tinyml"):
        assert name in line


def test_tags_and_the_benchmark_key(cli, tmp_path):
    def run(*extra):
        proc = cli("run", "-d", "local", "-m", MODEL, *QUICK, "--json", *extra)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)[0]

    a = run("--tag", "nightly=7", "--tag", "build=abc")
    b = run("--tag", "nightly=8")
    c = run("--threads", "1")
    assert a["metadata"] == {"nightly": "7", "build": "abc"}
    assert a["benchmark_key"] == b["benchmark_key"] != c["benchmark_key"]  # tags are not in the key
    proc = cli("results", "list", "--key", a["benchmark_key"][:8], "--json")
    assert sorted(r["run_id"] for r in json.loads(proc.stdout)) == sorted([a["run_id"], b["run_id"]])
    proc = cli("results", "list", "--tag", "nightly=7", "--json")
    assert [r["run_id"] for r in json.loads(proc.stdout)] == [a["run_id"]]
    proc = cli("results", "list", "--tag", "build", "--json")
    assert [r["run_id"] for r in json.loads(proc.stdout)] == [a["run_id"]]
    shown = json.loads(cli("results", "show", a["run_id"], "--json").stdout)
    assert shown["benchmark_key_fields"][:3] == ["device.id", "device.serial", "model.sha256"]
    assert shown["device"]["serial"]  # this host's machine id: the local transport can read one
    assert_one_line_error(cli("run", "-d", "local", "-m", MODEL, *QUICK, "--tag", "novalue"), "--tag 'novalue'")


def test_failures_are_classified_in_the_record(cli, tmp_path):
    bad_python = Path(__file__).resolve().parents[1] / "records" / "broken-python.yaml"
    proc = cli("run", "-d", str(bad_python), "-m", MODEL, *QUICK, "--json")
    assert proc.returncode == 1
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "failed" and run["error"]["stage"] == "start"
    assert (run["error"]["kind"], run["error"]["transient"]) == ("config_invalid", False)


@pytest.fixture
def bm_profile(tmp_path) -> Path:
    """A local profile whose runtime is benchmark_model (the stand-in binary from the adb emulator)."""
    from tests.adb_emulator.fixtures import install_stand_in

    binary = install_stand_in(tmp_path / "bin")
    profile = tmp_path / "local-bm.yaml"
    profile.write_text(f"id: local-bm\nname: local bm\ntransport: {{kind: local}}\nruntimes: [benchmark_model]\n"
                       f"benchmark_binary: {binary}\n")
    return profile


def test_a_corrupt_model_is_refused_at_plan_time(cli, tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 4)  # the header of a model, then noise
    assert_one_line_error(cli("run", "-d", "local", "-m", str(bad), *QUICK), str(bad), "truncated or corrupt")
    assert not (tmp_path / "results").exists()


def test_what_a_runtime_says_about_a_model_becomes_its_failure_kind():
    """The runtimes' own messages (produced here, by the real libraries) read in one place."""
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    from harness.errors import error_from_device_text

    said = {}
    for name, load in (("litert", lambda: Interpreter(model_content=b"not a model at all")),
                       ("onnxruntime", lambda: onnxruntime.InferenceSession(b"not a model at all"))):
        try:
            load()
        except Exception as e:  # noqa: BLE001 - the message is what is tested
            said[name] = f"{type(e).__name__}: {e}"
    for text in said.values():
        err = error_from_device_text(text, "agent failed during init")
        assert (err.kind, err.transient) == ("model_invalid", False), text
    disk = error_from_device_text("cp: error writing 'x': No space left on device", "push failed")
    assert (disk.kind, disk.transient) == ("target_disk_full", True)
    op = error_from_device_text("Didn't find op for builtin opcode 'STABLEHLO_COMPOSITE' version '1'", "init")
    assert (op.kind, op.transient) == ("unsupported_op", False)
    other = error_from_device_text("Segmentation fault", "agent exited")
    assert (other.kind, other.transient) == ("runtime_error", False)
