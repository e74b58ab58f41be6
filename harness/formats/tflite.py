"""TFLite / LiteRT flatbuffers (``.tflite``): identity, static analysis, TFLite Micro fit."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.model_types import Graph, GraphOp, GraphTensor, McuFit, ModelAnalysis, TensorInfo
from harness.formats.base import ModelFormat


class TfliteFormat(ModelFormat):
    name = "tflite"
    extensions = (".tflite",)
    magic = ((4, b"TFL3"),)
    description = "TFLite / LiteRT flatbuffer"

    def check(self, path: Path, head: bytes) -> None:
        if not self.matches(head):
            from harness.errors import ModelError

            raise ModelError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")

    def precision(self, path: Path) -> str:
        from harness.analysis.tflite_model import load_tflite

        return load_tflite(path).precision

    def graph(self, path: Path) -> Graph:
        from harness.analysis.op_costs import TensorView, unknown
        from harness.analysis.tflite_costs import tflite_op_cost
        from harness.analysis.tflite_model import load_tflite

        g = load_tflite(path)
        tensors = {t.index: GraphTensor(t.name, t.shape, t.dtype, t.numel, t.nbytes, t.is_constant) for t in g.tensors}
        ops = []
        for op in g.ops:
            ins = [TensorView(g.tensors[i].shape, g.tensors[i].is_constant) if i >= 0 else None for i in op.inputs]
            outs = [TensorView(g.tensors[i].shape) for i in op.outputs]
            cost = unknown(op.type) if op.opcode == "CUSTOM" else tflite_op_cost(op.opcode, ins, outs, op.options)
            ops.append(GraphOp(op.index, op.type, g.op_name(op), [i if i >= 0 else None for i in op.inputs],
                               list(op.outputs), cost))

        def info(i: int) -> TensorInfo:
            t = g.tensors[i]
            q = t.quantization
            per_tensor = q is not None and q.scale.size == 1
            return TensorInfo(name=t.name, shape=list(t.shape), dtype=t.dtype,
                              scale=float(q.scale[0]) if per_tensor else None,
                              zero_point=int(q.zero_point[0]) if per_tensor else None)

        notes = [f"{g.subgraph_count - 1} more subgraph(s) not analyzed"] if g.subgraph_count > 1 else []
        return Graph(g.precision, g.size_bytes, tensors, ops, g.inputs, g.outputs,
                     [info(i) for i in g.inputs], [info(i) for i in g.outputs], notes)

    def mcu_fit(self, path: Path, analysis: ModelAnalysis) -> McuFit | None:
        if analysis.precision != "int8":
            return None
        from harness.analysis.mcu_fit import mcu_fit

        return mcu_fit(path, analysis.sha256)
