"""Plugins found through entry points: a package outside harness (tests/plugin_pkg, pip-
installed into the test environment) adds a runner and a model format, and they run end to
end on `local`; a broken plugin costs one warning, never a command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from harness.store.store import RunStore
from tests.conftest import assert_one_line_error

REPO = Path(__file__).resolve().parents[2]
PROFILE = """\
id: toy-local
name: Local host with the toy runtime
transport:
  kind: local
runtimes: [toy, tflite]
"""


def _toy(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "tiny.toy"
    model.write_text("TOYMODEL\nprecision=int8\nwork_ms=2\n")
    profile = tmp_path / "toy-local.yaml"
    profile.write_text(PROFILE)
    return model, profile


def test_runtimes_lists_the_plugin_runner_and_format(cli):
    proc = cli("runtimes", "--json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    out = json.loads(proc.stdout)
    toy = next(r for r in out["runners"] if r["runner"] == "toy")
    assert toy["runtimes"] == ["toy"] and toy["formats"] == ["toy"]
    assert toy["transport"] == "CommandTransport" and set(toy["transport_kinds"]) == {"local", "ssh", "adb"}
    assert toy["stop_modes"] == ["fixed"] and toy["options"]["label"]["default"] == "toy"
    assert toy["module"] == "harness_toy_plugin.runner"
    fmt = next(f for f in out["formats"] if f["format"] == "toy")
    assert fmt["extensions"] == [".toy"] and fmt["static_analysis"] is False
    # the built-ins come through the same entry points
    assert {"agent", "benchmark_model", "tinyml", "ceilings"} <= {r["runner"] for r in out["runners"]}


def test_the_plugin_runner_and_format_run_end_to_end_on_local(cli, tmp_path):
    model, profile = _toy(tmp_path)
    proc = cli("run", "-d", str(profile), "-m", str(model), "-o", "label=from-test", "--tag", "nightly=42",
               "--baseline", "0", "--no-thermal-gate", "--json")
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "ok" and run["runtime"] == "toy" and run["runtime_version"] == "toy 1.0"
    assert run["latency"]["n"] == 5 and run["latency"]["median_s"] > 1e-3  # 2 ms of work per inference
    assert run["stop_reason"] == "toy: 5 inferences (from-test)"
    # a format without static analysis: no roofline, and nothing said about it
    assert run["roofline"] is None
    assert not [w for w in run["warnings"] if "roofline" in w or "analysis" in w], run["warnings"]
    assert run["metadata"] == {"nightly": "42"} and len(run["benchmark_key"]) == 16
    assert run["results"] == [{"kind": "toy_stats", "inferences": 5, "tool_version": "toy 1.0"}]

    stored = RunStore(tmp_path / "results").load(run["run_id"])
    assert stored.manifest.model.format == "toy" and stored.manifest.model.precision == "int8"
    assert stored.manifest.config.options == {"label": "from-test"}
    (result,) = stored.manifest.results
    assert type(result).__name__ == "ToyStats" and result.inferences == 5  # the plugin's own result kind
    assert pq.read_table(stored.path / "samples.parquet").num_rows == 5


def test_plugin_options_and_stop_modes_are_checked_at_plan_time(cli, tmp_path):
    model, profile = _toy(tmp_path)
    assert_one_line_error(cli("run", "-d", str(profile), "-m", str(model), "-o", "banana=1"),
                          "-o banana", "runner toy", "label")
    assert_one_line_error(cli("run", "-d", str(profile), "-m", str(model), "--stop", "adaptive"),
                          "runner toy cannot honour --stop adaptive", "fixed")
    assert_one_line_error(cli("run", "-d", str(profile), "-m", str(model), "--runtime", "tflite"),
                          "a toy model cannot run with runtime 'tflite'")
    assert not (tmp_path / "results").exists()


def test_no_file_under_harness_names_the_plugin():
    named = [p for p in (REPO / "harness").rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".txt")
             and re.search(r"\btoy\b|harness_toy_plugin", p.read_text(errors="replace"))]
    assert named == []
    assert "harness_toy_plugin" not in (REPO / "pyproject.toml").read_text()


def _broken_plugins(root: Path) -> Path:
    """A distribution on PYTHONPATH registering a plugin that does not import and one that is
    not a runner (the way an installed third-party package would)."""
    dist = root / "broken_plugins-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[harness.runners]\nmissing = no_such_module_anywhere:Runner\nnot_a_runner = json:dumps\n"
        "[harness.formats]\nbad_format = no_such_module_anywhere:Format\n"
    )
    return root


def test_a_broken_plugin_is_one_warning_naming_it_and_harness_still_works(cli, tmp_path):
    env = {"PYTHONPATH": f"{_broken_plugins(tmp_path / 'site')}:{REPO}"}
    proc = cli("runtimes", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: plugin ") for w in warnings), proc.stderr
    for name, why in (("missing", "No module named"), ("not_a_runner", "not a Runner subclass"),
                      ("bad_format", "No module named")):
        assert len([w for w in warnings if f"'{name}'" in w and why in w]) == 1, (name, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "agent" in {r["runner"] for r in json.loads(proc.stdout)["runners"]}

    proc = cli("run", "-d", "local", "-m", "kws01-int8-tflite", "--stop", "fixed", "--count", "3",
               "--baseline", "0", "--no-thermal-gate", "--no-telemetry", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "bad_format" in proc.stderr and json.loads(proc.stdout)[0]["status"] == "ok"
