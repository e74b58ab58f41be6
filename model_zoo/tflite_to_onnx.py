"""Translate an fp32 TFLite model into an equivalent ONNX model (NCHW, opset 17).

Used by `build.py` so the zoo's ONNX files carry exactly the architecture and weights of
its fp32 TFLite files (batch norm already folded, as a deployed ONNX export would have
it). Covers the ops the zoo's models use; anything else raises NotImplementedError.
4-D activations are stored NCHW in ONNX; constants are transposed to match.
`check_onnx_matches_tflite` runs both files on the same inputs and compares outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.analysis.tflite_model import TfliteGraph, TfliteTensor, load_tflite

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10 and the older runtimes on boards/phones
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
_AXIS_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


class _Writer:
    def __init__(self, graph: TfliteGraph):
        self.g = graph
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.nchw: set[int] = set()  # TFLite tensors whose ONNX value is NCHW
        self.counter = 0
        self.consts: dict[tuple[int, bool], str] = {}  # a shared TFLite constant stays shared

    # --- names and constants -------------------------------------------------------
    def name(self, t: int) -> str:
        return f"t{t}"

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def const(self, array: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))

    # --- values ----------------------------------------------------------------------
    def value(self, t: int, want_nchw: bool | None = None) -> str:
        """ONNX name of TFLite tensor t; constants become initializers (NCHW if 4-D
        broadcasting against an NCHW activation is asked for)."""
        tensor = self.g.tensors[t]
        if (t, bool(want_nchw)) in self.consts:
            return self.consts[t, bool(want_nchw)]
        if tensor.is_constant:
            data = np.asarray(tensor.data, np.float32 if tensor.dtype == "float32" else tensor.data.dtype)
            if want_nchw:
                data = data.reshape((1,) * (4 - data.ndim) + data.shape).transpose(NHWC_TO_NCHW)
            self.consts[t, bool(want_nchw)] = self.const(data, f"c{t}")
            return self.consts[t, bool(want_nchw)]
        return self.name(t)

    def nhwc(self, t: int, hint: str) -> str:
        """Tensor t in TFLite's own layout (transposing back if stored NCHW)."""
        if t in self.nchw and any(d != 1 for d in self.g.tensors[t].shape[1:3]):
            out = self.fresh(f"{hint}_nhwc")
            self.node("Transpose", [self.name(t)], [out], out, perm=list(NCHW_TO_NHWC))
            return out
        if t in self.nchw:  # H = W = 1: NCHW and NHWC hold the same bytes in the same order
            out = self.fresh(f"{hint}_nhwc")
            self.node("Reshape", [self.name(t), self.const(np.array(self.g.tensors[t].shape, np.int64), "shape")],
                      [out], out)
            return out
        return self.name(t)

    def activation(self, raw: str, out: int, fused: str | None, op_name: str) -> None:
        target = self.name(out)
        if fused == "RELU":
            self.node("Relu", [raw], [target], f"{op_name}/relu")
        elif fused in ("RELU6", "RELU_N1_TO_1"):
            lo, hi = (0.0, 6.0) if fused == "RELU6" else (-1.0, 1.0)
            self.node("Clip", [raw, self.const(np.array(lo, np.float32), "lo"),
                               self.const(np.array(hi, np.float32), "hi")], [target], f"{op_name}/clip")
        elif fused == "TANH":
            self.node("Tanh", [raw], [target], f"{op_name}/tanh")
        else:
            raise NotImplementedError(f"fused activation {fused}")


def _same_pads(in_hw, kernel_hw, strides, dilations) -> list[int]:
    begins, ends = [], []
    for size, k, s, d in zip(in_hw, kernel_hw, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _conv_attrs(w: _Writer, op, x: TfliteTensor, kernel_hw) -> dict:
    o = op.options
    strides = [o.get("stride_h", 1), o.get("stride_w", 1)]
    dilations = [o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)]
    pads = (_same_pads(x.shape[1:3], kernel_hw, strides, dilations)
            if o.get("padding") == "SAME" else [0, 0, 0, 0])
    return {"strides": strides, "dilations": dilations, "pads": pads, "kernel_shape": list(kernel_hw)}


