"""A model lowered for the reference firmware: a flat list of int8 layers over one arena.

`ModelProgram` is what the C header describes (see `firmware/kernels/ee_kernels.h`):
each `Layer` mirrors the C struct `ee_layer_t` field by field, plus its constant
arrays (int8 weights, int32 bias, per-channel multipliers and shifts). Activations
live at byte offsets in one arena planned by `plan_arena`.

Requantization follows TensorFlow Lite: a real multiplier becomes a Q31 integer and a
power-of-two shift (`quantize_multiplier`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

OPS = {
    "CONV_2D": 1,
    "DEPTHWISE_CONV_2D": 2,
    "FULLY_CONNECTED": 3,
    "AVERAGE_POOL_2D": 4,
    "MAX_POOL_2D": 5,
    "ADD": 6,
    "SOFTMAX": 7,
    "COPY": 8,
    "REQUANTIZE": 9,
}


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(Q31 multiplier, shift) with real ≈ multiplier · 2^shift / 2^31, as TFLite's QuantizeMultiplier."""
    if real == 0.0:
        return 0, 0
    mantissa, exponent = math.frexp(real)  # real = mantissa · 2^exponent, 0.5 <= mantissa < 1
    q = round(mantissa * (1 << 31))
    if q == 1 << 31:
        q //= 2
        exponent += 1
    if exponent < -31:  # too small to represent: TFLite flushes it to zero
        return 0, 0
    return int(q), int(exponent)


@dataclass
class Layer:
    op: str
    in_: int = 0
    in2: int = 0
    out: int = 0
    in_h: int = 1
    in_w: int = 1
    in_c: int = 1
    out_h: int = 1
    out_w: int = 1
    out_c: int = 1
    k_h: int = 1
    k_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    dil_h: int = 1
    dil_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    depth_mult: int = 1
    in_zp: int = 0
    in2_zp: int = 0
    out_zp: int = 0
    act_min: int = -128
    act_max: int = 127
    mult: list[int] = field(default_factory=list)
    shift: list[int] = field(default_factory=list)
    #: TFLite's per-channel FULLY_CONNECTED rounds the 64-bit product once; the other
    #: kernels use gemmlowp's two roundings (they differ on rare ties)
    single_rounding: bool = False
    weights: np.ndarray | None = None  # int8, in the kernel's layout
    bias: np.ndarray | None = None  # int32
    left_shift: int = 0
    in1_mult: int = 0
    in1_shift: int = 0
    in2_mult: int = 0
    in2_shift: int = 0
    in_scale: float = 0.0
    beta: float = 1.0
    out_scale: float = 0.0
    bytes: int = 0
    #: where it came from (op index and name in the model), for comments and errors
    origin: str = ""
    #: multiply-accumulates, for the work estimate
    macs: int = 0

    @property
    def in_bytes(self) -> int:
        return self.in_h * self.in_w * self.in_c

    @property
    def out_bytes(self) -> int:
        return self.out_h * self.out_w * self.out_c


#: MLPerf Tiny's benchmark models, as the reference firmware's ``profile%`` names them
MLPERF_TINY_IDS = ("kws01", "vww01", "ic01", "ad01")


def mlperf_tiny_id(*names: str) -> str | None:
    """kws01/vww01/ic01/ad01 for the first of `names` (zoo id, model name, file name)
    that starts with one of them, case-insensitively; None when none does."""
    for name in names:
        for known in MLPERF_TINY_IDS:
            if (name or "").lower().startswith(known):
                return known
    return None


def firmware_model_id(name: str) -> str:
    """`name` as the firmware's model id: it is written into a C string literal (and the
    device echoes it in ``m-model-[...]``), so only [A-Za-z0-9_.-] is kept, others become _."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "model"


@dataclass
class ModelProgram:
    model_id: str  # made safe for the C header by __post_init__ (see `firmware_model_id`)
    layers: list[Layer]
    input_offset: int
    input_bytes: int
    output_offset: int
    output_count: int
    output_scale: float
    output_zp: int
    arena_bytes: int
    #: shapes and quantization of the device's input/output tensors, for the host side
    input_shape: tuple[int, ...] = ()
    input_scale: float = 1.0
    input_zp: int = 0
    output_shape: tuple[int, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        self.model_id = firmware_model_id(self.model_id)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def constant_bytes(self) -> int:
        total = 0
        for layer in self.layers:
            if layer.weights is not None:
                total += layer.weights.size
            if layer.bias is not None:
                total += 4 * layer.bias.size
            total += 8 * len(layer.mult)
        return total


def plan_arena(sizes: list[int], first_use: list[int], last_use: list[int], align: int = 16) -> tuple[list[int], int]:
    """Offsets for tensors that live over [first_use, last_use] (layer indices).

    Greedy: place the largest tensors first, each at the lowest aligned offset that
    does not overlap a placed tensor whose lifetime overlaps its own. Returns the
    offsets and the arena size.
    """
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], first_use[i]))
    placed: list[tuple[int, int, int]] = []  # (offset, end, index)
    offsets = [0] * len(sizes)
    for i in order:
        live = sorted(
            (off, end)
            for off, end, j in placed
            if not (last_use[j] < first_use[i] or last_use[i] < first_use[j])
        )
        candidate = 0
        for off, end in live:
            if candidate + sizes[i] <= off:
                break
            candidate = max(candidate, _align(end, align))
        offsets[i] = candidate
        placed.append((candidate, candidate + sizes[i], i))
    total = max((off + sizes[i] for i, off in enumerate(offsets)), default=0)
    return offsets, _align(total, align)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a
