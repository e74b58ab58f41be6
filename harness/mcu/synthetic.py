"""A small seeded int8 CNN lowered straight to a `ModelProgram`.

It exercises every kernel shape the MLPerf Tiny models use (convolution, depthwise,
pooling, fully connected, softmax, residual add) with a known amount of work, so the
firmware and the protocol can be tested without a model file. `width` scales the
channel counts (work grows about with width²).
"""

from __future__ import annotations

import numpy as np

from harness.mcu.program import Layer, ModelProgram, plan_arena, quantize_multiplier


def _same_pad(size: int, k: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    pad = max((out - 1) * stride + k - size, 0) // 2
    return out, pad


def synthetic_program(width: int = 1, size: int = 16, classes: int = 10, seed: int = 0) -> ModelProgram:
    rng = np.random.default_rng(seed)
    c1, c2 = 8 * width, 16 * width
    act_scale = 0.05  # every activation tensor: scale 0.05, zero point -128 after ReLU
    w_scale = 0.01

    def requant(in_scale: float, out_scale: float, channels: int) -> tuple[list[int], list[int]]:
        pairs = [quantize_multiplier(in_scale * w_scale / out_scale) for _ in range(channels)]
        return [m for m, _ in pairs], [s for _, s in pairs]

    layers: list[Layer] = []
    h = w = size
    # tensors: 0 input, then one per layer output
    shapes = [(h, w, 1)]

    def conv(op: str, k: int, stride: int, cin: int, cout: int) -> None:
        nonlocal h, w
        oh, ph = _same_pad(h, k, stride)
        ow, pw = _same_pad(w, k, stride)
        if op == "CONV_2D":
            weights = rng.integers(-127, 128, size=(cout, k, k, cin), dtype=np.int8)
            macs = oh * ow * cout * k * k * cin
        else:
            weights = rng.integers(-127, 128, size=(k, k, cout), dtype=np.int8)
            macs = oh * ow * cout * k * k
        mult, shift = requant(act_scale, act_scale, cout)
        layers.append(
            Layer(
                op=op, in_h=h, in_w=w, in_c=cin, out_h=oh, out_w=ow, out_c=cout, k_h=k, k_w=k,
                stride_h=stride, stride_w=stride, pad_h=ph, pad_w=pw, depth_mult=cout // cin if op != "CONV_2D" else 1,
                in_zp=-128, out_zp=-128, act_min=-128, act_max=127, mult=mult, shift=shift, weights=weights,
                bias=rng.integers(-2000, 2000, size=cout, dtype=np.int32), macs=macs, origin=f"synthetic {op}",
            )
        )
        h, w = oh, ow
        shapes.append((h, w, cout))

    conv("CONV_2D", 3, 1, 1, c1)
    conv("DEPTHWISE_CONV_2D", 3, 2, c1, c1)
    conv("CONV_2D", 1, 1, c1, c2)
    conv("CONV_2D", 3, 1, c2, c2)
    # residual: ADD(tensor 3, tensor 4) at the same scale
    m_in, s_in = quantize_multiplier(0.5)
    m_out, s_out = quantize_multiplier(2 * act_scale / ((1 << 20) * act_scale))
    layers.append(
        Layer(
            op="ADD", in_h=h, in_w=w, in_c=c2, out_h=h, out_w=w, out_c=c2, in_zp=-128, in2_zp=-128, out_zp=-128,
            left_shift=20, in1_mult=m_in, in1_shift=s_in, in2_mult=m_in, in2_shift=s_in,
            mult=[m_out], shift=[s_out], origin="synthetic ADD",
        )
    )
    shapes.append((h, w, c2))
    layers.append(
        Layer(
            op="AVERAGE_POOL_2D", in_h=h, in_w=w, in_c=c2, out_h=1, out_w=1, out_c=c2, k_h=h, k_w=w,
            stride_h=h, stride_w=w, in_zp=-128, out_zp=-128, origin="synthetic AVERAGE_POOL_2D",
        )
    )
    shapes.append((1, 1, c2))
    fc_mult, fc_shift = quantize_multiplier(act_scale * w_scale / 0.1)
    layers.append(
        Layer(
            op="FULLY_CONNECTED", in_h=1, in_c=c2, out_h=1, out_c=classes, in_zp=-128, out_zp=0,
            mult=[fc_mult], shift=[fc_shift], weights=rng.integers(-127, 128, size=(classes, c2), dtype=np.int8),
            bias=rng.integers(-500, 500, size=classes, dtype=np.int32), macs=classes * c2,
            origin="synthetic FULLY_CONNECTED",
        )
    )
    shapes.append((1, 1, classes))
    layers.append(
        Layer(
            op="SOFTMAX", in_h=1, in_c=classes, out_h=1, out_c=classes, in_zp=0, out_zp=-128,
            in_scale=0.1, beta=1.0, out_scale=1 / 256, origin="synthetic SOFTMAX",
        )
    )
    shapes.append((1, 1, classes))

    # tensor t is written by layer t-1; inputs: layer i reads tensor i (ADD also reads tensor 3)
    n = len(shapes)
    sizes = [int(np.prod(s)) for s in shapes]
    first = [max(t - 1, 0) for t in range(n)]
    last = [min(t, len(layers) - 1) for t in range(n)]
    last[3] = max(last[3], 4)  # the residual branch lives until the ADD
    last[0] = len(layers) - 1  # the input is loaded once per `infer` and read by every inference
    offsets, arena = plan_arena(sizes, first, last)
    for i, layer in enumerate(layers):
        layer.in_ = offsets[i]
        layer.out = offsets[i + 1]
    layers[4].in_, layers[4].in2 = offsets[4], offsets[3]
    return ModelProgram(
        model_id="synthetic",
        layers=layers,
        input_offset=offsets[0],
        input_bytes=sizes[0],
        output_offset=offsets[-1],
        output_count=classes,
        output_scale=1 / 256,
        output_zp=-128,
        arena_bytes=arena,
        input_shape=(1, size, size, 1),
        input_scale=act_scale,
        input_zp=-128,
        output_shape=(1, classes),
        source=f"synthetic_program(width={width}, size={size}, classes={classes}, seed={seed})",
    )