def _translate(w: _Writer, op) -> None:
    g = w.g
    name = g.op_name(op)
    code = op.opcode
    ins, out = op.inputs, op.outputs[0]
    fused = op.options.get("fused_activation_function")
    raw = w.fresh("pre") if fused not in (None, "NONE") else w.name(out)

    if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, filt = g.tensors[ins[0]], g.tensors[ins[1]]
        if code == "CONV_2D":  # [Cout, KH, KW, Cin] -> [Cout, Cin, KH, KW]
            kernel, group = filt.data.transpose(0, 3, 1, 2), x.shape[3] // filt.shape[3]
        else:  # [1, KH, KW, C*m] -> [C*m, 1, KH, KW]
            kernel, group = filt.data.transpose(3, 0, 1, 2), x.shape[3]
        inputs = [w.name(ins[0]), w.const(kernel.astype(np.float32), "W")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(w.value(ins[2]))
        w.node("Conv", inputs, [raw], name, group=group, **_conv_attrs(w, op, x, filt.shape[1:3]))
        w.nchw.add(out)
    elif code in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        x = g.tensors[ins[0]]
        kernel = (op.options["filter_height"], op.options["filter_width"])
        attrs = _conv_attrs(w, op, x, kernel)
        attrs.pop("dilations")
        w.node("AveragePool" if code == "AVERAGE_POOL_2D" else "MaxPool", [w.name(ins[0])], [raw], name, **attrs)
        w.nchw.add(out)
    elif code == "FULLY_CONNECTED":
        x = g.tensors[ins[0]]
        flat = w.fresh("flat")
        cin = g.tensors[ins[1]].shape[1]
        w.node("Reshape", [w.nhwc(ins[0], "fc_in"), w.const(np.array([-1, cin], np.int64), "shape")], [flat], flat)
        inputs = [flat, w.value(ins[1])] + ([w.value(ins[2])] if len(ins) > 2 and ins[2] >= 0 else [])
        w.node("Gemm", inputs, [raw], name, transB=1)
        if len(g.tensors[out].shape) != 2:
            raise NotImplementedError("FULLY_CONNECTED with keep_num_dims")
    elif code in ("ADD", "MUL", "SUB", "DIV"):
        nchw = any(i in w.nchw for i in ins)
        operands = [w.value(i, want_nchw=nchw) if g.tensors[i].is_constant else w.name(i) for i in ins]
        w.node(code.capitalize(), operands, [raw], name)
        if nchw:
            w.nchw.add(out)
    elif code in ("HARD_SWISH", "LOGISTIC", "RELU", "RELU6", "TANH"):
        if code == "RELU6":
            w.node("Clip", [w.name(ins[0]), w.const(np.array(0, np.float32), "lo"),
                            w.const(np.array(6, np.float32), "hi")], [raw], name)
        else:
            onnx_op = {"HARD_SWISH": "HardSwish", "LOGISTIC": "Sigmoid", "RELU": "Relu", "TANH": "Tanh"}[code]
            w.node(onnx_op, [w.name(ins[0])], [raw], name)
        if ins[0] in w.nchw:
            w.nchw.add(out)
    elif code == "MEAN":
        x = g.tensors[ins[0]]
        axes = sorted(int(a) % len(x.shape) for a in np.atleast_1d(g.tensors[ins[1]].data))
        keep = bool(op.options.get("keep_dims"))
        if ins[0] in w.nchw and axes == [1, 2]:
            pooled = raw if keep else w.fresh("gap")
            w.node("GlobalAveragePool", [w.name(ins[0])], [pooled], name)
            if keep:
                w.nchw.add(out)
            else:
                w.node("Flatten", [pooled], [raw], f"{name}/flatten", axis=1)
        else:
            src = w.nhwc(ins[0], "mean_in")
            w.node("ReduceMean", [src], [raw], name, axes=axes, keepdims=int(keep))
    elif code == "RESHAPE":
        shape = list(g.tensors[out].shape)
        reshaped = w.fresh("reshaped") if len(shape) == 4 else raw
        w.node("Reshape", [w.nhwc(ins[0], "reshape_in"), w.const(np.array(shape, np.int64), "shape")],
               [reshaped], name)
        if len(shape) == 4:
            w.node("Transpose", [reshaped], [raw], f"{name}/to_nchw", perm=list(NHWC_TO_NCHW))
            w.nchw.add(out)
    elif code == "SOFTMAX":
        if op.options.get("beta", 1.0) != 1.0:
            raise NotImplementedError("SOFTMAX with beta != 1")
        axis = 1 if ins[0] in w.nchw else -1
        w.node("Softmax", [w.name(ins[0])], [raw], name, axis=axis)
        if ins[0] in w.nchw:
            w.nchw.add(out)
    elif code == "PAD":
        paddings = np.asarray(g.tensors[ins[1]].data, np.int64)  # [[begin, end]] per NHWC axis
        if ins[0] in w.nchw:
            paddings = paddings[list(NHWC_TO_NCHW)]
            w.nchw.add(out)
        pads = np.concatenate([paddings[:, 0], paddings[:, 1]])
        w.node("Pad", [w.name(ins[0]), w.const(pads, "pads")], [raw], name, mode="constant")
    elif code == "CONCATENATION":
        axis = op.options.get("axis", 0) % len(g.tensors[out].shape)
        if all(i in w.nchw for i in ins):
            axis = _AXIS_NHWC_TO_NCHW[axis]
            w.nchw.add(out)
        w.node("Concat", [w.name(i) for i in ins], [raw], name, axis=axis)
    else:
        raise NotImplementedError(f"TFLite op {code} has no ONNX translation here")
    if raw != w.name(out):
        w.activation(raw, out, fused, name)


def convert_tflite_to_onnx(tflite_path: Path, onnx_path: Path) -> None:
    g = load_tflite(tflite_path)
    if g.precision != "fp32":
        raise NotImplementedError(f"only fp32 models translate; {tflite_path} is {g.precision}")
    w = _Writer(g)
    inputs = []
    for i in g.inputs:
        t = g.tensors[i]
        shape = list(t.shape)
        if len(shape) == 4:
            shape = [shape[d] for d in NHWC_TO_NCHW]
            w.nchw.add(i)
        inputs.append(helper.make_tensor_value_info(w.name(i), TensorProto.FLOAT, shape))
    for op in g.ops:
        _translate(w, op)
    outputs = []
    for i in g.outputs:
        shape = list(g.tensors[i].shape)
        if i in w.nchw:
            shape = [shape[d] for d in NHWC_TO_NCHW]
        outputs.append(helper.make_tensor_value_info(w.name(i), TensorProto.FLOAT, shape))
    graph = helper.make_graph(w.nodes, g.path.stem, inputs, outputs, initializer=w.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="harness-model-zoo", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(onnx_path))


def check_onnx_matches_tflite(onnx_path: Path, tflite_path: Path, samples: list[np.ndarray],
                              atol: float = 1e-4) -> None:
    """Both files must give the same outputs on the same (NHWC) inputs."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    lite = Interpreter(model_path=str(tflite_path))
    lite.allocate_tensors()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    for x in samples:
        lite.set_tensor(lite.get_input_details()[0]["index"], x)
        lite.invoke()
        expected = lite.get_tensor(lite.get_output_details()[0]["index"])
        feed = x.transpose(NHWC_TO_NCHW) if x.ndim == 4 else x
        got = sess.run(None, {in_name: np.ascontiguousarray(feed)})[0]
        if got.shape != expected.shape or not np.allclose(got, expected, atol=atol, rtol=1e-3):
            diff = np.max(np.abs(got.reshape(expected.shape) - expected)) if got.size == expected.size else "shape"
            raise AssertionError(f"{onnx_path.name} differs from {tflite_path.name}: max |diff| {diff}")
