"""Small hand-built models (TFLite and ONNX) whose costs are known by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as fb
from onnx import TensorProto, helper, numpy_helper

from tests.zoo.tflite_writer import Net, options

P, A = fb.Padding, fb.ActivationFunctionType


def conv_opts(stride=1, act=A.NONE, padding=P.SAME):
    return options("Conv2DOptions", padding=padding, strideW=stride, strideH=stride,
                   fusedActivationFunction=act, dilationWFactor=1, dilationHFactor=1)


def every_op_net() -> Net:
    """One of each TFLite op the analysis must cover, in a chain LiteRT can run."""
    rng = np.random.default_rng(0)
    n = Net()
    x = n.tensor([1, 8, 8, 3], name="input")
    n.inputs = [x]
    t = n.op("CONV_2D", [x, n.const(rng.normal(0, 0.3, (4, 3, 3, 3))), n.const(np.zeros(4))],
             [1, 8, 8, 4], options=conv_opts(act=A.RELU))
    t = n.op("DEPTHWISE_CONV_2D", [t, n.const(rng.normal(0, 0.3, (1, 3, 3, 4))), n.const(np.zeros(4))],
             [1, 4, 4, 4], options=options("DepthwiseConv2DOptions", padding=P.SAME, strideW=2, strideH=2,
                                           depthMultiplier=1, fusedActivationFunction=A.RELU6,
                                           dilationWFactor=1, dilationHFactor=1))
    t = n.op("RELU6", [t], [1, 4, 4, 4])
    t = n.op("MAX_POOL_2D", [t], [1, 2, 2, 4], options=options(
        "Pool2DOptions", padding=P.VALID, strideW=2, strideH=2, filterWidth=2, filterHeight=2))
    t = n.op("PAD", [t, n.const([[0, 0], [1, 1], [1, 1], [0, 0]], "int32")], [1, 4, 4, 4],
             options=options("PadOptions"))
    t = n.op("AVERAGE_POOL_2D", [t], [1, 2, 2, 4], options=options(
        "Pool2DOptions", padding=P.VALID, strideW=1, strideH=1, filterWidth=3, filterHeight=3))
    t = n.op("CONCATENATION", [t, t], [1, 2, 2, 8], options=options("ConcatenationOptions", axis=3))
    t = n.op("HARD_SWISH", [t], [1, 2, 2, 8], options=options("HardSwishOptions"))
    t = n.op("LOGISTIC", [t], [1, 2, 2, 8])
    t = n.op("SUB", [t, n.const(rng.normal(0, 0.1, 8))], [1, 2, 2, 8], options=options("SubOptions"))
    t = n.op("MUL", [t, n.const(np.array(2.0))], [1, 2, 2, 8], options=options("MulOptions"))
    t = n.op("RELU", [t], [1, 2, 2, 8])
    t = n.op("MEAN", [t, n.const([1, 2], "int32")], [1, 8], options=options("ReducerOptions", keepDims=False))
    t = n.op("FULLY_CONNECTED", [t, n.const(rng.normal(0, 0.3, (6, 8))), n.const(np.zeros(6))], [1, 6],
             options=options("FullyConnectedOptions"))
    t = n.op("RESHAPE", [t, n.const([1, 2, 3], "int32")], [1, 2, 3],
             options=options("ReshapeOptions", newShape=[1, 2, 3]))
    t = n.op("BATCH_MATMUL", [t, n.const(rng.normal(0, 0.3, (1, 3, 5)))], [1, 2, 5],
             options=options("BatchMatMulOptions", adjX=False, adjY=False))
    t = n.op("RESHAPE", [t, n.const([1, 10], "int32")], [1, 10],
             options=options("ReshapeOptions", newShape=[1, 10]))
    t = n.op("ADD", [t, t], [1, 10], options=options("AddOptions"))
    t = n.op("SOFTMAX", [t], [1, 10], options=options("SoftmaxOptions", beta=1.0))
    t = n.op("QUANTIZE", [t], [1, 10], "int8", scale=1 / 256, zero_point=-128)
    t = n.op("DEQUANTIZE", [t], [1, 10])
    n.outputs = [t]
    return n


# (type, MACs, FLOPs, params) per op of every_op_net, worked out by hand
EVERY_OP_EXPECTED = [
    ("CONV_2D", 8 * 8 * 4 * 3 * 3 * 3, 2 * 6912, 4 * 27 + 4),
    ("DEPTHWISE_CONV_2D", 4 * 4 * 4 * 9, 2 * 576, 36 + 4),
    ("RELU6", 0, 2 * 64, 0),
    ("MAX_POOL_2D", 0, 16 * 4, 0),
    ("PAD", 0, 0, 0),
    ("AVERAGE_POOL_2D", 0, 16 * 9, 0),
    ("CONCATENATION", 0, 0, 0),
    ("HARD_SWISH", 0, 5 * 32, 0),
    ("LOGISTIC", 0, 4 * 32, 0),
    ("SUB", 0, 32, 8),
    ("MUL", 0, 32, 1),
    ("RELU", 0, 32, 0),
    ("MEAN", 0, 32 + 8, 0),
    ("FULLY_CONNECTED", 6 * 8, 2 * 48, 48 + 6),
    ("RESHAPE", 0, 0, 0),
    ("BATCH_MATMUL", 10 * 3, 60, 15),
    ("RESHAPE", 0, 0, 0),
    ("ADD", 0, 10, 0),
    ("SOFTMAX", 0, 50, 0),
    ("QUANTIZE", 0, 20, 0),
    ("DEQUANTIZE", 0, 20, 0),
]


def custom_op_net(dtype: str = "float32") -> Net:
    """conv -> a custom op nobody knows -> fully connected."""
    rng = np.random.default_rng(1)
    q = {"scale": 0.05, "zero_point": 0} if dtype == "int8" else {}
    wq = {"scale": 0.01, "zero_point": 0} if dtype == "int8" else {}
    n = Net()
    x = n.tensor([1, 6, 6, 2], dtype, name="input", **q)
    n.inputs = [x]
    w = n.const(rng.integers(-50, 50, (3, 3, 3, 2)) if dtype == "int8" else rng.normal(0, 0.3, (3, 3, 3, 2)),
                dtype, **wq)
    b = n.const(np.zeros(3), "int32" if dtype == "int8" else "float32",
                **({"scale": 0.0005, "zero_point": 0} if dtype == "int8" else {}))
    t = n.op("CONV_2D", [x, w, b], [1, 6, 6, 3], dtype, options=conv_opts(), **q)
    t = n.op("CUSTOM", [t], [1, 6, 6, 3], dtype, custom="MadeUpFrobnicate", **q)
    w2 = n.const(rng.integers(-50, 50, (4, 108)) if dtype == "int8" else rng.normal(0, 0.1, (4, 108)), dtype, **wq)
    b2 = n.const(np.zeros(4), "int32" if dtype == "int8" else "float32",
                 **({"scale": 0.0005, "zero_point": 0} if dtype == "int8" else {}))
    t = n.op("FULLY_CONNECTED", [t, w2, b2], [1, 4], dtype, options=options("FullyConnectedOptions"), **q)
    n.outputs = [t]
    return n


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def onnx_every_op(path: Path, unknown_node: bool = False) -> Path:
    """ONNX ops the analysis must cover (NCHW, symbolic batch), optionally with a node
    from a made-up domain after the second convolution."""
    rng = np.random.default_rng(2)
    inits = [
        _init("W1", rng.normal(0, 0.3, (8, 3, 3, 3))), _init("B1", np.zeros(8)),
        _init("bn_scale", np.ones(8)), _init("bn_bias", np.zeros(8)),
        _init("bn_mean", np.zeros(8)), _init("bn_var", np.ones(8)),
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
        _init("W2", rng.normal(0, 0.3, (8, 2, 3, 3))),  # 4 groups of 2 input channels
        _init("lo", 0.0), _init("hi", 6.0),
        _init("Wg", rng.normal(0, 0.3, (10, 16))), _init("Bg", np.zeros(10)),
        _init("Wm", rng.normal(0, 0.3, (10, 4))),
        _init("k", 0.5),
        numpy_helper.from_array(np.array([1, 4], np.int64), "shape"),
    ]
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "W1", "B1"], ["c1"], "conv", pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"], "bn"),
        node("Relu", ["bn"], ["r"], "relu"),
        node("Pad", ["r", "pads"], ["p"], "pad"),
        node("Conv", ["p", "W2"], ["c2"], "grouped_conv", group=4, strides=[2, 2]),
        node("Clip", ["c2", "lo", "hi"], ["clip"], "clip"),
    ]
    last = "clip"
    if unknown_node:
        nodes.append(node("Frobnicate", [last], ["frob"], "frob", domain="com.example.madeup"))
        last = "frob"
    nodes += [
        node("MaxPool", [last], ["mp"], "maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        node("AveragePool", [last], ["ap"], "avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        node("Concat", ["mp", "ap"], ["cat"], "concat", axis=1),
        node("GlobalAveragePool", ["cat"], ["gap"], "gap"),
        node("Flatten", ["gap"], ["flat"], "flatten"),
        node("Gemm", ["flat", "Wg", "Bg"], ["g"], "gemm", transB=1),
        node("MatMul", ["g", "Wm"], ["mm"], "matmul"),
        node("Sigmoid", ["mm"], ["s"], "sigmoid"),
        node("Add", ["s", "s"], ["a"], "add"),
        node("Mul", ["a", "k"], ["m"], "mul"),
        node("Reshape", ["m", "shape"], ["rs"], "reshape"),
        node("Softmax", ["rs"], ["y"], "softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "every_op", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    opsets = [helper.make_opsetid("", 17)]
    if unknown_node:
        opsets.append(helper.make_opsetid("com.example.madeup", 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# (type, MACs, FLOPs, params) per node of onnx_every_op (without the unknown node)
ONNX_EXPECTED = [
    ("Conv", 8 * 8 * 8 * 27, 2 * 13824, 216 + 8),
    ("BatchNormalization", 0, 2 * 512, 4 * 8),
    ("Relu", 0, 512, 0),
    ("Pad", 0, 0, 0),
    ("Conv", 8 * 4 * 4 * 2 * 9, 2 * 2304, 144),
    ("Clip", 0, 2 * 128, 0),
    ("MaxPool", 0, 32 * 4, 0),
    ("AveragePool", 0, 32 * 4, 0),
    ("Concat", 0, 0, 0),
    ("GlobalAveragePool", 0, 64 + 16, 0),
    ("Flatten", 0, 0, 0),
    ("Gemm", 160, 320, 170),
    ("MatMul", 40, 80, 40),
    ("Sigmoid", 0, 16, 0),
    ("Add", 0, 4, 0),
    ("Mul", 0, 4, 1),
    ("Reshape", 0, 0, 0),
    ("Softmax", 0, 20, 0),
]
