"""Run llama-bench or the TTFT driver over any command transport and parse what they print.

The binaries and the model must already be on the target (`harness.llm.build` for this host;
pushing them to ssh/adb targets is the llama runner's job). Both functions keep the tool's
raw output on failure: `LlamaRunError.stdout` / `.stderr`.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.llm.driver import DriverOptions, DriverResult, parse_driver_events
from harness.logs.llama_bench import LlamaBenchLog, parse_llama_bench
from harness.transports.base import CommandTransport


class LlamaRunError(HarnessError):
    """llama-bench or the driver failed on the target; the message says how, the raw output is kept."""

    def __init__(self, message: str, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.stdout, self.stderr = stdout, stderr


def _tail(text: str, n: int = 5) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def run_driver(transport: CommandTransport, binary: str | Path, model: str | Path, options: DriverOptions,
               *, timeout_s: float = 600.0) -> DriverResult:
    """One driver invocation; the parsed events, or LlamaRunError when it measured nothing."""
    argv = options.argv(binary, model)
    res = transport.run(argv, timeout=timeout_s)
    result = parse_driver_events(res.stdout.splitlines(), source=f"harness-llm-driver on {transport.describe()}")
    if result.error is not None:
        raise LlamaRunError(
            f"harness-llm-driver failed at {result.error.get('stage')}: {result.error.get('message')}"
            f"{' (stderr: ' + _tail(res.stderr) + ')' if res.stderr.strip() else ''}",
            res.stdout, res.stderr)
    if res.returncode != 0 or not result.complete:
        raise LlamaRunError(f"harness-llm-driver exited {res.returncode} after {len(result.reps)} repetition(s): "
                            f"{_tail(res.stderr) or 'no stderr'}", res.stdout, res.stderr)
    return result


def run_llama_bench(transport: CommandTransport, argv: list[str], *, timeout_s: float = 600.0) -> LlamaBenchLog:
    """One llama-bench invocation (argv from `llama_bench_argv`); its parsed results."""
    res = transport.run(argv, timeout=timeout_s)
    if res.returncode != 0:
        raise LlamaRunError(f"llama-bench exited {res.returncode}: {_tail(res.stderr) or _tail(res.stdout)}",
                            res.stdout, res.stderr)
    return parse_llama_bench(res.stdout, source=f"llama-bench on {transport.describe()}")
