"""Typed runner results: what a runner measured beyond the sample tables, in the record's
``results`` list (``RunManifest.results``), each entry discriminated by its ``kind``.

A result kind is a `RunnerResult` subclass whose ``kind`` is a one-value literal. Defining
the class registers the kind, so a runner adds its own kind in its own module (no central
list)::

    class LlamaTimings(RunnerResult):
        kind: Literal["llama_timings"] = "llama_timings"
        n_ctx: int

Reading a record, a kind that is not registered yet makes the plugins (runners and ingest
formats) load, and a kind still unknown after that (written by a newer harness) is kept
as an `UnknownResult`: its fields survive a read and a re-write, nothing reads them.

The summary asks results through optional hooks, never through their fields:
`typical_latency()` (a latency reported by the runtime when it gives no per-iteration
samples), `energy()` (an energy measured by an external monitor),
`stands_for_samples` (the runtime reports statistics, not samples: no warning that
samples are missing) and `off_the_ceilings` (the model ran on an accelerator the
device's CPU ceilings do not describe: no roofline).

Built-in kinds: ``tool_aggregates`` (statistics a tool prints, e.g. benchmark_model),
``phases`` (a multi-phase workload, each phase with its own unit: an LLM's prefill and
decode in tokens), ``mlperf_tiny`` (MLPerf Tiny windows and score), ``monitor_energy``
(energy per window from an external power monitor), ``accuracy`` (device outputs
compared with a host reference).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class RunnerResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    #: kind -> class; filled by defining subclasses
    registry: ClassVar[dict[str, type[RunnerResult]]] = {}
    #: the runtime gives statistics instead of per-iteration samples
    stands_for_samples: ClassVar[bool] = False
    #: the run did not execute on the CPU cores the device's ceilings describe (a GPU or DLA
    #: engine): why, and the summary then has no roofline rather than a wrong one
    off_the_ceilings: ClassVar[str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        kind = cls.model_fields["kind"].default
        if isinstance(kind, str) and not cls.model_config.get("extra") == "allow":
            RunnerResult.registry[kind] = cls

    def typical_latency(self) -> tuple[float, str] | None:
        """(seconds per inference, how it was obtained) when the runtime reports one."""
        return None

    def energy(self) -> dict[str, Any] | None:
        """``energy_j_per_inference``, ``power_w_mean`` and how they were measured, when
        this result carries an energy measurement."""
        return None

    @staticmethod
    def parse(data: Any) -> RunnerResult:
        """A result from its JSON form, by its kind (unknown kinds kept as `UnknownResult`)."""
        if isinstance(data, RunnerResult):
            return data
        kind = data.get("kind") if isinstance(data, dict) else None
        if not isinstance(kind, str):
            raise ValueError("a runner result needs a 'kind' string")
        if kind not in RunnerResult.registry:
            from harness import plugins  # kinds defined in plugin modules register on import

            plugins.load("harness.runners")
            plugins.load("harness.ingest")
        cls = RunnerResult.registry.get(kind, UnknownResult)
        try:
            return cls.model_validate(data)
        except ValidationError as e:  # fields a newer minor version added: dropped, not refused
            data = dict(data)
            if not drop_unknown_fields(data, e):
                raise
            return cls.model_validate(data)


def drop_unknown_fields(data: dict, err: ValidationError) -> bool:
    """Delete, in place, the fields a validation error calls unknown (``extra_forbidden``);
    False, deleting nothing, when it also names another problem."""
    errors = err.errors()
    if any(e["type"] != "extra_forbidden" for e in errors):
        return False
    for e in errors:
        *parents, last = e["loc"]
        node: Any = data
        for key in parents:
            node = node[key]
        node.pop(last, None)
    return True


class UnknownResult(RunnerResult):
    """A result of a kind this harness does not know (a newer one wrote it): kept as is."""

    model_config = ConfigDict(extra="allow")


# -- statistics a tool prints ----------------------------------------------------------------


class AggregateStats(BaseModel):
    """count/mean/std/min/max/median/percentiles as a tool printed them (seconds)."""

    model_config = ConfigDict(extra="forbid")

    count: int
    first_s: float | None = None
    curr_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    mean_s: float | None = None
    std_s: float | None = None
    median_s: float | None = None
    percentiles: dict[str, float] = Field(default_factory=dict, description="p5, p50, p95… -> seconds")
    all_same: bool = False

    @classmethod
    def from_tool(cls, stats: dict[str, Any]) -> AggregateStats:
        """From a parser's seconds dict: these fields by name, ``pNN_s`` keys as percentiles."""
        out: dict[str, Any] = {"percentiles": dict(stats.get("percentiles") or {})}
        for key, value in stats.items():
            p = re.fullmatch(r"(p\d+(?:\.\d+)?)_s", key)
            if p and value is not None:
                out["percentiles"][p.group(1)] = value
            elif key in cls.model_fields and key != "percentiles":
                out[key] = value
        return cls.model_validate(out)


