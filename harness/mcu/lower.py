"""Lower a fully int8 ``.tflite`` model to a `ModelProgram` for the reference firmware.

Reads the graph with the zoo's reader (`harness.analysis.tflite_model.load_tflite`)
and turns each operator into one firmware layer over the model's real shapes, with
TensorFlow Lite's quantization parameters: per-channel requantization multipliers
for convolutions, the ADD rescaling with a 20-bit left shift, fused activations as
clamps. RESHAPE (and a QUANTIZE that keeps scale and zero point) only rename a
buffer, so they alias their input instead of copying.

Supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D,
MAX_POOL_2D, ADD (same shapes), SOFTMAX, RESHAPE, QUANTIZE (int8 → int8). Anything
else is refused with a `ModelError` naming the operator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.analysis.tflite_model import (
    TfliteGraph,
    TfliteOp,
    TfliteTensor,
    load_tflite,
)
from harness.errors import ModelError
from harness.mcu.program import Layer, ModelProgram, mlperf_tiny_id, plan_arena, quantize_multiplier

_ALIAS_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def model_id_for(path: Path) -> str:
    """The id `profile%` reports: kws01/vww01/ic01/ad01 when the file name says so."""
    return mlperf_tiny_id(Path(path).name) or Path(path).stem.split("-")[0][:24] or "model"


class _Lowering:
    def __init__(self, graph: TfliteGraph):
        self.g = graph
        self.where = str(graph.path)
        # tensor index -> storage index (aliases share storage)
        self.storage: dict[int, int] = {}

    # -- tensor helpers ----------------------------------------------------------------

    def fail(self, op: TfliteOp | None, why: str) -> ModelError:
        at = f" op {op.index} ({op.type})" if op is not None else ""
        return ModelError(f"{self.where}:{at}: {why}")

    def tensor(self, op: TfliteOp, i: int) -> TfliteTensor:
        if i >= len(op.inputs) or op.inputs[i] < 0:
            raise self.fail(op, f"input {i} is missing")
        return self.g.tensors[op.inputs[i]]

    def quant(self, op: TfliteOp, t: TfliteTensor) -> tuple[float, int]:
        q = t.quantization
        if t.dtype != "int8" or q is None:
            raise self.fail(op, f"tensor {t.name!r} is {t.dtype} without int8 quantization; "
                                "the firmware runs fully int8 models only")
        if q.per_axis:
            raise self.fail(op, f"activation tensor {t.name!r} is quantized per axis")
        return float(q.scale[0]), int(q.zero_point[0])

    def weights(self, op: TfliteOp, t: TfliteTensor) -> tuple[np.ndarray, np.ndarray]:
        if t.data is None or t.dtype != "int8" or t.quantization is None:
            raise self.fail(op, f"weights {t.name!r} must be constant int8 ({t.dtype} given)")
        if np.any(t.quantization.zero_point != 0):
            raise self.fail(op, f"weights {t.name!r} have a non-zero zero point (TFLite requires 0)")
        return np.asarray(t.data, dtype=np.int8), np.asarray(t.quantization.scale, dtype=np.float64)

    def bias(self, op: TfliteOp) -> np.ndarray | None:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return None
        t = self.g.tensors[op.inputs[2]]
        if t.data is None or t.dtype != "int32":
            raise self.fail(op, f"bias {t.name!r} must be constant int32 ({t.dtype} given)")
        return np.asarray(t.data, dtype=np.int32).reshape(-1)

    @staticmethod
    def nhwc(t: TfliteTensor) -> tuple[int, int, int]:
        s = list(t.shape)
        if len(s) == 4:
            return s[1], s[2], s[3]
        if len(s) == 3:
            return s[0], s[1], s[2]
        if len(s) == 2:
            return 1, s[0] if s[0] != 1 else 1, s[1]
        return 1, 1, int(np.prod(s)) if s else 1

    def activation(self, op: TfliteOp, out_scale: float, out_zp: int) -> tuple[int, int]:
        act = op.options.get("fused_activation_function", "NONE")

        def q(x: float) -> int:
            return out_zp + int(round(x / out_scale))

        if act == "NONE":
            return -128, 127
        if act == "RELU":
            return max(-128, q(0.0)), 127
        if act == "RELU6":
            return max(-128, q(0.0)), min(127, q(6.0))
        if act == "RELU_N1_TO_1":
            return max(-128, q(-1.0)), min(127, q(1.0))
        raise self.fail(op, f"fused activation {act} is not supported")

    @staticmethod
    def same_padding(size: int, out: int, k: int, stride: int, dil: int) -> int:
        eff = (k - 1) * dil + 1
        return max((out - 1) * stride + eff - size, 0) // 2

    def padding(self, op: TfliteOp, size: int, out: int, k: int, stride: int, dil: int) -> int:
        pad = op.options.get("padding", "VALID")
        if pad == "SAME":
            return self.same_padding(size, out, k, stride, dil)
        if pad == "VALID":
            return 0
        raise self.fail(op, f"padding {pad} is not supported")

    # -- ops ---------------------------------------------------------------------------

    def lower(self, op: TfliteOp) -> Layer | None:
        kind = op.opcode
        if kind in _ALIAS_OPS:
            return None
        out_t = self.g.tensors[op.outputs[0]]
        in_t = self.tensor(op, 0)
        in_scale, in_zp = self.quant(op, in_t)
        out_scale, out_zp = self.quant(op, out_t)
        act_min, act_max = self.activation(op, out_scale, out_zp)
        ih, iw, ic = self.nhwc(in_t)
        oh, ow, oc = self.nhwc(out_t)
        origin = f"op {op.index} {op.type} {self.g.op_name(op)}"[:120].replace("*/", "* /")
        base = dict(in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, in_zp=in_zp, out_zp=out_zp,
                    act_min=act_min, act_max=act_max, origin=origin)

        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, w_scale = self.weights(op, self.tensor(op, 1))
            sh, sw = op.options.get("stride_h", 1), op.options.get("stride_w", 1)
            dh, dw = op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)
            if kind == "CONV_2D":
                kh, kw = w.shape[1], w.shape[2]
                if w.shape[3] != ic:
                    raise self.fail(op, f"filter takes {w.shape[3]} input channels, input has {ic}")
                macs = oh * ow * oc * kh * kw * ic
                depth_mult = 1
            else:
                kh, kw = w.shape[1], w.shape[2]
                depth_mult = oc // ic
                if depth_mult * ic != oc:
                    raise self.fail(op, f"{oc} output channels is not a multiple of {ic} input channels")
                macs = oh * ow * oc * kh * kw
            mults = [quantize_multiplier(in_scale * float(s) / out_scale) for s in np.broadcast_to(w_scale, (oc,))]
            return Layer(
                op=kind, k_h=kh, k_w=kw, stride_h=sh, stride_w=sw, dil_h=dh, dil_w=dw,
                pad_h=self.padding(op, ih, oh, kh, sh, dh), pad_w=self.padding(op, iw, ow, kw, sw, dw),
                depth_mult=depth_mult, mult=[m for m, _ in mults], shift=[s for _, s in mults],
                weights=w, bias=self.bias(op), macs=macs, **base,
            )

        if kind == "FULLY_CONNECTED":
            w, w_scale = self.weights(op, self.tensor(op, 1))
            n_out, n_in = w.shape
            rows = in_t.numel // n_in
            if rows * n_in != in_t.numel:
                raise self.fail(op, f"input of {in_t.numel} values is not a multiple of {n_in} features")
            mults = [quantize_multiplier(in_scale * float(s) / out_scale) for s in w_scale.reshape(-1)]
            base.update(in_h=rows, in_w=1, in_c=n_in, out_h=rows, out_w=1, out_c=n_out)
            return Layer(op=kind, mult=[m for m, _ in mults], shift=[s for _, s in mults], weights=w,
                         single_rounding=len(mults) > 1, bias=self.bias(op), macs=rows * n_in * n_out, **base)

        if kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            if (in_scale, in_zp) != (out_scale, out_zp):
                raise self.fail(op, "pooling that changes the quantization is not supported")
            kh, kw = op.options.get("filter_height", 1), op.options.get("filter_width", 1)
            sh, sw = op.options.get("stride_h", 1), op.options.get("stride_w", 1)
            return Layer(op=kind, k_h=kh, k_w=kw, stride_h=sh, stride_w=sw,
                         pad_h=self.padding(op, ih, oh, kh, sh, 1), pad_w=self.padding(op, iw, ow, kw, sw, 1),
                         macs=oh * ow * oc * kh * kw, **base)

        if kind == "ADD":
            b_t = self.tensor(op, 1)
            if b_t.data is not None or tuple(b_t.shape) != tuple(in_t.shape) or in_t.numel != out_t.numel:
                raise self.fail(op, "ADD of a constant or with broadcasting is not supported")
            b_scale, b_zp = self.quant(op, b_t)
            left_shift = 20  # TFLite's choice for 8-bit ADD
            twice_max = 2.0 * max(in_scale, b_scale)
            m1, s1 = quantize_multiplier(in_scale / twice_max)
            m2, s2 = quantize_multiplier(b_scale / twice_max)
            mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * out_scale))
            return Layer(op=kind, in2_zp=b_zp, left_shift=left_shift, in1_mult=m1, in1_shift=s1,
                         in2_mult=m2, in2_shift=s2, mult=[mo], shift=[so], **base)

        if kind == "SOFTMAX":
            rows = in_t.numel // ic
            base.update(in_h=rows, in_w=1, out_h=rows, out_w=1)
            return Layer(op=kind, in_scale=in_scale, beta=float(op.options.get("beta", 1.0)),
                         out_scale=out_scale, **base)

        if kind == "QUANTIZE":
            m, s = quantize_multiplier(in_scale / out_scale)
            return Layer(op="REQUANTIZE", mult=[m], shift=[s], bytes=out_t.numel, **base)

        raise self.fail(op, "operator not supported by the reference firmware's kernels")

    # -- whole graph -------------------------------------------------------------------

    def run(self, model_id: str) -> ModelProgram:
        g = self.g
        if len(g.inputs) != 1 or len(g.outputs) != 1:
            raise self.fail(None, f"the firmware runs models with one input and one output "
                                  f"({len(g.inputs)} inputs, {len(g.outputs)} outputs)")

        def root(t: int) -> int:
            while t in self.storage:
                t = self.storage[t]
            return t

        # Only ops on the data path from the input to the output run; the int32 shape
        # arithmetic Keras emits for a Flatten (SHAPE, STRIDED_SLICE, PACK feeding a
        # RESHAPE's shape input) is dead once RESHAPE is an alias.
        needed = {g.outputs[0]}
        live: set[int] = set()
        for op in reversed(g.ops):
            if not needed.intersection(op.outputs):
                continue
            live.add(op.index)
            data_inputs = op.inputs[:1] if op.opcode in _ALIAS_OPS else op.inputs
            needed.update(t for t in data_inputs if t >= 0 and g.tensors[t].data is None)

        steps: list[tuple[TfliteOp, Layer]] = []
        for op in g.ops:
            if op.index not in live:
                continue
            if op.opcode == "QUANTIZE":
                ins, outs = self.quant(op, self.tensor(op, 0)), self.quant(op, g.tensors[op.outputs[0]])
                if ins == outs:
                    self.storage[op.outputs[0]] = root(op.inputs[0])
                    continue
            layer = self.lower(op)
            if layer is None:
                self.storage[op.outputs[0]] = root(op.inputs[0])
                continue
            steps.append((op, layer))
        if not steps:
            raise self.fail(None, "no operator to run")

        # lifetimes of each storage, in layer steps; the input lives throughout (it is
        # loaded once per `infer` and read by every inference), the output from its
        # producer to the end
        n = len(steps)
        first: dict[int, int] = {root(g.inputs[0]): 0}
        last: dict[int, int] = {root(g.inputs[0]): n - 1, root(g.outputs[0]): n - 1}
        for i, (op, _) in enumerate(steps):
            for t in [x for x in op.inputs if x >= 0 and g.tensors[x].data is None]:
                r = root(t)
                first.setdefault(r, i)
                last[r] = max(last.get(r, i), i)
            r = root(op.outputs[0])
            first.setdefault(r, i)
            last[r] = max(last.get(r, i), i)
        keys = sorted(first)
        sizes = [g.tensors[k].numel for k in keys]
        offsets, arena = plan_arena(sizes, [first[k] for k in keys], [last[k] for k in keys])
        offset = dict(zip(keys, offsets))

        layers = []
        for op, layer in steps:
            layer.in_ = offset[root(op.inputs[0])]
            if layer.op == "ADD":
                layer.in2 = offset[root(op.inputs[1])]
            layer.out = offset[root(op.outputs[0])]
            layers.append(layer)

        in_t, out_t = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
        in_scale, in_zp = self.quant(steps[0][0], in_t)
        out_scale, out_zp = self.quant(steps[-1][0], out_t)
        return ModelProgram(
            model_id=model_id, layers=layers,
            input_offset=offset[root(g.inputs[0])], input_bytes=in_t.numel,
            output_offset=offset[root(g.outputs[0])], output_count=out_t.numel,
            output_scale=out_scale, output_zp=out_zp, arena_bytes=arena,
            input_shape=tuple(in_t.shape), input_scale=in_scale, input_zp=in_zp,
            output_shape=tuple(out_t.shape), source=Path(g.path).name,
        )


def program_from_tflite(path: str | Path, model_id: str | None = None) -> ModelProgram:
    """Lower a fully int8 ``.tflite`` file. Raises `ModelError` naming the op it cannot run."""
    graph = load_tflite(path)
    return _Lowering(graph).run(model_id or model_id_for(Path(path)))
