"""Inputs for an MCU run: the bytes `db load` sends, one entry per sample.

The device takes the model's input tensor as raw bytes (int8 for the MLPerf Tiny
models). Inputs come from the run's ``--inputs`` file, or are drawn from a seeded
generator:

- ``.bin``: one sample, raw bytes (the MLPerf Tiny datasets' format);
- ``.npy``: one sample shaped like the input, or a batch with a leading sample axis;
- ``.npz``: the array named like the model's input tensor, else the first one.

Float arrays given for an integer input are quantized with the input tensor's scale
and zero point, as TFLite does: round(x / scale) + zero_point, clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.analysis.tflite_model import load_tflite
from harness.errors import HarnessError


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def model_io(model_path: Path) -> tuple[TensorInfo, TensorInfo]:
    """(input, output) tensor descriptions of a single-input, single-output .tflite model."""
    g = load_tflite(model_path)
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise HarnessError(f"{model_path}: MCU runs need one input and one output "
                           f"({len(g.inputs)} inputs, {len(g.outputs)} outputs)")

    def info(i: int) -> TensorInfo:
        t = g.tensors[i]
        q = t.quantization
        scale = float(q.scale[0]) if q is not None else 0.0
        zp = int(q.zero_point[0]) if q is not None else 0
        return TensorInfo(t.name, tuple(int(d) for d in t.shape), t.dtype, scale, zp)

    return info(g.inputs[0]), info(g.outputs[0])


def _as_samples(arr: np.ndarray, tensor: TensorInfo, source: str) -> list[np.ndarray]:
    per_sample = int(np.prod(tensor.shape))
    if tuple(arr.shape) == tensor.shape or (arr.size == per_sample and arr.ndim <= len(tensor.shape)):
        batch = arr.reshape((1, *tensor.shape))
    elif tuple(arr.shape[1:]) in (tensor.shape, tensor.shape[1:]):
        batch = arr.reshape((-1, *tensor.shape))
    else:
        raise HarnessError(f"{source}: array of shape {arr.shape} does not match the model input {tensor.shape}")
    if np.issubdtype(batch.dtype, np.floating) and np.issubdtype(np.dtype(tensor.dtype), np.integer):
        if tensor.scale == 0:
            raise HarnessError(f"{source}: float data for an unquantized {tensor.dtype} input")
        info = np.iinfo(tensor.dtype)
        batch = np.clip(np.round(batch / tensor.scale) + tensor.zero_point, info.min, info.max)
    return [np.ascontiguousarray(s, dtype=tensor.dtype) for s in batch]


def load_inputs(path: str | Path, tensor: TensorInfo) -> list[np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: no such inputs file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".bin":
            raw = path.read_bytes()
            if len(raw) != tensor.nbytes:
                raise HarnessError(f"{path}: {len(raw)} bytes, but the model input takes {tensor.nbytes}")
            return [np.frombuffer(raw, dtype=tensor.dtype).reshape(tensor.shape)]
        if suffix == ".npy":
            return _as_samples(np.load(path, allow_pickle=False), tensor, str(path))
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if not z.files:
                    raise HarnessError(f"{path}: empty .npz")
                key = tensor.name if tensor.name in z.files else z.files[0]
                return _as_samples(z[key], tensor, f"{path}[{key}]")
    except (ValueError, OSError) as e:
        raise HarnessError(f"{path}: cannot read inputs: {e}") from None
    raise HarnessError(f"{path}: inputs must be .bin, .npy or .npz")


def random_inputs(tensor: TensorInfo, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    dt = np.dtype(tensor.dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return [rng.integers(info.min, info.max, size=tensor.shape, endpoint=True, dtype=dt) for _ in range(count)]
    return [rng.standard_normal(tensor.shape).astype(dt) for _ in range(count)]
