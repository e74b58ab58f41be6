"""The ceilings probe (harness/agent/ceilings.py) as a runner: it measures the device, not a model.

It declares no runtime and no model format, so ``harness run`` never plans it; `harness
ceilings` (`harness.analysis.ceilings.measure_ceilings`) runs it with a `RunContext` whose
model is None. Like the other runners it pushes its files with the hash cache and runs the
probe through `harness.runners.toolrun` (taskset, stream, watchdog). Its result is the
probe's JSON events, a ``ceilings_probe`` result (a kind defined here, in its own module),
which `harness.analysis.ceilings.derive_ceilings` turns into ceilings.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from harness.agent import AGENT_PATH
from harness.errors import RuntimeFailure, error_from_device_text
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.runners.toolrun import ToolOutput, push_files, run_tool
from harness.store.results import RunnerResult

PROBE_PATH = AGENT_PATH.with_name("ceilings.py")
FC_SIZE = 512  # synthetic FC weights are FC_SIZE × FC_SIZE: fit in L2 on phones and PCs alike
DEADLINE_S = {"quick": 300.0, "full": 1800.0}


class CeilingsProbeEvents(RunnerResult):
    """The probe's JSON events (hello, runtime, bandwidth, compute, sanity, warning, done)."""

    kind: Literal["ceilings_probe"] = "ceilings_probe"
    events: list[dict[str, Any]] = Field(default_factory=list)


class CeilingsOptions(RunnerOptions):
    mode: Literal["quick", "full"] = Field("quick", description="quick (~15 s on a PC) or ERT's full sweeps")
    max_bytes: int | None = Field(None, gt=0, description="largest total working set of the bandwidth sweep")


class CeilingsRunner(Runner):
    name = "ceilings"
    runtimes = ()
    formats = ()
    stop_modes = ()
    Options = CeilingsOptions
    description = "the roofline ceilings probe (harness ceilings): peak ops/s per dtype, bandwidth per level"

    def run(self, ctx: RunContext) -> None:
        t, rec, opts = ctx.transport, ctx.recorder, ctx.options
        rec.stage = "push"
        script = t.path("ceilings", "ceilings.py")
        argv = [t.agent_python(), script, "--mode", opts.mode]
        with tempfile.TemporaryDirectory(prefix="harness-ceilings-") as tmp:
            # the probe shares the agent's runtime lookup
            files = [(PROBE_PATH, script), (AGENT_PATH, t.path("ceilings", "agent.py"))]
            for dtype in ("fp32", "int8"):
                local = Path(tmp) / f"fc_{dtype}_{FC_SIZE}.tflite"
                local.write_bytes(build_fc_model(FC_SIZE, FC_SIZE, dtype))
                files.append((local, t.path("ceilings", local.name)))
                argv += ["--fc", f"{dtype}={t.path('ceilings', local.name)}"]
            push_files(t, files)
        if ctx.config.threads:
            argv += ["--threads", str(ctx.config.threads)]
        if opts.max_bytes:
            argv += ["--max-bytes", str(int(opts.max_bytes))]
        result = rec.set_result(CeilingsProbeEvents())
        raw: list[str] = []

        def on_line(line: str) -> None:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = None
            if not isinstance(ev, dict):
                raw.append(line)
                return
            result.events.append(ev)
            if ev.get("event") == "progress":
                ctx.progress(ev["stage"], {"i": ev["i"], "n": ev["n"]})

        rec.stage = "start"
        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=DEADLINE_S[opts.mode], on_line=on_line, cancel=ctx.cancel,
                     affinity_mask=ctx.config.affinity_mask, what=f"ceilings probe ({opts.mode} mode)", output=out,
                     on_started=lambda: setattr(rec, "stage", "run"))
        finally:
            rec.add_raw("ceilings_stdout", raw)
            rec.add_raw("ceilings_stderr", out.stderr.splitlines())
        err = next((e for e in result.events if e.get("event") == "error"), None)
        if err is not None:
            text = f"{err.get('type')}: {err.get('message')}"
            raise error_from_device_text(text, f"ceilings probe failed on {ctx.profile.id} during {err.get('stage')}: "
                                               f"{text}")
        if not out.cancelled and not any(e.get("event") == "done" for e in result.events):
            tail = (out.stderr.strip().splitlines() or raw or ["no output"])[-1]
            raise RuntimeFailure(f"ceilings probe on {ctx.profile.id} exited with status {out.returncode} "
                                 f"before finishing: {tail}")


def build_fc_model(k: int, n: int, dtype: str, seed: int = 0) -> bytes:
    """A one-op TFLite model: FULLY_CONNECTED [1,k] x [n,k]ᵀ with constant weights."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    rng = np.random.default_rng(seed)
    buffers = [fb.BufferT()]
    tensors: list = []

    def buffer(arr: np.ndarray) -> int:
        b = fb.BufferT()
        b.data = np.frombuffer(arr.tobytes(), np.uint8)
        buffers.append(b)
        return len(buffers) - 1

    def quant(scale: float) -> Any:
        q = fb.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [0]
        return q

    def tensor(name: str, shape: list[int], ttype: int, buf: int = 0, q: Any = None) -> int:
        t = fb.TensorT()
        t.name, t.shape, t.type, t.buffer, t.quantization = name, shape, ttype, buf, q
        tensors.append(t)
        return len(tensors) - 1

    if dtype == "fp32":
        x = tensor("x", [1, k], fb.TensorType.FLOAT32)
        w = tensor("w", [n, k], fb.TensorType.FLOAT32, buffer(rng.uniform(-1, 1, (n, k)).astype(np.float32)))
        b = tensor("b", [n], fb.TensorType.FLOAT32, buffer(np.zeros(n, np.float32)))
        y = tensor("y", [1, n], fb.TensorType.FLOAT32)
    elif dtype == "int8":
        x = tensor("x", [1, k], fb.TensorType.INT8, 0, quant(0.05))
        w = tensor("w", [n, k], fb.TensorType.INT8, buffer(rng.integers(-127, 128, (n, k)).astype(np.int8)), quant(0.01))
        b = tensor("b", [n], fb.TensorType.INT32, buffer(np.zeros(n, np.int32)), quant(0.05 * 0.01))
        y = tensor("y", [1, n], fb.TensorType.INT8, 0, quant(1.0))
    else:
        raise ValueError(f"no synthetic FC model for dtype {dtype!r}")
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    op = fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [x, w, b], [y]
    op.builtinOptionsType = fb.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = fb.FullyConnectedOptionsT()
    graph = fb.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators, graph.name = tensors, [x], [y], [op], "main"
    model = fb.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], buffers
    model.description = f"harness ceilings probe: FULLY_CONNECTED {dtype} {n}x{k}"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
