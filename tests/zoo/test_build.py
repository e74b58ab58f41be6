"""`harness zoo build` rebuilds a model from its architecture definition.

Runs the real build script (TensorFlow from the `build` extra) on a copy of the zoo in
which two small committed entries are marked "built on demand", so the test builds them
into an empty cache and compares them with the committed files. fp32 files are
bit-identical on any machine (weights from numpy's seeded generator, batch norm folded
in float64 numpy). int8 files depend on calibration, which runs float kernels whose last
bits can differ between CPUs: their ops, shapes and int8 weights must be identical and
their activation scales equal to 1e-4.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from harness import zoo
from harness.analysis.tflite_model import load_tflite

pytestmark = pytest.mark.timeout(300)

REBUILT = ["kws01-int8-tflite", "mobilenet_v2_0.35_96-fp32-onnx"]


@pytest.fixture
def zoo_copy(tmp_path):
    src = zoo.zoo_dir()
    dst = tmp_path / "zoo"
    dst.mkdir()
    for name in ("build.py", "archs.py", "tflite_to_onnx.py"):
        shutil.copy(src / name, dst / name)
    doc = yaml.safe_load((src / "manifest.yaml").read_text())
    for row in doc["models"]:
        if row["id"] in REBUILT:
            row["storage"], row["file"] = "cache", row["file"].rsplit("/", 1)[-1]
    (dst / "manifest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return dst, tmp_path / "cache"


@pytest.mark.parametrize("entry_id", REBUILT)
def test_build_reproduces_the_manifest_sha256(cli, zoo_copy, entry_id):
    zoo_dir, cache = zoo_copy
    env = {"HARNESS_ZOO_DIR": str(zoo_dir), "HARNESS_ZOO_CACHE": str(cache)}
    before = cli("zoo", "analyze", entry_id, env=env)
    assert before.returncode != 0 and f"harness zoo build {entry_id}" in before.stderr

    proc = cli("zoo", "build", entry_id, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["built_now"] is True and result["path"].startswith(str(cache))
    if entry_id.endswith("-int8-tflite"):
        assert_same_int8_model(result["path"], zoo.get(entry_id).path)
    else:
        assert result["matches_manifest"] is True, result
        assert result["sha256"] == zoo.get(entry_id).sha256

    listed = {r["id"]: r for r in json.loads(cli("zoo", "list", "--json", env=env).stdout)}
    assert listed[entry_id]["built"] is True


def assert_same_int8_model(built, committed):
    a, b = load_tflite(built), load_tflite(committed)
    assert [(o.opcode, o.options, o.inputs, o.outputs) for o in a.ops] == \
        [(o.opcode, o.options, o.inputs, o.outputs) for o in b.ops]
    assert len(a.tensors) == len(b.tensors)
    for x, y in zip(a.tensors, b.tensors):
        assert (x.name, x.shape, x.dtype) == (y.name, y.shape, y.dtype)
        if x.dtype == "int8" and x.is_constant:
            assert np.array_equal(x.data, y.data), x.name
        if x.dtype == "int32" and x.is_constant:  # biases: quantized with the input's scale
            assert np.max(np.abs(x.data.astype(np.int64) - y.data)) <= 1, x.name
        if x.quantization is not None:
            np.testing.assert_allclose(x.quantization.scale, y.quantization.scale, rtol=1e-4)
