"""Static analysis on hand-built models with known costs, and on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from harness import zoo
from harness.analysis.static import analyze, describe, model_precision
from harness.analysis.tflite_model import load_tflite
from harness.errors import ModelError
from tests.zoo.nets import (EVERY_OP_EXPECTED, ONNX_EXPECTED, custom_op_net, every_op_net,
                            onnx_every_op)

pytestmark = pytest.mark.timeout(120)


def test_every_tflite_op_is_costed_as_worked_out_by_hand(tmp_path):
    path = every_op_net().write(tmp_path / "every_op.tflite")
    # a real model: LiteRT runs it
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"],
                      np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32))
    interp.invoke()
    assert interp.get_tensor(interp.get_output_details()[0]["index"]).sum() == pytest.approx(1, abs=0.02)

    a = analyze(path)
    got = [(o.type, o.macs, o.flops, o.params) for o in a.ops]
    assert got == EVERY_OP_EXPECTED
    assert not any(o.unknown for o in a.ops)
    assert a.macs == sum(e[1] for e in EVERY_OP_EXPECTED)
    assert a.params == sum(e[3] for e in EVERY_OP_EXPECTED)
    assert a.precision == "fp32" and a.mcu is None
    conv = a.ops[0]  # input 1x8x8x3, filter 4x3x3x3 + bias 4, fp32
    assert conv.bytes_read == (192 + 108 + 4) * 4 and conv.bytes_written == 8 * 8 * 4 * 4
    assert conv.input_shapes == [[1, 8, 8, 3], [4, 3, 3, 3], [4]] and conv.output_shapes == [[1, 8, 8, 4]]
    add = next(o for o in a.ops if o.type == "ADD")  # x + x reads x once
    assert add.bytes_read == 40 and add.bytes_written == 40
    assert a.bytes_moved == a.bytes_read + a.bytes_written == sum(o.bytes_read + o.bytes_written for o in a.ops)
    assert a.arithmetic_intensity == pytest.approx(a.flops / a.bytes_moved)
    assert a.weight_bytes == 4 * a.params  # all fp32


def test_every_onnx_op_is_costed_as_worked_out_by_hand(tmp_path):
    import onnxruntime as ort

    path = onnx_every_op(tmp_path / "every_op.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"x": np.ones((1, 3, 8, 8), np.float32)})[0].shape == (1, 4)
    a = analyze(path)
    assert [(o.type, o.macs, o.flops, o.params) for o in a.ops] == ONNX_EXPECTED
    assert a.inputs[0].shape == [1, 3, 8, 8]
    assert any("symbolic input dimension taken as 1" in n for n in a.notes)
    assert a.precision == "fp32"


def test_tflite_reader_exposes_what_kernel_generators_need():
    g = load_tflite(zoo.model_file("kws01-int8-tflite"))
    assert g.precision == "int8"
    conv = g.ops[0]
    assert conv.opcode == "CONV_2D"
    assert conv.options["padding"] == "SAME" and conv.options["stride_h"] == 2
    assert conv.options["fused_activation_function"] == "RELU"
    x, w, b = (g.tensors[i] for i in conv.inputs)
    assert x.shape == (1, 49, 10, 1) and x.dtype == "int8" and x.quantization.scale.size == 1
    assert w.shape == (64, 10, 4, 1) and w.data.dtype == np.int8 and w.data.shape == (64, 10, 4, 1)
    assert w.quantization.per_axis and w.quantization.scale.size == 64
    assert np.all(w.quantization.zero_point == 0)
    assert b.dtype == "int32" and b.data.shape == (64,)
    assert not w.data.flags.writeable  # a view into the file, not a copy
    dw = g.ops[1]
    assert dw.opcode == "DEPTHWISE_CONV_2D" and dw.options["depth_multiplier"] == 1


def test_peak_activation_matches_tflite_micro_planner_on_a_chain():
    """kws01 and ic01 are chains, so TFLM's planned activations (arena minus its
    persistent part) equal the peak of live tensors."""
    for model in ("kws01-int8-tflite", "ic01-int8-tflite"):
        a = analyze(model)
        assert a.mcu is not None and a.mcu.note is None
        assert a.mcu.flash_bytes == zoo.get(model).size_bytes
        assert a.mcu.arena_bytes - a.mcu.arena_persistent_bytes == a.activation_bytes.peak_live
        assert a.activation_bytes.total > a.activation_bytes.peak_live


def test_unknown_tflite_op_is_listed_with_zero_counts(tmp_path):
    path = custom_op_net().write(tmp_path / "custom.tflite")
    a = analyze(path)
    kinds = [(o.type, o.unknown) for o in a.ops]
    assert kinds == [("CONV_2D", False), ("MadeUpFrobnicate", True), ("FULLY_CONNECTED", False)]
    frob = a.ops[1]
    assert (frob.macs, frob.flops, frob.params, frob.bytes_read, frob.bytes_written) == (0, 0, 0, 0, 0)
    assert a.ops[0].macs == 6 * 6 * 3 * 3 * 3 * 2 and a.ops[2].macs == 4 * 108
    assert a.unknown_ops == ["MadeUpFrobnicate"]


def test_unknown_op_in_int8_model_does_not_break_the_mcu_fit(tmp_path):
    path = custom_op_net("int8").write(tmp_path / "custom_int8.tflite")
    a = analyze(path)
    assert a.precision == "int8" and a.ops[1].unknown
    assert a.mcu is not None and a.mcu.arena_bytes is None
    assert "TFLite Micro could not allocate" in a.mcu.note and "CUSTOM" in a.mcu.note
    assert a.mcu.flash_bytes == path.stat().st_size


def test_arena_measurement_reports_tflm_reason_when_the_arena_is_short():
    from harness.analysis.mcu_fit import measure_arena

    path = zoo.get("kws01-int8-tflite").path
    total, persistent, error = measure_arena(path, 1000)
    assert total is None and "Failed to allocate" in error
    total, persistent, error = measure_arena(path, 1 << 20)
    assert error is None and 0 < persistent < total < 1 << 20


def test_unknown_onnx_domain_op_is_listed_with_zero_counts(tmp_path):
    a = analyze(onnx_every_op(tmp_path / "frob.onnx", unknown_node=True))
    frob = next(o for o in a.ops if o.unknown)
    assert frob.type == "com.example.madeup.Frobnicate"
    assert (frob.macs, frob.flops, frob.params, frob.bytes_read, frob.bytes_written) == (0, 0, 0, 0, 0)
    assert a.ops[0].macs == ONNX_EXPECTED[0][1]  # ops before it are still counted
    assert a.unknown_ops == ["com.example.madeup.Frobnicate"]


@pytest.mark.parametrize("model_id", ["kws01-int8-tflite", "mobilenet_v2_0.35_96-fp32-onnx"])
@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_file_is_a_model_error(tmp_path, model_id, keep):
    src = zoo.get(model_id).path
    data = src.read_bytes()
    cut = tmp_path / f"cut{src.suffix}"
    cut.write_bytes(data[: max(16, int(len(data) * keep))])
    with pytest.raises(ModelError, match="truncated or corrupt|not a valid ONNX model") as err:
        analyze(cut)
    assert str(cut) in str(err.value)


@pytest.mark.parametrize("suffix,needle", [(".tflite", "not a TFLite model"),
                                           (".onnx", "ONNX model")])
def test_a_file_that_is_not_a_model_is_a_model_error(tmp_path, suffix, needle):
    path = tmp_path / f"notes{suffix}"
    path.write_text("these are my notes, not a neural network\n" * 20)
    with pytest.raises(ModelError, match=needle):
        analyze(path)


def test_unsupported_format_is_a_model_error(tmp_path):
    path = tmp_path / "model.pb"
    path.write_bytes(b"\x08\x01" * 64)
    with pytest.raises(ModelError, match="unsupported model format '.pb'"):
        analyze(path)


def test_describe_and_precision_for_others():
    info = describe("kws01-int8-tflite")
    assert info.precision == "int8" and info.format == "tflite"
    assert info.inputs[0].shape == [1, 49, 10, 1] and info.inputs[0].dtype == "int8"
    assert info.inputs[0].scale is not None and info.inputs[0].zero_point is not None
    assert info.sha256 == zoo.get("kws01-int8-tflite").sha256
    assert model_precision(zoo.get("mobilenet_v2_0.35_96-fp32-onnx").path) == "fp32"
    assert model_precision("ad01") == "fp32"
