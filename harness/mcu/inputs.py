"""Inputs for an MCU run: the bytes `db load` sends, one entry per sample.

The device takes the model's input tensor as raw bytes (int8 for the MLPerf Tiny
models). Inputs come from the run's ``--inputs`` file, or are drawn from a seeded
generator:

- ``.bin``: one sample, raw bytes (the MLPerf Tiny datasets' format);
- ``.npy``: one sample shaped like the input, or a batch with a leading sample axis;
- ``.npz``: the array named like the model's input tensor, else the first one.

Float arrays given for an integer input are quantized with the input tensor's scale
and zero point, as TFLite does: round(x / scale) + zero_point, clipped. Tensors are
described by the static analysis (`harness.analysis.static.TensorInfo`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.analysis.static import TensorInfo, describe
from harness.errors import HarnessError


def model_io(model_path: Path) -> tuple[TensorInfo, TensorInfo]:
    """(input, output) tensors of a single-input, single-output .tflite model."""
    info = describe(model_path)
    if info.format != "tflite":
        raise HarnessError(f"{model_path}: MCU runs take a .tflite model, not {info.format}")
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise HarnessError(f"{model_path}: MCU runs need one input and one output "
                           f"({len(info.inputs)} inputs, {len(info.outputs)} outputs)")
    return info.inputs[0], info.outputs[0]


def tensor_bytes(tensor: TensorInfo) -> int:
    return math.prod(tensor.shape) * np.dtype(tensor.dtype).itemsize


def _as_samples(arr: np.ndarray, tensor: TensorInfo, source: str) -> list[np.ndarray]:
    shape = tuple(tensor.shape)
    if tuple(arr.shape) == shape or (arr.size == math.prod(shape) and arr.ndim <= len(shape)):
        batch = arr.reshape((1, *shape))
    elif tuple(arr.shape[1:]) in (shape, shape[1:]):
        batch = arr.reshape((-1, *shape))
    else:
        raise HarnessError(f"{source}: array of shape {arr.shape} does not match the model input {shape}")
    if np.issubdtype(batch.dtype, np.floating) and np.issubdtype(np.dtype(tensor.dtype), np.integer):
        if not tensor.scale:  # None: not quantized per tensor
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
            if len(raw) != tensor_bytes(tensor):
                raise HarnessError(f"{path}: {len(raw)} bytes, but the model input takes {tensor_bytes(tensor)}")
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
