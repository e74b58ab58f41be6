"""TFLite builtin operators mapped onto the cost conventions of `op_costs`."""

from __future__ import annotations

from typing import Any, Sequence

from harness.analysis import op_costs as oc
from harness.analysis.op_costs import Cost, TensorView

ELEMENTWISE: dict[str, str] = {
    "ADD": "add", "SUB": "sub", "MUL": "mul", "DIV": "div", "FLOOR_DIV": "div",
    "FLOOR_MOD": "mod", "MAXIMUM": "max", "MINIMUM": "min", "POW": "pow",
    "SQUARED_DIFFERENCE": "squared_difference", "NEG": "neg", "ABS": "abs", "SIGN": "sign",
    "EXP": "exp", "LOG": "log", "SQRT": "sqrt", "RSQRT": "rsqrt", "SQUARE": "square",
    "TANH": "tanh", "SIN": "sin", "COS": "cos", "FLOOR": "floor", "CEIL": "ceil",
    "ROUND": "round", "LESS": "compare", "LESS_EQUAL": "compare", "GREATER": "compare",
    "GREATER_EQUAL": "compare", "EQUAL": "compare", "NOT_EQUAL": "compare",
    "LOGICAL_AND": "logical", "LOGICAL_OR": "logical", "LOGICAL_NOT": "logical",
    "SELECT": "where", "SELECT_V2": "where",
    "RELU": "relu", "RELU6": "clip", "RELU_N1_TO_1": "clip", "RELU_0_TO_1": "clip",
    "LEAKY_RELU": "leaky_relu", "PRELU": "prelu", "ELU": "elu", "LOGISTIC": "sigmoid",
    "HARD_SWISH": "hard_swish", "GELU": "gelu", "SOFTMAX": "softmax",
    "LOG_SOFTMAX": "log_softmax", "L2_NORMALIZATION": "l2_norm",
    "QUANTIZE": "quantize", "DEQUANTIZE": "dequantize", "RESIZE_BILINEAR": "resize_linear",
}

MOVEMENT = {
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PAD", "PADV2",
    "MIRROR_PAD", "PACK", "UNPACK", "SPLIT", "SPLIT_V", "SLICE", "STRIDED_SLICE", "GATHER",
    "GATHER_ND", "TILE", "SHAPE", "CAST", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE",
    "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "RESIZE_NEAREST_NEIGHBOR", "BROADCAST_TO",
    "FILL", "ZEROS_LIKE", "ONES_LIKE", "REVERSE_V2", "ARG_MAX", "ARG_MIN",
}

REDUCTIONS = {"MEAN": True, "SUM": False, "REDUCE_MAX": False, "REDUCE_MIN": False,
              "REDUCE_PROD": False, "REDUCE_ANY": False, "REDUCE_ALL": False}


def _dim(t: TensorView | None, axis: int) -> int | None:
    if t is None or t.shape is None or len(t.shape) < abs(axis):
        return None
    return t.shape[axis]


def tflite_op_cost(opcode: str, ins: Sequence[TensorView | None], outs: Sequence[TensorView],
                   options: dict[str, Any]) -> Cost:
    out = outs[0] if outs else TensorView(None)
    w = ins[1] if len(ins) > 1 else None
    if opcode == "CONV_2D":  # filter [Cout, KH, KW, Cin/groups]
        shape = w.shape if w is not None else None
        if not shape or len(shape) != 4:
            return Cost(note="filter shape unknown", weight_inputs=[1, 2])
        return oc.conv(out, shape[1] * shape[2], shape[3], [1, 2])
    if opcode == "DEPTHWISE_CONV_2D":  # filter [1, KH, KW, Cout]
        shape = w.shape if w is not None else None
        if not shape or len(shape) != 4:
            return Cost(note="filter shape unknown", weight_inputs=[1, 2])
        return oc.conv(out, shape[1] * shape[2], 1, [1, 2])
    if opcode == "CONV_3D":  # filter [KD, KH, KW, Cin, Cout]
        shape = w.shape if w is not None else None
        if not shape or len(shape) != 5:
            return Cost(note="filter shape unknown", weight_inputs=[1, 2])
        return oc.conv(out, shape[0] * shape[1] * shape[2], shape[3], [1, 2])
    if opcode == "TRANSPOSE_CONV":  # (output_shape, filter [Cout, KH, KW, Cin], input, bias)
        shape = w.shape if w is not None else None
        inp = ins[2] if len(ins) > 2 else None
        if not shape or len(shape) != 4 or inp is None or inp.numel is None:
            return Cost(note="shape unknown", weight_inputs=[1, 3])
        return oc.mac_op(inp.numel * shape[0] * shape[1] * shape[2], [1, 3])
    if opcode == "FULLY_CONNECTED":  # weights [Cout, Cin]
        return oc.matmul(out, _dim(w, -1), [1, 2])
    if opcode == "BATCH_MATMUL":
        a = ins[0] if ins else None
        k = _dim(a, -2) if options.get("adj_x") else _dim(a, -1)
        return oc.matmul(out, k, oc.constant_positions(ins, [0, 1]))
    if opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        return oc.pool(out, (options.get("filter_height", 1), options.get("filter_width", 1)))
    if opcode in REDUCTIONS:
        return oc.reduce(ins[0] or TensorView(None), out, mean=REDUCTIONS[opcode])
    if opcode == "ADD_N":
        return oc.nary(out, len(ins))
    if opcode in ELEMENTWISE:
        # constant operands (a scale, a bias, PReLU slopes) are params; a resize's size is not
        weights = [] if opcode == "RESIZE_BILINEAR" else oc.constant_positions(ins)
        return oc.elementwise(ELEMENTWISE[opcode], out, weights)
    if opcode in MOVEMENT:
        return oc.movement()
    return oc.unknown(opcode)
