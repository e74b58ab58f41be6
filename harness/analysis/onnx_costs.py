"""ONNX operators (default domain) mapped onto the cost conventions of `op_costs`."""

from __future__ import annotations

from math import prod
from typing import Any, Sequence

from harness.analysis import op_costs as oc
from harness.analysis.op_costs import Cost, TensorView

ELEMENTWISE: dict[str, str] = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Mod": "mod", "Pow": "pow",
    "Neg": "neg", "Abs": "abs", "Sign": "sign", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
    "Reciprocal": "reciprocal", "Tanh": "tanh", "Erf": "erf", "Sin": "sin", "Cos": "cos",
    "Floor": "floor", "Ceil": "ceil", "Round": "round", "Less": "compare",
    "LessOrEqual": "compare", "Greater": "compare", "GreaterOrEqual": "compare",
    "Equal": "compare", "And": "logical", "Or": "logical", "Not": "logical", "Xor": "logical",
    "Where": "where", "Relu": "relu", "Clip": "clip", "LeakyRelu": "leaky_relu",
    "PRelu": "prelu", "Elu": "elu", "Sigmoid": "sigmoid", "HardSigmoid": "hard_sigmoid",
    "HardSwish": "hard_swish", "Gelu": "gelu", "Softplus": "softplus", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "BatchNormalization": "batch_norm",
    "LayerNormalization": "layer_norm", "InstanceNormalization": "instance_norm",
    "LpNormalization": "l2_norm", "QuantizeLinear": "quantize",
    "DequantizeLinear": "dequantize",
}

# Which input positions carry params, where not simply "every constant input".
WEIGHT_POSITIONS: dict[str, list[int]] = {
    "Clip": [], "QuantizeLinear": [], "DequantizeLinear": [],
    "BatchNormalization": [1, 2, 3, 4], "LayerNormalization": [1, 2],
    "InstanceNormalization": [1, 2], "PRelu": [1],
}

MOVEMENT = {
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Pad", "Identity",
    "Dropout", "Shape", "Size", "Gather", "GatherElements", "GatherND", "Slice", "Split",
    "Tile", "Expand", "Cast", "CastLike", "Constant", "ConstantOfShape", "SpaceToDepth",
    "DepthToSpace", "ArgMax", "ArgMin", "Range", "NonZero", "ScatterND", "ScatterElements",
}

REDUCTIONS = {"ReduceMean": True, "ReduceSum": False, "ReduceMax": False, "ReduceMin": False,
              "ReduceProd": False, "ReduceL2": False, "ReduceL1": False,
              "GlobalAveragePool": True, "GlobalMaxPool": False}


def _k(t: TensorView | None, axis: int) -> int | None:
    if t is None or t.shape is None or len(t.shape) < abs(axis) or t.shape[axis] < 0:
        return None
    return t.shape[axis]


def onnx_op_cost(op_type: str, ins: Sequence[TensorView | None], outs: Sequence[TensorView],
                 attrs: dict[str, Any]) -> Cost:
    out = outs[0] if outs else TensorView(None)
    if op_type in ("Conv", "ConvInteger", "QLinearConv"):
        # W [Cout, Cin/groups, k...]; QLinearConv carries W at position 3, bias at 8
        w_pos, weights = {"Conv": (1, [1, 2]), "ConvInteger": (1, [1]),
                          "QLinearConv": (3, [3, 8])}[op_type]
        w = ins[w_pos] if len(ins) > w_pos else None
        if w is None or w.shape is None or len(w.shape) < 3:
            return Cost(note="weight shape unknown", weight_inputs=weights)
        return oc.conv(out, prod(w.shape[2:]), w.shape[1], weights)
    if op_type == "ConvTranspose":  # W [Cin, Cout/groups, k...]: MACs per input element
        w, x = (ins[1] if len(ins) > 1 else None), (ins[0] if ins else None)
        if w is None or w.shape is None or x is None or x.numel is None:
            return Cost(note="shape unknown", weight_inputs=[1, 2])
        return oc.mac_op(x.numel * prod(w.shape[1:]), [1, 2])
    if op_type == "Gemm":
        a = ins[0] if ins else None
        k = _k(a, 0) if attrs.get("transA") else _k(a, 1)
        return oc.matmul(out, k, oc.constant_positions(ins, [1, 2]))
    if op_type in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        a = ins[0] if ins else None
        b_pos = 3 if op_type == "QLinearMatMul" else 1
        return oc.matmul(out, _k(a, -1), oc.constant_positions(ins, [0, b_pos]))
    if op_type in ("AveragePool", "MaxPool", "LpPool"):
        return oc.pool(out, attrs.get("kernel_shape") or [1])
    if op_type in REDUCTIONS:
        return oc.reduce(ins[0] or TensorView(None), out, mean=REDUCTIONS[op_type])
    if op_type in ("Sum", "Max", "Min", "Mean"):
        return oc.nary(out, len(ins), mean=op_type == "Mean")
    if op_type == "Resize":
        mode = attrs.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        return oc.elementwise("resize_linear", out) if mode in ("linear", "cubic") else oc.movement()
    if op_type in ELEMENTWISE:
        weights = oc.constant_positions(ins, WEIGHT_POSITIONS.get(op_type))
        return oc.elementwise(ELEMENTWISE[op_type], out, weights)
    if op_type in MOVEMENT:
        return oc.movement()
    return oc.unknown(op_type)
