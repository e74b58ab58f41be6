"""Static analysis of a ``.tflite`` or ``.onnx`` model: per-op and total MACs, FLOPs,
params and bytes, peak activation memory, and (int8 TFLite) what a microcontroller needs.

`analyze(model)` takes a zoo id or a path. Conventions for MACs, FLOPs and params are in
`harness.analysis.op_costs`; bytes are counted here:

- ``bytes_read`` of an op: the bytes of its distinct input tensors, weights and
  activations alike; ``bytes_written``: the bytes of its outputs. The dtype's real size
  is used (int8 1 byte, int32 bias 4, fp32 4; int4 half a byte).
- Totals sum over ops, i.e. every op reads its inputs from and writes its outputs to
  memory (no fusion, no cache reuse between ops): ``bytes_moved = bytes_read +
  bytes_written`` and ``arithmetic_intensity = flops / bytes_moved``.
- ``params`` / ``weight_bytes`` count each weight tensor once, even when shared by ops.
- ``activation_bytes.total``: all non-constant tensors (graph inputs and every op
  output); ``activation_bytes.peak_live``: the largest sum of tensors alive at one op,
  a tensor living from the op that writes it (graph inputs: from the start) to the
  last op that reads it (graph outputs: to the end). No in-place reuse is assumed.
- An unknown op is listed with ``unknown: true`` and zero counts, bytes included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from harness.analysis.op_costs import Cost, TensorView, unknown
from harness.digest import sha256_of
from harness.errors import ModelError

Format = Literal["tflite", "onnx"]


class TensorInfo(BaseModel):
    name: str
    shape: list[int] | None
    dtype: str
    scale: float | None = Field(None, description="per-tensor quantization scale (TFLite int8)")
    zero_point: int | None = None


class OpCost(BaseModel):
    index: int
    type: str
    name: str
    input_shapes: list[list[int] | None]
    output_shapes: list[list[int] | None]
    outputs: list[str] = Field(default_factory=list, description="output tensor names (to match runtime profiles)")
    macs: int = 0
    flops: int = 0
    params: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    unknown: bool = False
    note: str | None = None


class ActivationBytes(BaseModel):
    peak_live: int
    total: int


class McuFit(BaseModel):
    arena_bytes: int | None = Field(description="tensor arena TFLite Micro allocates, measured on the host")
    flash_bytes: int = Field(description="the model flatbuffer; runtime code not included")
    arena_persistent_bytes: int | None = None
    runtime: str
    note: str | None = None


class ModelInfo(BaseModel):
    path: str
    format: Format
    precision: str
    size_bytes: int
    sha256: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]


class ModelAnalysis(ModelInfo):
    ops: list[OpCost]
    macs: int
    flops: int
    params: int
    weight_bytes: int
    activation_bytes: ActivationBytes
    bytes_read: int
    bytes_written: int
    bytes_moved: int
    arithmetic_intensity: float | None
    unknown_ops: list[str] = Field(default_factory=list, description="distinct unknown op types")
    notes: list[str] = Field(default_factory=list)
    mcu: McuFit | None = None


# --- format-neutral graph ------------------------------------------------------------


class _Tensor:
    __slots__ = ("name", "shape", "dtype", "numel", "nbytes", "constant")

    def __init__(self, name, shape, dtype, numel, nbytes, constant):
        self.name, self.shape, self.dtype = name, shape, dtype
        self.numel, self.nbytes, self.constant = numel, nbytes, constant


class _Op:
    __slots__ = ("index", "type", "name", "inputs", "outputs", "cost")

    def __init__(self, index, type_, name, inputs, outputs, cost):
        self.index, self.type, self.name = index, type_, name
        self.inputs, self.outputs, self.cost = inputs, outputs, cost


@dataclass
class _Graph:
    """Either format, reduced to what the totals need; tensors keyed by index or name."""

    precision: str
    size_bytes: int
    tensors: dict
    ops: list[_Op]
    inputs: list  # tensor keys
    outputs: list
    input_infos: list[TensorInfo]
    output_infos: list[TensorInfo]
    notes: list[str]


# An ONNX ModelProto starts with a protobuf key byte (fields 1..8, varint or length-delimited).
_ONNX_FIRST_BYTES = (0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)


def model_format(path: Path) -> Format:
    """The format from the file name (or a TFL3 header), confirmed by the file's first bytes."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror}") from None
    fmt = {".tflite": "tflite", ".onnx": "onnx"}.get(suffix)
    if fmt is None and head[4:8] == b"TFL3":
        fmt = "tflite"
    if fmt is None:
        raise ModelError(f"{path}: unsupported model format {suffix or '(no extension)'!r}; "
                         "expected a .tflite or .onnx file")
    if fmt == "tflite" and head[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier)")
    if fmt == "onnx" and (len(head) < 2 or head[0] not in _ONNX_FIRST_BYTES):
        raise ModelError(f"{path}: not an ONNX model (not a protobuf ModelProto)")
    return fmt


