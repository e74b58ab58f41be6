"""ONNX models (``.onnx``): identity and static analysis."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.model_types import Graph, GraphOp, GraphTensor, TensorInfo
from harness.formats.base import ModelFormat

# An ONNX ModelProto starts with a protobuf key byte (fields 1..8, varint or length-delimited).
_FIRST_BYTES = (0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)


class OnnxFormat(ModelFormat):
    name = "onnx"
    extensions = (".onnx",)
    description = "ONNX ModelProto"

    def matches(self, head: bytes) -> bool:
        # a protobuf has no magic: only a plausible first key byte, so never used to sniff a
        # file without the extension (`magic` stays empty), only to check one that has it
        return len(head) >= 2 and head[0] in _FIRST_BYTES

    def check(self, path: Path, head: bytes) -> None:
        if not self.matches(head):
            from harness.errors import ModelError

            raise ModelError(f"{path}: not an ONNX model (not a protobuf ModelProto)")

    def precision(self, path: Path) -> str:
        from harness.analysis.onnx_model import load_onnx

        return load_onnx(path).precision

    def graph(self, path: Path) -> Graph:
        from harness.analysis.onnx_costs import onnx_op_cost
        from harness.analysis.onnx_model import DEFAULT_DOMAINS, load_onnx
        from harness.analysis.op_costs import TensorView, unknown

        g = load_onnx(path)
        tensors = {name: GraphTensor(name, t.shape, t.dtype, t.numel, t.nbytes, t.constant)
                   for name, t in g.tensors.items()}
        ops = []
        for n in g.nodes:
            ins = [TensorView(g.tensors[i].shape, g.tensors[i].constant) if i else None for i in n.inputs]
            outs = [TensorView(g.tensors[o].shape) for o in n.outputs if o]
            cost = onnx_op_cost(n.op_type, ins, outs, n.attrs) if n.domain in DEFAULT_DOMAINS else unknown(n.type)
            ops.append(GraphOp(n.index, n.type, n.name, [i or None for i in n.inputs], [o for o in n.outputs if o], cost))

        def info(name: str) -> TensorInfo:
            t = g.tensors[name]
            return TensorInfo(name=name, shape=list(t.shape) if t.shape is not None else None, dtype=t.dtype)

        notes = [f"symbolic input dimension taken as 1: {d}" for d in g.assumed_dims]
        return Graph(g.precision, g.size_bytes, tensors, ops, g.inputs, g.outputs,
                     [info(i) for i in g.inputs], [info(o) for o in g.outputs], notes)
