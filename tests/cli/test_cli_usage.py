"""Commands behave like the tools people know: --version, flags that are flags, every usage
error one `error:` line with a non-zero exit, "did you mean" for a mistyped name."""

from __future__ import annotations

import re

import pytest

import harness
from harness.errors import did_you_mean, unknown_name
from tests.cli.conftest import command_tree
from tests.conftest import assert_one_line_error

# Commands that print no listing or result of their own, so have no --json (and why).
NO_JSON = {
    "devices schema": "prints a JSON schema already",
    "trace": "writes a trace-event JSON file and prints its path",
    "farm schema": "prints a JSON schema already",
    "farm host": "becomes a Ray node until stopped",
    "farm reserve": "an action: holds a device until Ctrl-C",
    "farm release": "an action: one line saying what it did",
    "farm mark": "an action: one line saying what it did",
}
TREE = command_tree()


def test_version_prints_the_package_version(cli):
    proc = cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"harness {harness.__version__}"
    assert proc.stderr == ""


def test_the_tree_has_the_commands_a_user_reads_about():
    names = {" ".join(path) for path, _ in TREE}
    assert {"run", "ingest", "ceilings", "report", "runtimes", "results list", "results show", "devices list",
            "zoo list", "telemetry parse", "farm status", "regress"} <= names
    assert set(NO_JSON) <= names  # the allowance follows the commands it names


@pytest.mark.parametrize("path", [p for p, _ in TREE], ids=[" ".join(p) for p, _ in TREE])
def test_every_command_help_shows_flags_as_flags(invoke, path):
    res = invoke(*path, "--help")
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.stdout, res.stdout
    assert "╭" not in res.stdout  # plain help, not typer's boxed panels
    assert res.stdout.startswith(f"Usage: harness {' '.join(path)} ")
    cmd = dict((" ".join(p), c) for p, c in TREE)[" ".join(path)]
    for param in cmd.params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and descriptor.annotation is bool:
            assert param.is_flag, f"{param.opts} takes a value"
            # shown bare in the help: `--json   Print JSON.`, never `--json <bool>`
            shown = re.search(rf"^\s+(-\w, )?{re.escape(param.opts[-1])}(\s|$)", res.stdout, re.M)
            assert shown, (param.opts, res.stdout)


@pytest.mark.parametrize("path", [p for p, _ in TREE if " ".join(p) not in NO_JSON],
                         ids=[" ".join(p) for p, _ in TREE if " ".join(p) not in NO_JSON])
def test_every_listing_and_result_command_has_json(path):
    cmd = dict((" ".join(p), c) for p, c in TREE)[" ".join(path)]
    (json_opt,) = [p for p in cmd.params if "--json" in getattr(p, "opts", [])]
    assert json_opt.is_flag and not json_opt.secondary_opts


def test_a_flag_given_a_value_is_one_error_line(cli):
    line = assert_one_line_error(cli("results", "list", "--json", "true"), "true", "harness results list --help")
    assert "╭" not in line


def test_a_mistyped_stop_mode_is_one_line_with_did_you_mean(cli):
    # typer printed a boxed 'Invalid value' panel here
    proc = cli("run", "-d", "local", "-m", "kws01-int8-tflite", "--stop", "fixd")
    line = assert_one_line_error(proc, "--stop", "'fixd'", "did you mean 'fixed'?", "harness run --help")
    assert proc.returncode == 2 and proc.stdout == "" and "╭" not in line


@pytest.mark.parametrize("args, needles", [
    (["results", "list", "--jsn"], ["no such option: --jsn", "did you mean --json?"]),
    (["resuls", "list"], ["no such command 'resuls'", "'results'"]),
    (["run", "-d", "local"], ["missing option '--model'"]),
    (["run", "-d", "local", "-m", "x", "--count", "many"], ["--count", "many"]),
    (["results", "show"], ["missing argument"]),
])
def test_click_usage_errors_are_one_error_line(invoke, args, needles):
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Usage:" not in res.stderr and "╭" not in res.stderr and "Traceback" not in res.stderr


def test_harness_errors_keep_their_exit_code(invoke):
    res = invoke("devices", "check", "locl")
    assert res.exit_code == 2
    assert res.stderr.startswith("error: unknown device 'locl' (did you mean 'local'?)")


def test_a_group_without_a_command_prints_its_help(invoke):
    res = invoke("results")
    assert "Usage: harness results" in res.output and "list" in res.output and "show" in res.output
    assert not any(line.startswith("error:") for line in res.output.splitlines())


@pytest.mark.parametrize("args, needle", [
    (["run", "-d", "locl", "-m", "kws01-int8-tflite"], "unknown device 'locl' (did you mean 'local'?)"),
    (["run", "-d", "local", "-m", "kws01-int8"], "did you mean 'kws01-int8-tflite'"),
    (["run", "-d", "local", "-m", "kws01-int8-tflite", "--runtime", "tflit"], "unknown runtime 'tflit' (did you mean 'tflite'?)"),
    (["ingest", "--format", "benchmark_mdel", "/dev/null"], "did you mean 'benchmark_model'?"),
    (["telemetry", "parse", "-f", "tegrastat", "/dev/null"], "unknown telemetry format 'tegrastat' (did you mean 'tegrastats'?)"),
    (["zoo", "show", "mobilenet_v2"], "did you mean 'mobilenet_v2_1.0_224'"),
])
def test_unknown_ids_suggest_the_closest_known(cli, args, needle):
    assert_one_line_error(cli(*args), needle)


def test_did_you_mean_picks_close_names_only():
    assert did_you_mean("locl", ["local", "rpi4", "pixel8"]) == " (did you mean 'local'?)"
    assert did_you_mean("zzzz", ["local", "rpi4"]) == ""
    assert "'resnet50_224-fp32-tflite'" in did_you_mean("resnet50", ["resnet50_224-fp32-tflite", "kws01-int8-tflite"])
    msg = unknown_name("device", "pixl8", ["pixel8", "rpi5"])
    assert msg == "unknown device 'pixl8' (did you mean 'pixel8'?); known: pixel8, rpi5"
    assert unknown_name("runtime", "x", []) == "unknown runtime 'x'; known: none"
