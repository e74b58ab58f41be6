"""Read a ``.tflite`` flatbuffer into a small, format-specific graph.

`load_tflite(path)` returns a `TfliteGraph` of the main subgraph: operators in
execution order (builtin name or custom code, options as a plain dict, input and
output tensor indices) and tensors (shape, dtype, quantization, constant data).
It reads the flatbuffer lazily through the schema that ships with ai-edge-litert:
constant data is exposed as read-only numpy views into the file's bytes, so loading
a model never copies its weights.

Option dicts use snake_case keys (``stride_w``, ``dilation_h_factor``,
``depth_multiplier``, ``fused_activation_function``...), with ``padding`` and
``fused_activation_function`` given by name (``"SAME"``, ``"RELU6"``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as fb

from harness.errors import ModelError

BUILTIN_NAMES: dict[int, str] = {
    v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)
}
_TYPE_NAMES: dict[int, str] = {
    v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_") and isinstance(v, int)
}
_ACTIVATIONS = {v: k for k, v in vars(fb.ActivationFunctionType).items() if not k.startswith("_")}
_PADDINGS = {v: k for k, v in vars(fb.Padding).items() if not k.startswith("_")}

# TensorType name -> (numpy dtype or None, bits per element)
_DTYPES: dict[str, tuple[str | None, int]] = {
    "FLOAT32": ("float32", 32), "FLOAT16": ("float16", 16), "FLOAT64": ("float64", 64),
    "INT8": ("int8", 8), "UINT8": ("uint8", 8), "INT16": ("int16", 16), "UINT16": ("uint16", 16),
    "INT32": ("int32", 32), "UINT32": ("uint32", 32), "INT64": ("int64", 64),
    "UINT64": ("uint64", 64), "BOOL": ("bool", 8), "COMPLEX64": ("complex64", 64),
    "COMPLEX128": ("complex128", 128), "BFLOAT16": (None, 16), "INT4": (None, 4),
    "UINT4": (None, 4), "INT2": (None, 2), "FLOAT8_E4M3FN": (None, 8), "FLOAT8_E5M2": (None, 8),
    "STRING": (None, 8), "RESOURCE": (None, 0), "VARIANT": (None, 0),
}

_FLATBUFFER_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError,
                      UnicodeDecodeError, AttributeError, KeyError)


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per axis."""

    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int = 0

    @property
    def per_axis(self) -> bool:
        return self.scale.size > 1


@dataclass
class TfliteTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # lower-case TensorType name: "float32", "int8", "int4", ...
    buffer: int
    quantization: Quantization | None
    is_variable: bool
    _data: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_constant(self) -> bool:
        return self._data is not None

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies (packed for sub-byte types)."""
        if self._data is not None and self.dtype == "string":
            return int(self._data.size)
        bits = _DTYPES.get(self.dtype.upper(), (None, 8))[1]
        return (self.numel * bits + 7) // 8

    @property
    def data(self) -> np.ndarray | None:
        """Constant contents as a read-only numpy array of `shape`, or None.

        Types numpy lacks (int4, bfloat16, float8, string) come back as raw uint8 bytes.
        """
        if self._data is None:
            return None
        np_dtype = _DTYPES.get(self.dtype.upper(), (None, 8))[0]
        if np_dtype is None:
            return self._data
        arr = self._data.view(np.dtype(np_dtype))
        return arr.reshape(self.shape) if arr.size == self.numel else arr


@dataclass
class TfliteOp:
    index: int
    opcode: str  # builtin name ("CONV_2D") or "CUSTOM"
    custom_code: str | None
    version: int
    inputs: list[int]  # tensor indices; -1 marks an omitted optional input
    outputs: list[int]
    options: dict[str, Any]

    @property
    def type(self) -> str:
        """What a profiler would call it: the builtin name, or the custom op's code."""
        return self.custom_code if self.opcode == "CUSTOM" and self.custom_code else self.opcode


@dataclass
class TfliteGraph:
    path: Path
    size_bytes: int
    version: int
    description: str
    subgraph_count: int
    tensors: list[TfliteTensor]
    ops: list[TfliteOp]
    inputs: list[int]
    outputs: list[int]

    def tensor(self, index: int) -> TfliteTensor | None:
        return self.tensors[index] if index >= 0 else None

    def op_name(self, op: TfliteOp) -> str:
        """TFLite ops have no names; like benchmark_model, use the first output's name."""
        return self.tensors[op.outputs[0]].name if op.outputs else f"{op.type}_{op.index}"

    @cached_property
    def precision(self) -> str:
        """``fp32`` | ``fp16`` (fp16 weights) | ``int8`` (full-integer) | ``int8-weights``
        (dynamic range) | ``int16x8`` | ``mixed``: from the weights of multiply-accumulate
        ops and the types ops compute in (QUANTIZE/DEQUANTIZE outputs aside), else from
        the model's inputs and outputs."""
        weights, acts = set(), set()
        for op in self.ops:
            if op.opcode in ("QUANTIZE", "DEQUANTIZE"):
                continue
            acts.update(self.tensors[o].dtype for o in op.outputs
                        if self.tensors[o].dtype in ("float32", "float16", "int8", "uint8", "int16"))
            if op.opcode in _WEIGHTED_OPS and len(op.inputs) > 1 and op.inputs[1] >= 0:
                w = self.tensors[op.inputs[1]]
                producer = None if w.is_constant else self._producer(op.inputs[1])
                if producer is not None and producer.opcode == "DEQUANTIZE":
                    w = self.tensors[producer.inputs[0]]  # fp16 / int8 weights stored compressed
                weights.add(w.dtype)
        if not acts:
            acts = {self.tensors[i].dtype for i in self.inputs + self.outputs}
        if acts <= {"float32"} and weights <= {"float32"}:
            return "fp32"
        if acts <= {"float32"} and weights <= {"float32", "float16"}:
            return "fp16"
        if acts <= {"int8", "uint8"} and weights <= {"int8", "uint8"}:
            return "int8"
        if acts <= {"int8", "int16"} and weights <= {"int8"}:
            return "int16x8"
        if acts <= {"float32"} and weights <= {"int8"}:
            return "int8-weights"
        return "mixed"

    def _producer(self, tensor_index: int) -> TfliteOp | None:
        for op in self.ops:
            if tensor_index in op.outputs:
                return op
        return None


_WEIGHTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _options(op: fb.Operator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for creator, kind, table in (
        (fb.BuiltinOptionsCreator, op.BuiltinOptionsType(), op.BuiltinOptions()),
        (fb.BuiltinOptions2Creator, op.BuiltinOptions2Type(), op.BuiltinOptions2()),
    ):
        if not kind or table is None:
            continue
        obj = creator(kind, table)
        for key, value in (vars(obj) if obj is not None else {}).items():
            key = _snake(key)
            if key == "padding":
                value = _PADDINGS.get(value, value)
            elif key == "fused_activation_function":
                value = _ACTIVATIONS.get(value, value)
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            out[key] = value
    return out


def _quantization(t: fb.Tensor) -> Quantization | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength(), np.int64)
    return Quantization(scale=np.asarray(q.ScaleAsNumpy(), np.float32),
                        zero_point=np.asarray(zp, np.int64),
                        quantized_dimension=q.QuantizedDimension())


def _buffer_views(model: fb.Model, raw: bytes) -> list[np.ndarray | None]:
    """A zero-copy uint8 view per buffer (None when empty); fails on a truncated file."""
    views: list[np.ndarray | None] = []
    for i in range(model.BuffersLength()):
        b = model.Buffers(i)
        offset, size = b.Offset(), b.Size()
        if offset > 1:  # data stored after the flatbuffer (models > 2 GB)
            if offset + size > len(raw):
                raise ValueError(f"buffer {i} ends at byte {offset + size}, past the end of the file")
            views.append(np.frombuffer(raw, np.uint8, count=size, offset=offset))
        elif b.DataLength():
            views.append(b.DataAsNumpy())  # np.frombuffer raises if the vector is cut off
        else:
            views.append(None)
    return views


def load_tflite(path: str | Path) -> TfliteGraph:
    """Parse the main subgraph of a ``.tflite`` file. Raises `ModelError` for a file that
    is missing, not a TFLite flatbuffer, truncated or corrupt."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read model file ({e.strerror or e})") from e
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        return _parse(path, raw)
    except _FLATBUFFER_ERRORS as e:
        raise ModelError(f"{path}: TFLite flatbuffer is truncated or corrupt ({e})") from e


def _parse(path: Path, raw: bytes) -> TfliteGraph:
    (root,) = struct.unpack_from("<I", raw, 0)
    if root >= len(raw):
        raise ValueError("root table offset points past the end of the file")
    model = fb.Model.GetRootAs(raw, 0)
    if model.SubgraphsLength() == 0:
        raise ValueError("model has no subgraphs")
    views = _buffer_views(model, raw)
    opcodes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        custom = oc.CustomCode()
        opcodes.append((BUILTIN_NAMES.get(code, f"BUILTIN_{code}"),
                        custom.decode("utf-8", "replace") if custom else None, oc.Version()))

    sg = model.Subgraphs(0)
    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        buf = t.Buffer()
        if buf >= len(views):
            raise ValueError(f"tensor {i} refers to buffer {buf} of {len(views)}")
        tensors.append(TfliteTensor(
            index=i,
            name=(t.Name() or b"").decode("utf-8", "replace"),
            shape=tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else (),
            dtype=_TYPE_NAMES.get(t.Type(), f"type{t.Type()}").lower(),
            buffer=buf,
            quantization=_quantization(t),
            is_variable=bool(t.IsVariable()),
            _data=views[buf],
        ))

    def indices(vec: np.ndarray | int, what: str) -> list[int]:
        out = [int(x) for x in (vec if isinstance(vec, np.ndarray) else [])]
        for x in out:
            if x < -1 or x >= len(tensors):
                raise ValueError(f"{what} refers to tensor {x} of {len(tensors)}")
        return out

    ops = []
    for i in range(sg.OperatorsLength()):
        o = sg.Operators(i)
        if o.OpcodeIndex() >= len(opcodes):
            raise ValueError(f"operator {i} has opcode index {o.OpcodeIndex()} of {len(opcodes)}")
        name, custom, version = opcodes[o.OpcodeIndex()]
        ops.append(TfliteOp(index=i, opcode=name, custom_code=custom, version=version,
                            inputs=indices(o.InputsAsNumpy(), f"operator {i} input"),
                            outputs=indices(o.OutputsAsNumpy(), f"operator {i} output"),
                            options=_options(o)))
    return TfliteGraph(
        path=path, size_bytes=len(raw), version=model.Version(),
        description=(model.Description() or b"").decode("utf-8", "replace"),
        subgraph_count=model.SubgraphsLength(), tensors=tensors, ops=ops,
        inputs=indices(sg.InputsAsNumpy(), "subgraph input"),
        outputs=indices(sg.OutputsAsNumpy(), "subgraph output"),
    )
