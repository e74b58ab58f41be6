"""Write small, real ``.tflite`` flatbuffers for tests (no TensorFlow needed).

Uses the object API of the schema that ships with ai-edge-litert, so the files are the
same format the converter writes: LiteRT loads and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

_TYPES = {"float32": fb.TensorType.FLOAT32, "int8": fb.TensorType.INT8,
          "int32": fb.TensorType.INT32, "uint8": fb.TensorType.UINT8}
_NP = {"float32": np.float32, "int8": np.int8, "int32": np.int32, "uint8": np.uint8}


@dataclass
class Net:
    """Tensors and ops in execution order; `add_*` return tensor indices."""

    tensors: list[dict] = field(default_factory=list)
    ops: list[dict] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def tensor(self, shape, dtype="float32", data=None, name=None, scale=None, zero_point=None) -> int:
        self.tensors.append({"shape": list(shape), "dtype": dtype, "name": name or f"t{len(self.tensors)}",
                             "data": None if data is None else np.asarray(data, _NP[dtype]),
                             "scale": scale, "zero_point": zero_point})
        return len(self.tensors) - 1

    def const(self, array, dtype="float32", **kw) -> int:
        array = np.asarray(array, _NP[dtype])
        return self.tensor(array.shape, dtype, data=array, **kw)

    def op(self, opcode: str, inputs: list[int], out_shape, out_dtype="float32",
           options: tuple[str, Any] | None = None, custom: str | None = None, **out_kw) -> int:
        out = self.tensor(out_shape, out_dtype, name=f"{custom or opcode.lower()}_{len(self.ops)}", **out_kw)
        self.ops.append({"opcode": opcode, "inputs": inputs, "outputs": [out], "options": options,
                         "custom": custom})
        return out

    def write(self, path: Path) -> Path:
        path.write_bytes(self.to_bytes())
        return path

    def to_bytes(self) -> bytes:
        model = fb.ModelT()
        model.version = 3
        model.description = "harness test model"
        model.buffers = [fb.BufferT()]  # buffer 0: the empty sentinel
        sg = fb.SubGraphT()
        sg.tensors = []
        for t in self.tensors:
            tt = fb.TensorT()
            tt.shape = t["shape"]
            tt.type = _TYPES[t["dtype"]]
            tt.name = t["name"]
            tt.buffer = 0
            if t["data"] is not None:
                buf = fb.BufferT()
                buf.data = np.frombuffer(np.ascontiguousarray(t["data"]).tobytes(), np.uint8)
                model.buffers.append(buf)
                tt.buffer = len(model.buffers) - 1
            if t["scale"] is not None:
                q = fb.QuantizationParametersT()
                q.scale = list(np.atleast_1d(t["scale"]).astype(float))
                q.zeroPoint = list(np.atleast_1d(t["zero_point"] or 0).astype(int))
                tt.quantization = q
            sg.tensors.append(tt)
        codes: list[tuple[str, str | None]] = []
        sg.operators = []
        for o in self.ops:
            key = (o["opcode"], o["custom"])
            if key not in codes:
                codes.append(key)
            op = fb.OperatorT()
            op.opcodeIndex = codes.index(key)
            op.inputs, op.outputs = o["inputs"], o["outputs"]
            if o["options"] is not None:
                kind, obj = o["options"]
                op.builtinOptionsType = getattr(fb.BuiltinOptions, kind)
                op.builtinOptions = obj
            sg.operators.append(op)
        sg.inputs, sg.outputs = self.inputs, self.outputs
        sg.name = "main"
        model.subgraphs = [sg]
        model.operatorCodes = []
        for opcode, custom in codes:
            oc = fb.OperatorCodeT()
            code = getattr(fb.BuiltinOperator, opcode)
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            if custom:
                oc.customCode = custom
            model.operatorCodes.append(oc)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def options(kind: str, **fields) -> tuple[str, Any]:
    """("Conv2DOptions", Conv2DOptionsT(**fields)) with camelCase schema field names."""
    obj = getattr(fb, f"{kind}T")()
    for k, v in fields.items():
        if not hasattr(obj, k):
            raise AttributeError(f"{kind} has no field {k}")
        setattr(obj, k, v)
    return kind, obj