def _from_tflite(path: Path) -> _Graph:
    from harness.analysis.tflite_costs import tflite_op_cost
    from harness.analysis.tflite_model import load_tflite

    g = load_tflite(path)
    tensors = {t.index: _Tensor(t.name, t.shape, t.dtype, t.numel, t.nbytes, t.is_constant)
               for t in g.tensors}
    ops = []
    for op in g.ops:
        ins = [TensorView(g.tensors[i].shape, g.tensors[i].is_constant) if i >= 0 else None
               for i in op.inputs]
        outs = [TensorView(g.tensors[i].shape) for i in op.outputs]
        cost = unknown(op.type) if op.opcode == "CUSTOM" else tflite_op_cost(op.opcode, ins, outs, op.options)
        ops.append(_Op(op.index, op.type, g.op_name(op), [i if i >= 0 else None for i in op.inputs],
                       list(op.outputs), cost))

    def info(i: int) -> TensorInfo:
        t = g.tensors[i]
        q = t.quantization
        per_tensor = q is not None and q.scale.size == 1
        return TensorInfo(name=t.name, shape=list(t.shape), dtype=t.dtype,
                          scale=float(q.scale[0]) if per_tensor else None,
                          zero_point=int(q.zero_point[0]) if per_tensor else None)

    notes = [f"{g.subgraph_count - 1} more subgraph(s) not analyzed"] if g.subgraph_count > 1 else []
    return _Graph(g.precision, g.size_bytes, tensors, ops, g.inputs, g.outputs,
                  [info(i) for i in g.inputs], [info(i) for i in g.outputs], notes)


def _from_onnx(path: Path) -> _Graph:
    from harness.analysis.onnx_costs import onnx_op_cost
    from harness.analysis.onnx_model import DEFAULT_DOMAINS, load_onnx

    g = load_onnx(path)
    tensors = {name: _Tensor(name, t.shape, t.dtype, t.numel, t.nbytes, t.constant)
               for name, t in g.tensors.items()}
    ops = []
    for n in g.nodes:
        ins = [TensorView(g.tensors[i].shape, g.tensors[i].constant) if i else None for i in n.inputs]
        outs = [TensorView(g.tensors[o].shape) for o in n.outputs if o]
        cost = onnx_op_cost(n.op_type, ins, outs, n.attrs) if n.domain in DEFAULT_DOMAINS else unknown(n.type)
        ops.append(_Op(n.index, n.type, n.name, [i or None for i in n.inputs],
                       [o for o in n.outputs if o], cost))

    def info(name: str) -> TensorInfo:
        t = g.tensors[name]
        return TensorInfo(name=name, shape=list(t.shape) if t.shape is not None else None, dtype=t.dtype)

    notes = [f"symbolic input dimension taken as 1: {d}" for d in g.assumed_dims]
    return _Graph(g.precision, g.size_bytes, tensors, ops, g.inputs, g.outputs,
                  [info(i) for i in g.inputs], [info(o) for o in g.outputs], notes)


def _resolve(model: str | Path) -> Path:
    from harness.zoo import model_file

    return model_file(str(model))


def describe(model: str | Path) -> ModelInfo:
    """Format, precision, size, sha256 and input/output tensors of a model (zoo id or path)."""
    path = _resolve(model)
    fmt = model_format(path)
    g = _load(path, fmt)
    return ModelInfo(path=str(path), format=fmt, precision=g.precision, size_bytes=g.size_bytes,
                     sha256=sha256_of(path), inputs=g.input_infos, outputs=g.output_infos)


def _load(path: Path, fmt: Format) -> _Graph:
    return _from_tflite(path) if fmt == "tflite" else _from_onnx(path)


