"""Small real ONNX models built with onnx.helper, for tests that need a model file fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(nodes, inits, x_shape, y_name, y_shape, path: Path) -> Path:
    graph = helper.make_graph(
        nodes, path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, y_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def depthwise_onnx(path: Path, channels: int = 32, size: int = 56) -> Path:
    """conv3x3 → ReLU → depthwise 3x3 → Clip → pointwise 1x1 → global average pool."""
    rng = np.random.default_rng(0)
    c = channels
    inits = [
        numpy_helper.from_array(rng.standard_normal((c, 3, 3, 3)).astype(np.float32), "w_stem"),
        numpy_helper.from_array(rng.standard_normal((c, 1, 3, 3)).astype(np.float32), "w_dw"),
        numpy_helper.from_array(rng.standard_normal((2 * c, c, 1, 1)).astype(np.float32), "w_pw"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w_stem"], ["s"], name="stem", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["s"], ["s_relu"], name="stem_relu"),
        helper.make_node("Conv", ["s_relu", "w_dw"], ["d"], name="dw", pads=[1, 1, 1, 1], group=c),
        helper.make_node("Clip", ["d"], ["d_clip"], name="dw_clip"),
        helper.make_node("Conv", ["d_clip", "w_pw"], ["p"], name="pw"),
        helper.make_node("GlobalAveragePool", ["p"], ["y"], name="gap"),
    ]
    return _save(nodes, inits, [1, 3, size, size], "y", [1, 2 * c, 1, 1], path)


def dense_onnx(path: Path, channels: int = 128, size: int = 28) -> Path:
    """Two 3x3 convolutions with many channels: high arithmetic intensity."""
    rng = np.random.default_rng(1)
    c = channels
    inits = [
        numpy_helper.from_array(rng.standard_normal((c, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal((c, c, 3, 3)).astype(np.float32) * 0.05, "w2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1]),
    ]
    return _save(nodes, inits, [1, 3, size, size], "y", [1, c, size, size], path)
