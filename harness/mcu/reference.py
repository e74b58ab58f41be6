"""Accuracy mode's reference: the same int8 model run on the host with LiteRT.

`host_outputs` runs each input through `ai_edge_litert`'s interpreter and returns
the dequantized outputs; `compare_outputs` sets them against the device's
``m-results`` (printed with three decimals). A device output counts as agreeing
when it is within one output quantization step (plus the 0.0005 print rounding), and
as exact when it equals the host's value up to that print rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.analysis.static import TensorInfo


def host_outputs(model_path: Path, samples: list[np.ndarray]) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # TFLite's reference kernels: the integer arithmetic the firmware's kernels follow
    # (the default XNNPACK path requantizes in float and can differ by a step per layer)
    interp = Interpreter(model_path=str(model_path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    scale, zp = out["quantization"]
    results = []
    for x in samples:
        interp.set_tensor(inp["index"], x.reshape(inp["shape"]).astype(inp["dtype"]))
        interp.invoke()
        y = interp.get_tensor(out["index"]).reshape(-1)
        results.append((y.astype(np.float64) - zp) * scale if scale else y.astype(np.float64))
    return results


def compare_outputs(device: list[list[float]], host: list[np.ndarray], output: TensorInfo) -> dict:
    step = output.scale if output.scale else 0.0
    tolerance = step * 1.001 + 0.0005
    diffs, top1, within, exact, total = [], 0, 0, 0, 0
    for i, (d, h) in enumerate(zip(device, host)):
        d = np.asarray(d, dtype=np.float64)
        if d.size != h.size:
            raise HarnessError(f"accuracy: input {i}: the device printed {d.size} results, the model has {h.size} outputs")
        diff = np.abs(d - h)
        diffs.append(float(diff.max()) if diff.size else 0.0)
        within += int(np.count_nonzero(diff <= tolerance))
        exact += int(np.count_nonzero(diff <= 0.0005 + 1e-6))  # equal up to the device's 3-decimal print
        total += int(diff.size)
        top1 += int(np.argmax(d) == np.argmax(h))
    return {
        "inputs": len(device),
        "outputs": total,
        "within_tolerance": within,
        "exact": exact,
        "tolerance": tolerance,
        "max_abs_diff": max(diffs, default=0.0),
        "per_input_max_abs_diff": diffs,
        "top1_agreement": top1 / len(device) if device else None,
        "reference": "ai_edge_litert Interpreter (reference kernels) on the host, same int8 model and inputs",
    }