def _peak_live(g: _Graph) -> tuple[int, int]:
    tensors, n = g.tensors, len(g.ops)
    first: dict = {k: 0 for k in g.inputs}
    last: dict = {k: n - 1 for k in g.outputs}
    for i, op in enumerate(g.ops):
        for k in op.outputs:
            first.setdefault(k, i)
        for k in op.inputs:
            if k is not None and not tensors[k].constant:
                last[k] = i
    delta = [0] * (n + 1)
    total = 0
    for k, start in first.items():
        t = tensors[k]
        if t.constant or not t.nbytes:
            continue
        total += t.nbytes
        end = max(last.get(k, start), start)
        delta[start] += t.nbytes
        delta[end + 1] -= t.nbytes
    peak = live = 0
    for i in range(n):
        live += delta[i]
        peak = max(peak, live)
    return peak, total


def analyze(model: str | Path, mcu: bool = True) -> ModelAnalysis:
    """Analyze a model given by zoo id or path. Raises `ModelError` for a missing,
    truncated, non-model or unsupported file; never for an op it does not know.
    ``mcu=False`` skips the TFLite Micro arena measurement of int8 TFLite models."""
    path = _resolve(model)
    fmt = model_format(path)
    g = _load(path, fmt)
    tensors = g.tensors

    op_costs: list[OpCost] = []
    weights: set = set()
    for op in g.ops:
        c: Cost = op.cost
        in_shapes = [list(tensors[k].shape) if k is not None and tensors[k].shape is not None else None
                     for k in op.inputs]
        out_shapes = [list(tensors[k].shape) if tensors[k].shape is not None else None for k in op.outputs]
        row = OpCost(index=op.index, type=op.type, name=op.name, input_shapes=in_shapes,
                     output_shapes=out_shapes, outputs=[tensors[k].name for k in op.outputs],
                     unknown=not c.known, note=c.note)
        if c.known:
            w_keys = {op.inputs[p] for p in c.weight_inputs
                      if p < len(op.inputs) and op.inputs[p] is not None and tensors[op.inputs[p]].constant}
            weights |= w_keys
            row.macs, row.flops = c.macs, c.flops
            row.params = sum(tensors[k].numel or 0 for k in w_keys)
            row.bytes_read = sum(tensors[k].nbytes or 0 for k in {k for k in op.inputs if k is not None})
            row.bytes_written = sum(tensors[k].nbytes or 0 for k in set(op.outputs))
        op_costs.append(row)

    peak, total = _peak_live(g)
    read = sum(o.bytes_read for o in op_costs)
    written = sum(o.bytes_written for o in op_costs)
    flops = sum(o.flops for o in op_costs)
    unknown_types = sorted({o.type for o in op_costs if o.unknown})
    result = ModelAnalysis(
        path=str(path), format=fmt, precision=g.precision, size_bytes=g.size_bytes,
        sha256=sha256_of(path), inputs=g.input_infos, outputs=g.output_infos, ops=op_costs,
        macs=sum(o.macs for o in op_costs), flops=flops,
        params=sum(tensors[k].numel or 0 for k in weights),
        weight_bytes=sum(tensors[k].nbytes or 0 for k in weights),
        activation_bytes=ActivationBytes(peak_live=peak, total=total),
        bytes_read=read, bytes_written=written, bytes_moved=read + written,
        arithmetic_intensity=flops / (read + written) if read + written else None,
        unknown_ops=unknown_types, notes=g.notes,
    )
    if unknown_types:
        result.notes.append(f"unknown op types counted as zero: {', '.join(unknown_types)}")
    if mcu and fmt == "tflite" and g.precision == "int8":
        from harness.analysis.mcu_fit import mcu_fit

        result.mcu = mcu_fit(path, result.sha256)
    return result


def analyze_if_unchanged(path: str | Path, sha256: str, mcu: bool = False) -> ModelAnalysis | None:
    """The analysis of a recorded model while its file is still the recorded one (same
    sha256); None when the file is gone or changed."""
    path = Path(path)
    if path.is_file() and sha256_of(path) == sha256:
        return analyze(path, mcu=mcu)
    return None


def model_precision(model: str | Path) -> str:
    """``fp32`` | ``int8`` | ``fp16`` | ... of a model (zoo id or path); see `describe`."""
    path = _resolve(model)
    if model_format(path) == "tflite":
        from harness.analysis.tflite_model import load_tflite

        return load_tflite(path).precision
    from harness.analysis.onnx_model import load_onnx

    return load_onnx(path).precision
