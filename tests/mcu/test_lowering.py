"""Header generation: TFLite's requantization math, the arena planner, lowering of the
MLPerf Tiny graphs, the fit check and the firmware CLI commands."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import zoo
from harness.errors import ModelError
from harness.mcu.fit import ModelDoesNotFit, check_fit, require_fit
from harness.mcu.header import render_header
from harness.mcu.lower import program_from_tflite
from harness.mcu.program import plan_arena, quantize_multiplier
from harness.profiles import load_profile
from tests.mcu.conftest import serial_profile

pytestmark = pytest.mark.timeout(120)


def test_quantize_multiplier_matches_tflite():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.75) == (round(0.75 * (1 << 31)), 0)
    assert quantize_multiplier(1e-12) == (0, 0)  # below 2^-31: flushed to zero as TFLite does


@given(st.floats(min_value=1e-8, max_value=1e4, allow_nan=False))
def test_quantize_multiplier_round_trips(real):
    m, shift = quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    assert m * 2.0 ** (shift - 31) == pytest.approx(real, rel=2 ** -30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=25))
def test_arena_plan_never_overlaps_live_tensors(spec):
    sizes = [s for s, _, _ in spec]
    first = [min(a, b) for _, a, b in spec]
    last = [max(a, b) for _, a, b in spec]
    offsets, total = plan_arena(sizes, first, last)
    assert all(o % 16 == 0 for o in offsets) and total % 16 == 0
    for i in range(len(sizes)):
        assert offsets[i] + sizes[i] <= total
        for j in range(i):
            live_together = not (last[i] < first[j] or last[j] < first[i])
            apart = offsets[i] + sizes[i] <= offsets[j] or offsets[j] + sizes[j] <= offsets[i]
            assert apart or not live_together


def test_mlperf_tiny_graphs_lower_to_their_real_shapes():
    expected_ops = {
        "kws01": {"CONV_2D": 5, "DEPTHWISE_CONV_2D": 4, "AVERAGE_POOL_2D": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1},
        "vww01": {"CONV_2D": 14, "DEPTHWISE_CONV_2D": 13, "AVERAGE_POOL_2D": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1},
        "ic01": {"CONV_2D": 9, "ADD": 3, "AVERAGE_POOL_2D": 1, "FULLY_CONNECTED": 1, "SOFTMAX": 1},
        "ad01": {"FULLY_CONNECTED": 10},
    }
    for model, ops in expected_ops.items():
        entry = zoo.resolve(f"{model}-int8-tflite")
        program = program_from_tflite(zoo.model_file(entry.id))
        counts: dict[str, int] = {}
        for layer in program.layers:
            counts[layer.op] = counts.get(layer.op, 0) + 1
        assert counts == ops, model
        assert program.model_id == model
        assert program.input_bytes == math.prod(entry.input_shape)
        assert program.output_count == math.prod(entry.output_shape)
        weighted = sum(x.macs for x in program.layers if x.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
        assert weighted == pytest.approx(entry.macs, rel=0.01), model  # the zoo's own MAC count
        # every layer's buffers lie inside the arena
        for x in program.layers:
            assert x.in_ + x.in_bytes <= program.arena_bytes and x.out + x.out_bytes <= program.arena_bytes


def test_kws01_first_layer_is_the_10x4_stride_2_convolution():
    program = program_from_tflite(zoo.model_file("kws01-int8-tflite"))
    conv = program.layers[0]
    assert (conv.op, conv.k_h, conv.k_w, conv.stride_h, conv.stride_w) == ("CONV_2D", 10, 4, 2, 2)
    assert (conv.in_h, conv.in_w, conv.in_c, conv.out_h, conv.out_w, conv.out_c) == (49, 10, 1, 25, 5, 64)
    assert len(conv.mult) == 64 and conv.weights.shape == (64, 10, 4, 1)
    assert conv.act_min >= -128 and conv.act_max == 127  # fused ReLU as a clamp at the zero point
    header = render_header(program)
    assert '#define EE_MODEL_ID "kws01"' in header
    assert re.search(r"#define EE_MODEL_INPUT_BYTES 490u", header)
    assert header.count(".op = ") == len(program.layers)


def test_float_model_is_refused_with_the_op_named():
    with pytest.raises(ModelError, match=r"op 0 \(CONV_2D\).*float32"):
        program_from_tflite(zoo.model_file("kws01-fp32-tflite"))


def test_fit_check_refuses_a_board_that_is_too_small():
    model = zoo.model_file("vww01-int8-tflite")
    assert check_fit(load_profile("nucleo-l4r5zi"), model).fits is True
    tiny = serial_profile("socket://127.0.0.1:1", hardware={
        "sram_bytes": 64 * 1024, "flash_bytes": 256 * 1024,
        "sources": {"sram_bytes": "test", "flash_bytes": "test"}})
    with pytest.raises(ModelDoesNotFit) as err:
        require_fit(tiny, model)
    assert "SRAM" in str(err.value) and "flash" in str(err.value)
    unknown = serial_profile("socket://127.0.0.1:1")
    assert check_fit(unknown, model).fits is None


def test_cli_gen_model_build_and_fit(cli, tmp_path):
    proc = cli("firmware", "gen-model", "ad01-int8-tflite", "-o", str(tmp_path / "ad01.h"), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["model_id"] == "ad01" and info["layers"] == 10 and (tmp_path / "ad01.h").is_file()
    proc = cli("firmware", "build", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["firmware_model"] == "synthetic"
    profile = tmp_path / "tiny.yaml"
    profile.write_text("id: tiny\nname: tiny\ntransport: {kind: serial, port: /dev/null}\nruntimes: [tinyml]\n"
                       "hardware: {sram_bytes: 8192, flash_bytes: 65536, sources: {sram_bytes: t, flash_bytes: t}}\n")
    proc = cli("firmware", "fit", "-d", str(profile), "-m", "kws01-int8-tflite")
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: ") and "does not fit tiny" in proc.stderr and "Traceback" not in proc.stderr


def test_requantization_matches_numpy_reference_on_real_weights():
    """The multipliers in the header reproduce TFLite's real scale ratio per channel."""
    from harness.analysis.tflite_model import load_tflite

    path = zoo.model_file("ic01-int8-tflite")
    g = load_tflite(path)
    conv = next(op for op in g.ops if op.opcode == "CONV_2D")
    s_in = float(g.tensors[conv.inputs[0]].quantization.scale[0])
    s_w = np.asarray(g.tensors[conv.inputs[1]].quantization.scale, dtype=np.float64)
    s_out = float(g.tensors[conv.outputs[0]].quantization.scale[0])
    layer = program_from_tflite(path).layers[0]
    real = np.array([m * 2.0 ** (s - 31) for m, s in zip(layer.mult, layer.shift)])
    assert real == pytest.approx(s_in * s_w / s_out, rel=1e-9)


def test_model_id_from_a_hostile_file_name_cannot_inject_c(tmp_path):
    # the id (from the file stem) becomes `#define EE_MODEL_ID "..."` in the header
    hostile = tmp_path / 'x"\\n#include "evil.h.tflite'
    hostile.write_bytes(zoo.model_file("ad01-int8-tflite").read_bytes())
    program = program_from_tflite(hostile)
    assert program.model_id == "x__n_include__evil.h"
    header = render_header(program)
    assert '#define EE_MODEL_ID "x__n_include__evil.h"\n' in header
    assert [line for line in header.splitlines() if "EE_MODEL_ID" in line] == [
        '#define EE_MODEL_ID "x__n_include__evil.h"']
    assert program_from_tflite(hostile, model_id='a"b\\c').model_id == "a_b_c"
