"""Small real TFLite models for tests, written with LiteRT's flatbuffer schema (no TensorFlow).

`mlp_model(path, widths)` writes a float32 multilayer perceptron: FULLY_CONNECTED
(+ReLU) layers ending in SOFTMAX. Its size is dominated by the weights, so
``widths=[1600, 1600]`` gives a ~10 MB model.
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb


def _tensor(name: str, shape: list[int], buffer: int) -> fb.TensorT:
    t = fb.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), shape, fb.TensorType.FLOAT32, buffer
    return t


def mlp_model(path: Path, widths: list[int], seed: int = 0, broken: bool = False) -> Path:
    """Input [1, widths[0]] -> FC(+ReLU) per following width -> SOFTMAX.

    `broken`: the first layer's weights take one input too many, so the model loads but
    its first operator fails to prepare (as real mis-converted models do).
    """
    if len(widths) < 2:
        raise ValueError("need at least an input and an output width")
    rng = np.random.default_rng(seed)
    buffers = [fb.BufferT()]  # buffer 0: the empty buffer every activation uses
    tensors = [_tensor("input", [1, widths[0]], 0)]
    ops = []
    prev_out = 0
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        if broken and i == 0:
            n_in += 1
        w = fb.BufferT()
        kernel = rng.standard_normal((n_out, n_in)).astype(np.float32) / np.float32(np.sqrt(n_in))
        w.data = kernel.astype(np.float32).view(np.uint8).ravel()
        b = fb.BufferT()
        b.data = np.zeros(n_out, np.float32).view(np.uint8)
        buffers += [w, b]
        base = len(tensors)
        tensors += [
            _tensor(f"dense_{i}/kernel", [n_out, n_in], len(buffers) - 2),
            _tensor(f"dense_{i}/bias", [n_out], len(buffers) - 1),
            _tensor(f"dense_{i}/out", [1, n_out], 0),
        ]
        op = fb.OperatorT()
        op.opcodeIndex = 0
        op.inputs, op.outputs = [prev_out, base, base + 1], [base + 2]
        op.builtinOptionsType = fb.BuiltinOptions.FullyConnectedOptions
        opts = fb.FullyConnectedOptionsT()
        opts.fusedActivationFunction = fb.ActivationFunctionType.RELU
        op.builtinOptions = opts
        ops.append(op)
        prev_out = base + 2
    tensors.append(_tensor("probabilities", [1, widths[-1]], 0))
    softmax = fb.OperatorT()
    softmax.opcodeIndex = 1
    softmax.inputs, softmax.outputs = [prev_out], [len(tensors) - 1]
    softmax.builtinOptionsType = fb.BuiltinOptions.SoftmaxOptions
    sm_opts = fb.SoftmaxOptionsT()
    sm_opts.beta = 1.0
    softmax.builtinOptions = sm_opts
    ops.append(softmax)

    codes = []
    for builtin in (fb.BuiltinOperator.FULLY_CONNECTED, fb.BuiltinOperator.SOFTMAX):
        code = fb.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = builtin
        code.version = 1
        codes.append(code)

    graph = fb.SubGraphT()
    graph.tensors, graph.operators = tensors, ops
    graph.inputs, graph.outputs = [0], [len(tensors) - 1]
    graph.name = b"main"
    model = fb.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, codes, [graph], buffers
    model.description = b"harness test MLP"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = Path(path)
    path.write_bytes(builder.Output())
    return path
