"""`harness zoo ...` as a user types it, in a fresh process."""

from __future__ import annotations

import json

import pytest

from harness import zoo
from tests.conftest import assert_one_line_error
from tests.zoo.nets import custom_op_net

pytestmark = pytest.mark.timeout(120)


def _json(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def test_list_json_has_every_entry_with_its_fields(cli, tmp_path):
    rows = _json(cli("zoo", "list", "--json", env={"HARNESS_ZOO_CACHE": str(tmp_path / "cache")}))
    assert [r["id"] for r in rows] == [e.id for e in zoo.entries()]
    for r in rows:
        assert set(r) == {"id", "format", "precision", "path", "sha256", "macs", "params", "built"}
    by_id = {r["id"]: r for r in rows}
    assert by_id["kws01-int8-tflite"]["built"] is True
    assert by_id["resnet50_224-fp32-tflite"]["built"] is False  # empty cache
    assert by_id["resnet50_224-fp32-tflite"]["path"].startswith(str(tmp_path / "cache"))


def test_list_and_show_tables(cli):
    proc = cli("zoo", "list")
    assert proc.returncode == 0 and "kws01-int8-tflite" in proc.stdout
    shown = cli("zoo", "show", "vww01")
    assert shown.returncode == 0 and "vww01-fp32-tflite" in shown.stdout and "mlcommons/tiny" in shown.stdout
    data = _json(cli("zoo", "show", "ic01-int8-tflite", "--json"))
    assert data["macs"] == 12_501_632 and data["expected"]["params"] == 77.7e3 and data["built"]


def test_analyze_json_by_id_and_by_path(cli):
    a = _json(cli("zoo", "analyze", "kws01-int8-tflite", "--json"))
    assert a["macs"] == 2_656_768 and a["params"] == 22_604
    assert a["mcu"]["arena_bytes"] > 0 and a["mcu"]["flash_bytes"] == zoo.get("kws01-int8-tflite").size_bytes
    assert {"macs", "flops", "bytes_read", "bytes_written", "params", "input_shapes", "output_shapes",
            "index", "type", "name", "unknown"} <= set(a["ops"][0])
    assert set(a["activation_bytes"]) == {"peak_live", "total"}
    by_path = _json(cli("zoo", "analyze", str(zoo.get("mobilenet_v2_0.35_96-fp32-onnx").path), "--json"))
    assert by_path["format"] == "onnx" and by_path["macs"] == zoo.get("mobilenet_v2_0.35_96").macs


def test_analyze_table(cli):
    proc = cli("zoo", "analyze", "ad01")
    assert proc.returncode == 0, proc.stderr
    assert "FULLY_CONNECTED" in proc.stdout and "264,192" in proc.stdout


def test_analyze_unknown_op_prints_it_without_failing(cli, tmp_path):
    path = custom_op_net().write(tmp_path / "custom.tflite")
    proc = cli("zoo", "analyze", str(path))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "MadeUpFrobnicate (unknown)" in proc.stdout


def test_bad_files_get_one_error_line(cli, tmp_path):
    src = zoo.get("vww01-int8-tflite").path.read_bytes()
    (tmp_path / "cut.tflite").write_bytes(src[: len(src) // 3])
    (tmp_path / "notes.onnx").write_text("not a model\n" * 10)
    (tmp_path / "w.h5").write_bytes(b"\x89HDF\r\n")
    assert_one_line_error(cli("zoo", "analyze", str(tmp_path / "cut.tflite")), "truncated or corrupt")
    assert_one_line_error(cli("zoo", "analyze", str(tmp_path / "notes.onnx")), "ONNX model")
    assert_one_line_error(cli("zoo", "analyze", str(tmp_path / "w.h5")), "unsupported model format")
    assert_one_line_error(cli("zoo", "analyze", str(tmp_path / "missing.tflite")), "no such model file")
    assert_one_line_error(cli("zoo", "show", "nope"), "unknown zoo model 'nope'")


def test_on_demand_model_not_built_tells_how_to_build(cli, tmp_path):
    proc = cli("zoo", "analyze", "resnet50_224", env={"HARNESS_ZOO_CACHE": str(tmp_path)})
    assert_one_line_error(proc, "harness zoo build resnet50_224-fp32-tflite")


def test_build_of_a_committed_entry_checks_it(cli):
    r = _json(cli("zoo", "build", "kws01-int8-tflite", "--json"))
    assert r["matches_manifest"] is True and r["built_now"] is False
