"""Runners: how one runtime runs one model on one kind of target.

`runner_for(runtime, transport_kind)` picks the runner. To add one: implement
`Runner` (harness/runners/base.py) and list it in `RUNNERS`.
"""

from __future__ import annotations

import importlib

from harness.errors import HarnessError
from harness.runners.base import Runner, RunContext

# runtime -> "module:Class"
RUNNERS: dict[str, str] = {
    "tflite": "harness.runners.agent:AgentRunner",
    "onnx": "harness.runners.agent:AgentRunner",
    "benchmark_model": "harness.runners.benchmark_model:BenchmarkModelRunner",
    "tinyml": "harness.runners.tinyml:TinymlRunner",
}


def runner_for(runtime: str, transport_kind: str) -> Runner:
    if runtime not in RUNNERS:
        raise HarnessError(f"unknown runtime {runtime!r}; known: {', '.join(RUNNERS)}")
    module, _, cls_name = RUNNERS[runtime].partition(":")
    cls: type[Runner] = getattr(importlib.import_module(module), cls_name)
    if transport_kind not in cls.transports:
        raise HarnessError(
            f"runtime {runtime!r} does not run over {transport_kind!r} targets "
            f"(it runs over: {', '.join(cls.transports)})"
        )
    return cls()


__all__ = ["RUNNERS", "RunContext", "Runner", "runner_for"]
