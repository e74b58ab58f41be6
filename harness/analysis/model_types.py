"""Shared types of the static model analysis (a leaf module: it imports nothing of harness).

`Graph` is what a model format hands the analysis (`ModelFormat.graph`): tensors and ops
reduced to what the totals need, each op with its `op_costs.Cost`. `ModelInfo` and
`ModelAnalysis` are what the analysis returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field


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
    format: str
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


# --- the format-neutral graph a format hands the analysis ---------------------------------


@dataclass
class GraphTensor:
    name: str
    shape: Any
    dtype: str
    numel: int | None
    nbytes: int | None
    constant: bool


@dataclass
class GraphOp:
    index: int
    type: str
    name: str
    inputs: list  # tensor keys; None for an omitted optional input
    outputs: list
    cost: Any  # harness.analysis.op_costs.Cost


@dataclass
class Graph:
    """A model reduced to what the totals need; tensors keyed by index or name."""

    precision: str
    size_bytes: int
    tensors: dict
    ops: list[GraphOp]
    inputs: list  # tensor keys
    outputs: list
    input_infos: list[TensorInfo]
    output_infos: list[TensorInfo]
    notes: list[str] = field(default_factory=list)
