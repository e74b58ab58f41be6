"""Static analysis of a model: per-op and total MACs, FLOPs, params and bytes, peak
activation memory, and (int8 TFLite) what a microcontroller needs.

`analyze(model)` takes a zoo id or a path. The model's format (`harness.formats`) reads
the file into a format-neutral `Graph`; everything here works on that graph, so a format
with a `graph()` gets the analysis and the roofline for free. Conventions for MACs, FLOPs and params are in
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

from pathlib import Path

from harness.analysis.model_types import (  # noqa: F401 - the analysis' types, re-exported
    ActivationBytes,
    Graph,
    McuFit,
    ModelAnalysis,
    ModelInfo,
    OpCost,
    TensorInfo,
)
from harness.digest import sha256_of
from harness.errors import ModelError
from harness.formats import registry


def _resolve(model: str | Path) -> Path:
    from harness.zoo import model_file

    return model_file(str(model))


def model_format(path: Path) -> str:
    """The format name of a model file (see `harness.formats.registry.detect`)."""
    return registry.detect(path).name


def _graph(path: Path):
    fmt = registry.detect(path)
    if not fmt.has_analysis:
        raise ModelError(f"{path}: {fmt.name} models have no static analysis")
    return fmt, fmt.graph(path)


def describe(model: str | Path) -> ModelInfo:
    """Format, precision, size, sha256 and input/output tensors of a model (zoo id or path)."""
    path = _resolve(model)
    fmt, g = _graph(path)
    return ModelInfo(path=str(path), format=fmt.name, precision=g.precision, size_bytes=g.size_bytes,
                     sha256=sha256_of(path), inputs=g.input_infos, outputs=g.output_infos)


def _peak_live(g: Graph) -> tuple[int, int]:
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
    fmt, g = _graph(path)
    tensors = g.tensors

    op_costs: list[OpCost] = []
    weights: set = set()
    for op in g.ops:
        c = op.cost
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
        path=str(path), format=fmt.name, precision=g.precision, size_bytes=g.size_bytes,
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
    if mcu:
        result.mcu = fmt.mcu_fit(path, result)
    return result


def analyze_if_unchanged(path: str | Path, sha256: str, mcu: bool = False) -> ModelAnalysis | None:
    """The analysis of a recorded model while its file is still the recorded one (same
    sha256); None when the file is gone or changed, or its format has no static analysis."""
    path = Path(path)
    if path.is_file() and sha256_of(path) == sha256 and registry.detect(path).has_analysis:
        return analyze(path, mcu=mcu)
    return None


def model_precision(model: str | Path) -> str:
    """``fp32`` | ``int8`` | ``fp16`` | ... of a model (zoo id or path), from its format."""
    path = _resolve(model)
    return registry.detect(path).precision(path)
