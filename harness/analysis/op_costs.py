"""Cost of one operator: MACs, FLOPs and which inputs are its parameters.

Conventions (the README's "Static analysis" section repeats them):

- **MACs** are counted only for multiply-accumulate ops: convolutions (incl. grouped,
  depthwise, transposed, 3-D), fully-connected/Gemm and (batched) matrix products.
  conv: ``N·OH·OW·Cout · KH·KW · Cin/groups``; depthwise: ``N·OH·OW·C·KH·KW``;
  transposed conv: ``N·IH·IW·Cin · KH·KW · Cout/groups`` (one MAC per input pixel and
  kernel tap); FC / MatMul / Gemm: ``output elements · K``. Bias adds and fused
  activations are not counted.
- **FLOPs** = 2·MACs for multiply-accumulate ops. Every other op costs a fixed number of
  operations per *output* element (`PER_ELEMENT_FLOPS`: one per add, multiply, compare or
  elementary function; e.g. ReLU 1, ReLU6/Clip 2, sigmoid 4, hard-swish 5, softmax 5,
  (de)quantize 2, inference batch-norm 2), except: pooling costs ``KH·KW`` per output
  element; reductions (MEAN, SUM, GlobalAveragePool...) cost one per *input* element, plus
  one per output element for a mean (the divide); n-ary sums cost ``n-1`` per output.
  For integer models these are integer operations, counted the same way.
- Data-movement ops (reshape, transpose, concatenation, pad, slice, gather, cast...)
  cost 0 FLOPs; their bytes still count (see `harness.analysis.static`).
- **Params** of an op are the elements of its constant inputs that act as weights:
  conv/FC kernels and biases (after batch-norm folding in a deployed model), constant
  operands of element-wise ops, batch-norm scale/shift/mean/var, PReLU slopes. Shape,
  axis, padding and clip-bound inputs are not params.
- An op type not listed here is *unknown*: zero counts, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any, Sequence

Shape = tuple[int, ...] | None


@dataclass
class TensorView:
    """What cost formulas need to know about one input or output."""

    shape: Shape
    constant: bool = False

    @property
    def numel(self) -> int | None:
        if self.shape is None or any(d is None or d < 0 for d in self.shape):
            return None
        return prod(self.shape)


@dataclass
class Cost:
    macs: int = 0
    flops: int = 0
    weight_inputs: list[int] = field(default_factory=list)  # input positions holding params
    known: bool = True
    note: str | None = None


PER_ELEMENT_FLOPS: dict[str, int] = {
    # arithmetic and elementary functions: one operation each
    "add": 1, "sub": 1, "mul": 1, "div": 1, "max": 1, "min": 1, "pow": 1, "mod": 1,
    "squared_difference": 2, "neg": 1, "abs": 1, "sign": 1, "exp": 1, "log": 1, "sqrt": 1,
    "rsqrt": 1, "reciprocal": 1, "square": 1, "tanh": 1, "erf": 1, "sin": 1, "cos": 1,
    "floor": 1, "ceil": 1, "round": 1, "compare": 1, "logical": 1, "where": 1,
    # activations: relu = max(x,0); clip = min(max(x,lo),hi); sigmoid = 1/(1+exp(-x));
    # hard_sigmoid = clip(a·x+b); hard_swish = x·relu6(x+3)/6; swish = x·sigmoid(x);
    # gelu = 0.5·x·(1+erf(x/√2))
    "relu": 1, "clip": 2, "leaky_relu": 2, "prelu": 2, "elu": 3, "sigmoid": 4,
    "hard_sigmoid": 4, "hard_swish": 5, "swish": 5, "gelu": 5, "softplus": 3,
    # softmax: max, subtract, exp, sum, divide
    "softmax": 5, "log_softmax": 5,
    # normalizations at inference: batch-norm is a per-channel scale and shift
    "batch_norm": 2, "layer_norm": 8, "instance_norm": 8, "l2_norm": 3,
    # real = scale·(q − zero_point) and back
    "quantize": 2, "dequantize": 2,
    # bilinear resize: 4 weighted taps per output element
    "resize_linear": 8,
}


def elementwise(kind: str, out: TensorView, weight_inputs: Sequence[int] = ()) -> Cost:
    n = out.numel
    if n is None:
        return Cost(weight_inputs=list(weight_inputs), note="output shape unknown")
    return Cost(flops=PER_ELEMENT_FLOPS[kind] * n, weight_inputs=list(weight_inputs))


def mac_op(macs: int | None, weight_inputs: Sequence[int]) -> Cost:
    if macs is None:
        return Cost(weight_inputs=list(weight_inputs), note="shape unknown")
    return Cost(macs=macs, flops=2 * macs, weight_inputs=list(weight_inputs))


def conv(out: TensorView, kernel_taps: int, in_channels_per_group: int, weight_inputs: Sequence[int]) -> Cost:
    """Any convolution, counted from its output: each output element needs
    ``kernel_taps · in_channels_per_group`` MACs."""
    n = out.numel
    return mac_op(None if n is None else n * kernel_taps * in_channels_per_group, weight_inputs)


def matmul(out: TensorView, k: int | None, weight_inputs: Sequence[int]) -> Cost:
    n = out.numel
    return mac_op(None if n is None or k is None else n * k, weight_inputs)


def pool(out: TensorView, window: Sequence[int]) -> Cost:
    n = out.numel
    return Cost(flops=n * prod(window)) if n is not None else Cost(note="output shape unknown")


def reduce(inp: TensorView, out: TensorView, mean: bool) -> Cost:
    n_in, n_out = inp.numel, out.numel
    if n_in is None or n_out is None:
        return Cost(note="shape unknown")
    return Cost(flops=n_in + (n_out if mean else 0))


def nary(out: TensorView, n_inputs: int, mean: bool = False) -> Cost:
    n = out.numel
    if n is None:
        return Cost(note="output shape unknown")
    return Cost(flops=n * (n_inputs - 1 + (1 if mean else 0)))


def movement() -> Cost:
    return Cost()


def unknown(op_type: str) -> Cost:
    return Cost(known=False, note=f"op type {op_type!r} is not in the cost tables")


def constant_positions(inputs: Sequence[TensorView | None], positions: Sequence[int] | None = None) -> list[int]:
    """Positions (among `positions`, default all) whose input is a constant tensor."""
    idx = range(len(inputs)) if positions is None else positions
    return [i for i in idx if i < len(inputs) and inputs[i] is not None and inputs[i].constant]


def attr(attrs: dict[str, Any], key: str, default: Any) -> Any:
    value = attrs.get(key)
    return default if value is None else value
