"""What the llama.cpp runners (`llama_bench`, `llama_ttft`) share: their options, stopping rule,
plan-time checks and the GGUF's static costs.

The workload is swept inside a run — prompt sizes, generation sizes and context depths
(``-o n_prompt=128,512 -o n_depth=0,1024``), as llama-bench does; threads (``--threads``)
and GPU layers (``-o n_gpu_layers=N``) are the run's configuration, one value per record, so
the benchmark key tells configurations apart. Repetitions are ``--count`` (a fixed stopping
rule), warm-up repetitions ``--warmup-min``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from harness.errors import HarnessError
from harness.formats.gguf import GgufFormat
from harness.llm.record import CostsFor, costs_for_model
from harness.profiles import DeviceProfile
from harness.runners.base import Runner, RunnerOptions
from harness.store.record import RunConfig, StopRule

DEFAULT_REPS = 5
#: how long a llama.cpp tool may run before it is killed as hung, unless -o timeout_s says otherwise
DEFAULT_TIMEOUT_S = 3600.0


def _int_list(v: Any) -> Any:
    """``512``, ``"128,512"`` or ``[128, 512]`` as a list (``-o n_prompt=128,512``)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return v


class LlamaOptions(RunnerOptions):
    n_prompt: list[int] = Field(default_factory=lambda: [512], description="prompt tokens (a list sweeps them)")
    n_gen: list[int] = Field(default_factory=lambda: [128], description="generated tokens (a list sweeps them)")
    n_depth: list[int] = Field(default_factory=lambda: [0], description="tokens already in the KV cache (a list sweeps them)")
    n_gpu_layers: int | None = Field(None, ge=-1, description="layers offloaded to the GPU (-ngl); default: the tool's")
    n_batch: int | None = Field(None, ge=1, description="logical batch size (-b)")
    n_ubatch: int | None = Field(None, ge=1, description="physical batch size (-ub)")
    flash_attn: Literal["on", "off", "auto"] | None = Field(None, description="flash attention (-fa)")
    timeout_s: float | None = Field(None, gt=0, description=f"kill the tool after this many seconds "
                                                            f"(default {DEFAULT_TIMEOUT_S:g})")

    _lists = field_validator("n_prompt", "n_gen", "n_depth", mode="before")(_int_list)

    @field_validator("n_prompt", "n_gen", "n_depth")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one value")
        if any(x < 0 for x in v):
            raise ValueError("token counts cannot be negative")
        return list(dict.fromkeys(v))  # a value given twice runs once

    def points(self) -> list[tuple[int, int, int]]:
        """(n_prompt, n_gen, n_depth) of every test point, in sweep order."""
        return list(itertools.product(self.n_prompt, self.n_gen, self.n_depth))


class LlamaRunner(Runner):
    """What both llama.cpp runners declare: GGUF models, a fixed number of repetitions of each
    test (``--count``, default 5, after ``--warmup-min`` warm-up ones, default 1), and the tool
    they start on the target (`tool`, found by `harness.runners.toolrun.target_tool`)."""

    formats = ("gguf",)
    stop_modes = ("fixed",)
    tool: ClassVar[str]

    def default_stop(self) -> StopRule:
        return StopRule(mode="fixed", count=DEFAULT_REPS, warmup_min=1)

    def check(self, profile: DeviceProfile, config: RunConfig) -> None:
        """Plan-time refusals: repetitions must be a count; a tool to push must exist on the host."""
        if config.stop.count is None:
            raise HarnessError(f"runner {self.name} repeats each test --count times (default {DEFAULT_REPS}); "
                               "--time is not a rule it can follow")
        spec = profile.tools.get(self.tool)
        if spec is not None and spec.push is not None and not Path(spec.push).expanduser().is_file():
            raise HarnessError(f"{spec.push}: {self.tool} to push to device {profile.id!r} not found "
                               f"(profile tools.{self.tool}.push)")


def model_costs(model_path: Path | None, options: LlamaOptions) -> tuple[CostsFor, list[str]]:
    """Static per-token costs of the run's model (none, with a note, if it cannot be read)."""
    if model_path is None:
        return costs_for_model(None), []
    try:
        model = GgufFormat().model(model_path)
    except HarnessError as e:
        return costs_for_model(None), [f"no static costs: {e}"]
    return costs_for_model(model, n_ubatch=options.n_ubatch or 512), []


def with_pid_file(argv: list[str], pid_file: str | None) -> list[str]:
    """`argv` started so that its pid is in `pid_file` (the telemetry sampler follows its RSS and CPU)."""
    if not pid_file:
        return argv
    return ["sh", "-c", 'echo $$ > "$1"; shift; exec "$@"', "sh", pid_file, *argv]