class ToolAggregates(RunnerResult):
    """Statistics printed by a tool that reports no per-iteration latencies (benchmark_model)."""

    kind: Literal["tool_aggregates"] = "tool_aggregates"
    source: str = Field(description="the tool, e.g. benchmark_model")
    note: str | None = None
    warmup: AggregateStats | None = None
    steady: AggregateStats | None = None
    warmup_mean_s: float | None = None
    inference_mean_s: float | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="tool-specific, for people; nothing reads it")

    stands_for_samples: ClassVar[bool] = True

    def typical_latency(self) -> tuple[float, str] | None:
        steady = self.steady
        if steady is not None and steady.median_s:
            return steady.median_s, "median reported by the runtime (no per-iteration samples)"
        mean = self.inference_mean_s or (steady.mean_s if steady is not None else None)
        if mean:
            return mean, "mean reported by the runtime (no per-iteration samples)"
        return None


# -- multi-phase workloads --------------------------------------------------------------------


class WorkloadPhase(BaseModel):
    """One phase of a workload, in its own unit (an LLM's prefill: 512 tokens per repetition)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="e.g. prefill, decode")
    unit: str = Field("inference", description="what the phase processes: inference, token, …")
    units: int | None = Field(None, description="units processed per repetition")
    repetitions: int | None = None
    time_s: AggregateStats | None = Field(None, description="seconds per repetition")
    rate_per_s: float | None = Field(None, description="units per second (mean over repetitions)")
    rate_std_per_s: float | None = None


class PhasedResult(RunnerResult):
    """A workload measured in several phases, each with its own unit."""

    kind: Literal["phases"] = "phases"
    source: str
    phases: list[WorkloadPhase]
    details: dict[str, Any] = Field(default_factory=dict, description="tool-specific, for people; nothing reads it")

    stands_for_samples: ClassVar[bool] = True

    def phase(self, name: str) -> WorkloadPhase | None:
        return next((p for p in self.phases if p.name == name), None)


# -- MCU results --------------------------------------------------------------------------------


class TinyWindow(BaseModel):
    """One MLPerf Tiny window: N inferences timed between two device timestamps."""

    model_config = ConfigDict(extra="forbid")

    window: int
    phase: str
    inferences: int
    warmups: int | None = None
    lap_us: list[int] = Field(default_factory=list)
    elapsed_s: float
    latency_s: float | None = None
    throughput_per_s: float | None = None
    results: list[float] | None = None
    instructions: int | None = Field(None, description="emulated board: instructions the window took")
    wall_s: float | None = Field(None, description="host wall time of the window's infer command")
    measurable: bool = Field(True, description="False: the device clock could not time it (calibration)")


class MlperfTinyResult(RunnerResult):
    """The MLPerf Tiny windows of a run and their score (performance or energy mode)."""

    kind: Literal["mlperf_tiny"] = "mlperf_tiny"
    mode: str = "performance"
    windows: list[TinyWindow] = Field(default_factory=list)
    median_throughput_per_s: float | None = None
    latency_s: float | None = Field(None, description="1 / median throughput")
    median_energy_j_per_inference: float | None = None
    window_rule: str | None = None
    valid: bool | None = Field(None, description="whether the windows satisfy MLPerf Tiny's rule")
    top1: float | None = Field(None, description="accuracy mode: top-1 accuracy as a fraction (a runner's score)")
    auc: float | None = Field(None, description="accuracy mode: area under the ROC curve (anomaly detection)")
    streaming: dict[str, float] = Field(default_factory=dict,
                                        description="streaming wake word: true/false positives, duty cycle, period")

    #: an imported results.txt has windows, not per-inference samples
    stands_for_samples: ClassVar[bool] = True

    def typical_latency(self) -> tuple[float, str] | None:
        if self.latency_s:
            return self.latency_s, "1 / median throughput of the MLPerf Tiny windows"
        return None


class EnergyWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int
    inferences: int | None = Field(None, description="None: the source does not say (EnergyRunner 3's results)")
    start_s: float | None = Field(None, description="None: the source does not say")
    elapsed_s: float
    energy_j: float
    energy_j_per_inference: float
    power_w: float | None = None
    coverage: float | None = None


class MonitorEnergy(RunnerResult):
    """Energy per inference from an external power monitor, per window (MCU energy mode)."""

    kind: Literal["monitor_energy"] = "monitor_energy"
    source: str = Field(description="the monitor")
    j_per_inference_median: float | None
    power_w_mean: float | None = None
    windows: list[EnergyWindow] = Field(default_factory=list)
    monitor: dict[str, Any] = Field(default_factory=dict, description="the instrument's own details")
    clock: str | None = None

    def energy(self) -> dict[str, Any] | None:
        return {
            "energy_j_per_inference": self.j_per_inference_median,
            "power_w_mean": self.power_w_mean,
            "how": {"source": self.source, "method": "median over windows",
                    "j_per_inference_median": self.j_per_inference_median, "power_w_mean": self.power_w_mean,
                    "windows": [w.model_dump() for w in self.windows]},
        }


class AccuracyResult(RunnerResult):
    """Device outputs compared with the same model run on the host."""

    kind: Literal["accuracy"] = "accuracy"
    inputs: int
    outputs: int
    within_tolerance: int
    exact: int
    tolerance: Any = None
    max_abs_diff: float
    per_input_max_abs_diff: list[float] = Field(default_factory=list)
    top1_agreement: float | None = None
    reference: str | None = None
