"""Read a ``.onnx`` file into a small graph with every tensor's shape and dtype.

`load_onnx(path)` parses the protobuf (external weight files are not read), runs ONNX
shape inference so intermediate tensors get shapes, and checks the graph is complete:
every node input is a graph input, an initializer or an earlier node's output. Symbolic
input dimensions (a dynamic batch) are taken as 1 and listed in `assumed_dims`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.errors import ModelError

_BITS = {"float32": 32, "float64": 64, "float16": 16, "bfloat16": 16, "int8": 8, "uint8": 8,
         "int16": 16, "uint16": 16, "int32": 32, "uint32": 32, "int64": 64, "uint64": 64,
         "bool": 8, "int4": 4, "uint4": 4, "complex64": 64, "complex128": 128,
         "float8e4m3fn": 8, "float8e4m3fnuz": 8, "float8e5m2": 8, "float8e5m2fnuz": 8, "string": 8}

DEFAULT_DOMAINS = ("", "ai.onnx")


def _dtype_name(elem_type: int) -> str:
    name = TensorProto.DataType.Name(elem_type).lower() if elem_type else "undefined"
    return {"float": "float32", "double": "float64"}.get(name, name)


@dataclass
class OnnxTensor:
    name: str
    shape: tuple[int, ...] | None  # None: unknown rank; -1 marks an unknown dimension
    dtype: str
    constant: bool = False
    _proto: TensorProto | None = field(default=None, repr=False)
    _base_dir: Path | None = field(default=None, repr=False)

    @property
    def numel(self) -> int | None:
        if self.shape is None or any(d < 0 for d in self.shape):
            return None
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int | None:
        n = self.numel
        return None if n is None else (n * _BITS.get(self.dtype, 8) + 7) // 8

    @property
    def data(self) -> np.ndarray | None:
        """Constant contents (decoded on demand), or None for an activation."""
        if self._proto is None:
            return None
        return numpy_helper.to_array(self._proto, str(self._base_dir or ""))


@dataclass
class OnnxNode:
    index: int
    op_type: str
    domain: str
    name: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any]

    @property
    def type(self) -> str:
        return self.op_type if self.domain in DEFAULT_DOMAINS else f"{self.domain}.{self.op_type}"


@dataclass
class OnnxGraph:
    path: Path
    size_bytes: int
    ir_version: int
    opsets: dict[str, int]
    producer: str
    nodes: list[OnnxNode]
    tensors: dict[str, OnnxTensor]
    inputs: list[str]
    outputs: list[str]
    assumed_dims: list[str]

    @cached_property
    def precision(self) -> str:
        """``fp32`` | ``fp16`` | ``int8`` (QDQ / QLinear / integer ops) | ``mixed``."""
        types = {n.op_type for n in self.nodes}
        if types & {"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
                    "QuantizeLinear", "DynamicQuantizeLinear"}:
            return "int8"
        weights = set()
        for n in self.nodes:
            if n.op_type in ("Conv", "Gemm", "MatMul", "ConvTranspose") and len(n.inputs) > 1:
                t = self.tensors.get(n.inputs[1])
                if t is not None and t.constant:
                    weights.add(t.dtype)
        if weights <= {"float32"}:
            return "fp32"
        if weights <= {"float16"}:
            return "fp16"
        return "mixed"


def _attr(a: onnx.AttributeProto) -> Any:
    if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
        return "<graph>"
    value = helper.get_attribute_value(a)
    if isinstance(value, TensorProto):
        return f"<tensor {list(value.dims)}>"
    if isinstance(value, list):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _value_info_shape(vi: onnx.ValueInfoProto) -> tuple[tuple[int, ...] | None, str]:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        return None, "non-tensor"
    dtype = _dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return None, dtype
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim), dtype


def _fix_symbolic_inputs(model: onnx.ModelProto, initializers: set[str]) -> list[str]:
    assumed = []
    for vi in model.graph.input:
        if vi.name in initializers or not vi.type.HasField("tensor_type"):
            continue
        for i, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.HasField("dim_value"):
                assumed.append(f"{vi.name}[{i}]={d.dim_param or '?'}")
                d.Clear()
                d.dim_value = 1
    return assumed


def load_onnx(path: str | Path) -> OnnxGraph:
    """Parse an ``.onnx`` file. Raises `ModelError` for a file that is missing, not an
    ONNX model, truncated or inconsistent."""
    path = Path(path)
    try:
        size = path.stat().st_size
        model = onnx.load(str(path), load_external_data=False)
    except OSError as e:
        raise ModelError(f"{path}: cannot read model file ({e.strerror or e})") from e
    except Exception as e:  # protobuf DecodeError and friends: the bytes are not a model
        raise ModelError(f"{path}: not a valid ONNX model (protobuf does not parse: {e})") from e
    if model.ir_version <= 0 or not model.graph.node:
        raise ModelError(f"{path}: not an ONNX model (no IR version or no graph nodes)")

    initializers = {t.name for t in model.graph.initializer}
    assumed = _fix_symbolic_inputs(model, initializers)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False,
                                                     data_prop=True)
    except Exception:  # inference is best effort; unknown shapes just cost nothing
        inferred = model
    g = inferred.graph

    tensors: dict[str, OnnxTensor] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shape, dtype = _value_info_shape(vi)
        tensors[vi.name] = OnnxTensor(vi.name, shape, dtype)
    for t in model.graph.initializer:
        tensors[t.name] = OnnxTensor(t.name, tuple(t.dims), _dtype_name(t.data_type), True, t, path.parent)

    defined = set(initializers) | {vi.name for vi in g.input}
    nodes = []
    for i, n in enumerate(g.node):
        for name in n.input:
            if name and name not in defined:
                raise ModelError(f"{path}: ONNX graph is truncated or corrupt: node {i} "
                                 f"({n.op_type} {n.name!r}) reads {name!r}, which nothing produces")
        defined.update(o for o in n.output if o)
        attrs = {a.name: _attr(a) for a in n.attribute}
        if n.op_type == "Constant" and n.domain in DEFAULT_DOMAINS:
            value = next((a.t for a in n.attribute if a.name == "value"), None)
            for o in n.output:
                t = tensors.setdefault(o, OnnxTensor(o, None, "undefined"))
                t.constant = True
                if value is not None:
                    t.shape, t.dtype, t._proto = tuple(value.dims), _dtype_name(value.data_type), value
        for name in list(n.input) + list(n.output):
            if name and name not in tensors:
                tensors[name] = OnnxTensor(name, None, "undefined")
        nodes.append(OnnxNode(i, n.op_type, n.domain, n.name or f"{n.op_type}_{i}",
                              list(n.input), list(n.output), attrs))
    for vi in g.output:
        if vi.name not in defined:
            raise ModelError(f"{path}: ONNX graph is truncated or corrupt: output {vi.name!r} "
                             "is never produced")
    return OnnxGraph(
        path=path, size_bytes=size, ir_version=model.ir_version,
        opsets={o.domain or "ai.onnx": o.version for o in model.opset_import},
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        nodes=nodes, tensors=tensors,
        inputs=[vi.name for vi in g.input if vi.name not in initializers],
        outputs=[vi.name for vi in g.output], assumed_dims=assumed,
    )
