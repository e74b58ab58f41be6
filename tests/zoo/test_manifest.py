"""The manifest and the committed model files: ids, hashes, loading, one inference each."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness import zoo
from harness.analysis.static import analyze
from harness.errors import ModelError
from harness.digest import sha256_of

pytestmark = pytest.mark.timeout(120)

ENTRIES = zoo.entries()
COMMITTED = [e for e in ENTRIES if e.storage == "repo"]
REQUIRED_ARCHS = ["kws01", "vww01", "ic01", "ad01", "mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224",
                  "mobilenet_v2_0.35_96", "mobilenet_v3_small_1.0_224", "efficientnet_b0_224",
                  "resnet50_224"]
MOBILE = REQUIRED_ARCHS[4:]


def test_every_required_model_is_listed_in_every_format():
    ids = {e.id for e in ENTRIES}
    for arch in REQUIRED_ARCHS:
        assert {f"{arch}-fp32-tflite", f"{arch}-int8-tflite"} <= ids, arch
    for arch in MOBILE:
        assert f"{arch}-fp32-onnx" in ids, arch
    assert zoo.get("resnet50_224-fp32-tflite").storage == "cache"  # the big one is built on demand


def test_ids_follow_the_naming_rule_and_match_their_fields():
    for e in ENTRIES:
        # the random-weight GGUF LLMs (tests/llm/test_llm_zoo.py) keep tiny_gguf.py's hyphenated names
        rule = r"[a-z0-9-]+-(f32|f16|q8_0|q4_0)-gguf" if e.format == "gguf" else r"[a-z0-9_.]+-(fp32|int8)-(tflite|onnx)"
        assert re.fullmatch(rule, e.id), e.id
        assert e.id == f"{e.arch}-{e.precision}-{e.format}"
        assert e.file.endswith(f".{e.format}")
        assert e.expected.reference and e.expected.macs > 0 and e.expected.params > 0


def test_arch_alone_resolves_to_its_fp32_tflite_entry():
    assert zoo.resolve("kws01").id == "kws01-fp32-tflite"
    assert zoo.resolve("mobilenet_v2_0.35_96-fp32-onnx").format == "onnx"
    assert zoo.resolve("no_such_model") is None


def test_committed_files_match_their_sha256_and_size():
    assert COMMITTED
    for e in COMMITTED:
        assert e.built, e.path
        assert e.path.stat().st_size == e.size_bytes, e.id
        assert sha256_of(e.path) == e.sha256, e.id


def test_committed_files_respect_the_size_rule():
    total = 0
    for e in COMMITTED:
        total += e.size_bytes
        # ~5 MB per file; the fp32 mobilenet_v2_0.35_96 pair (6.7 MB) is committed on purpose
        assert e.size_bytes <= 5 * 2**20 or e.arch == "mobilenet_v2_0.35_96", (e.id, e.size_bytes)
    assert total < 40e6, total


def _random_input(shape, dtype, rng):
    if dtype == "int8":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    return rng.uniform(-1, 1, shape).astype(np.float32)


@pytest.mark.parametrize("entry", COMMITTED, ids=[e.id for e in COMMITTED])
def test_committed_model_runs_one_inference(entry):
    rng = np.random.default_rng(0)
    x = _random_input(entry.input_shape, entry.input_dtype, rng)
    if entry.format == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(entry.path))
        interp.allocate_tensors()
        (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
        assert list(inp["shape"]) == entry.input_shape and inp["dtype"] == np.dtype(entry.input_dtype)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"])
    else:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(entry.path), providers=["CPUExecutionProvider"])
        y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert list(y.shape) == entry.output_shape
    assert str(y.dtype) == entry.output_dtype
    assert np.all(np.isfinite(y.astype(np.float64)))


@pytest.mark.parametrize("entry", COMMITTED, ids=[e.id for e in COMMITTED])
def test_manifest_counts_are_what_the_analysis_finds(entry):
    a = analyze(entry.path, mcu=False)
    assert (a.macs, a.params, a.format, a.precision) == (entry.macs, entry.params, entry.format, entry.precision)
    assert [i.shape for i in a.inputs] == [entry.input_shape]


def test_variants_of_one_architecture_have_the_same_macs():
    by_arch: dict[str, set[int]] = {}
    for e in ENTRIES:
        by_arch.setdefault(e.arch, set()).add(e.macs)
    assert all(len(m) == 1 for m in by_arch.values()), by_arch
    # and not only in the manifest: analyze the committed fp32/int8/onnx files of one arch
    files = [e for e in COMMITTED if e.arch == "mobilenet_v2_0.35_96"]
    assert {e.format for e in files} == {"tflite", "onnx"} and {e.precision for e in files} == {"fp32", "int8"}
    assert len({analyze(e.path, mcu=False).macs for e in files}) == 1


def test_onnx_and_tflite_fp32_compute_the_same_function():
    """The ONNX file is a translation of the fp32 TFLite file: same weights, same outputs."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    lite_path, onnx_path = (zoo.model_file(f"mobilenet_v2_0.35_96-fp32-{f}") for f in ("tflite", "onnx"))
    x = np.random.default_rng(3).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
    interp = Interpreter(model_path=str(lite_path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    expected = interp.get_tensor(interp.get_output_details()[0]["index"])
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    assert expected.max() < 0.99  # not a saturated softmax, so the comparison means something
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-3)


def test_on_demand_entry_not_built_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_ZOO_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"harness zoo build resnet50_224-fp32-tflite"):
        zoo.model_file("resnet50_224")
    entry = zoo.get("resnet50_224-int8-tflite")
    assert not entry.built and entry.path.parent == tmp_path


def test_model_file_accepts_paths_and_rejects_what_is_not_a_model(tmp_path):
    committed = zoo.get("kws01-int8-tflite").path
    assert zoo.model_file(str(committed)) == committed
    with pytest.raises(ModelError, match="no such model file"):
        zoo.model_file(str(tmp_path / "missing.tflite"))
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"\x80\x02torch")
    with pytest.raises(ModelError, match=r"unsupported model format '\.pt'"):
        zoo.model_file(str(weights))
    with pytest.raises(ModelError, match="unknown model 'not_in_the_zoo'"):
        zoo.model_file("not_in_the_zoo")


def test_a_broken_manifest_names_the_field(tmp_path, monkeypatch):
    (tmp_path / "manifest.yaml").write_text("models:\n  - id: x\n    arch: x\n")
    monkeypatch.setenv("HARNESS_ZOO_DIR", str(tmp_path))
    with pytest.raises(ModelError, match=r"manifest.yaml: models\[0\]\.task"):
        zoo.entries()
