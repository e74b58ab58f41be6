"""MCU runner: the host side of the MLPerf Tiny serial protocol, scored like its runner.

Modes (option ``mode``):

- ``performance`` (default): W warmups and N timed inferences per window, W always
  sent; a window's time is the difference of its two ``m-lap-us`` stamps (32-bit
  wraparound handled). MLPerf Tiny scores 5 windows of at least 10 s and 10
  inferences each: median throughput, latency = 1 / median throughput. Unless N is
  given it is calibrated (one inference timed, then N grown until a window lasts 10 s);
  calibration windows are recorded as warmup samples. ``relaxed=True`` drops the 10 s / 10 inference rule for quick runs
  (the record says so; such a result is not a valid MLPerf Tiny score).
- ``accuracy``: each input goes through ``infer 1 0``; its ``m-results`` are
  compared with the same int8 model run on the host with LiteRT.
- ``energy``: the firmware's timestamps are GPIO edges that an external power
  monitor sees; energy per inference is the energy between a window's two edges ÷ N,
  median over the windows (see `harness.mcu.energy_mode`).

Options: see `TinymlOptions` (``harness runtimes`` lists them); ``harness run
--relaxed-windows`` sets ``relaxed``.

Results: an ``mlperf_tiny`` result (windows and score; `harness.store.results`), an
``accuracy`` result in accuracy mode, a ``monitor_energy`` result in energy mode.

Samples: one per window, ``inferences`` = N, ``latency_ns`` = elapsed / N,
``start_ns`` = the first stamp on the device clock (µs unwrapped → ns).
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Literal

import numpy as np
from pydantic import AliasChoices, Field

from harness.analysis.model_types import TensorInfo
from harness.errors import HarnessError, RunAborted, RuntimeFailure
from harness.mcu.inputs import load_inputs, model_io, random_inputs
from harness.mcu.program import MLPERF_TINY_IDS, mlperf_tiny_id
from harness.mcu.protocol import LAP_WRAP, DutClient, InferReply
from harness.mcu.windows import MIN_INFERENCES, MIN_WINDOW_S, WindowPlan, infer_timeout, plan_windows
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.store.record import StopRule
from harness.store.results import AccuracyResult, MlperfTinyResult, TinyWindow
from harness.transports.base import LineTransport


class TinymlOptions(RunnerOptions):
    mode: Literal["performance", "accuracy", "energy"] = Field("performance", description="what to measure")
    windows: int = Field(5, ge=1, description="timed windows")
    inferences: int | None = Field(None, ge=1, description="N per window (default: calibrated; relaxed: 1)")
    warmups: int | None = Field(None, ge=0, description="W per window (default: MLPerf Tiny's; relaxed: 1)")
    relaxed: bool = Field(False, validation_alias=AliasChoices("relaxed", "relaxed_windows"),
                          description="drop the 10 s / 10 inference window rule (--relaxed-windows)")
    min_window_s: float = Field(MIN_WINDOW_S, gt=0, description="the window rule's minimum seconds")
    samples: int = Field(5, ge=1, description="accuracy: inputs drawn when no --inputs")
    relay: bool = Field(False, description="commands go through an energy interface board")
    boot_wait_s: float = Field(1.0, ge=0, description="seconds to drain the board's boot output")
    fit_check: bool = Field(True, description="refuse a model whose arena/flatbuffer exceed SRAM/flash")
    monitor: str | None = Field(None, description="energy: power monitor (default: the profile's)")
    monitor_port: str | None = Field(None, description="energy: the monitor's port")
    monitor_options: dict[str, Any] = Field(default_factory=dict, description="energy: monitor settings")
    monitor_settle_s: float = Field(0.2, ge=0, description="energy: wait for the last edge to reach the host")


class ModelMismatch(HarnessError):
    """The device runs another model than the run asks for."""


def model_key(ctx: RunContext) -> str | None:
    """kws01/vww01/ic01/ad01 when the run's model is one of them."""
    return mlperf_tiny_id(ctx.model.zoo_id or "", ctx.model.name, ctx.model_path.name)


class DeviceClock:
    """Unwraps the device's 32-bit µs stamps into a monotonic ns clock."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._wraps = 0

    def ns(self, lap_us: int) -> int:
        if self._last is not None and lap_us < self._last:
            self._wraps += 1
        self._last = lap_us
        return (self._wraps * LAP_WRAP + lap_us) * 1000


class TinymlRunner(Runner):
    name = "tinyml"
    runtimes = ("tinyml",)
    formats = ("tflite",)
    transport = LineTransport
    stop_modes = ("tinyml",)
    Options = TinymlOptions
    description = "MCU over the MLPerf Tiny serial protocol: performance windows, accuracy, energy"

    def default_stop(self) -> StopRule:
        return StopRule(mode="tinyml")

    def run(self, ctx: RunContext) -> None:
        rec = ctx.recorder
        opts: TinymlOptions = ctx.options
        mode = opts.mode
        transport = ctx.transport
        spec = ctx.profile.transport
        transcript: list[str] = []
        rec.raw["serial"] = transcript  # shared list: the record keeps whatever was exchanged
        details = rec.runtime.details
        details["mode"] = mode
        rec.stage = "fit"
        if opts.fit_check:
            from harness.mcu.fit import require_fit

            fit = require_fit(ctx.profile, ctx.model_path)
            details["fit"] = fit.as_dict()
        rec.stage = "connect"
        if mode == "energy" and getattr(transport, "emulated", False):
            raise HarnessError(f"energy mode needs a real board and a power monitor; {ctx.profile.id} is emulated "
                               "(its firmware has no supply current to measure)")
        if hasattr(transport, "boot_model"):
            transport.boot_model(ctx.model_path)  # emulated board: firmware for this model
        details.update(getattr(transport, "details", {}))
        if "icount_shift" in details:
            ns = 2 ** int(details["icount_shift"])
            rec.notes.append(
                f"emulated board (QEMU -icount shift={details['icount_shift']}): each instruction advances the "
                f"device clock by {ns} ns, so latencies are instruction counts × {ns} ns, repeatable run to run "
                "and unrelated to wall time or to the real board's speed")
        dut = DutClient(transport, transcript, spec.line_timeout_s, spec.infer_timeout_s, ctx.cancel,
                        relay=opts.relay)
        try:
            rec.stage = "handshake"
            dut.drain_boot(opts.boot_wait_s)
            dut.handshake_done = True
            self._identify(ctx, dut)
            rec.stage = "run"
            if mode == "performance":
                self._performance(ctx, dut)
            elif mode == "accuracy":
                self._accuracy(ctx, dut)
            else:
                from harness.mcu.energy_mode import run_energy

                _, _, samples = self.inputs(ctx, 1)
                run_energy(ctx, dut, self.window_plan(ctx), model_key(ctx), samples)
        except RunAborted:
            rec.stop_reason = "cancelled by the user"

    # -- steps ------------------------------------------------------------------------

    def _identify(self, ctx: RunContext, dut: DutClient) -> None:
        details = ctx.recorder.runtime.details
        details["device_name"] = dut.name()
        firmware, model = dut.profile()
        details["firmware_profile"] = firmware
        details["device_model"] = model
        ctx.recorder.runtime.version = firmware
        want = model_key(ctx)
        if model in MLPERF_TINY_IDS and want is not None and model != want:
            raise ModelMismatch(f"the device runs {model} but the run is for {want} ({ctx.model.name}): "
                                "flash the firmware for this model")
        if model is None:
            ctx.recorder.warnings.append("device did not report its model (no m-model-[...] line)")
        elif want is None and model not in ctx.model.name:
            ctx.recorder.warnings.append(f"device reports model {model!r}; the run's model is {ctx.model.name!r}")

    def inputs(self, ctx: RunContext, count: int) -> tuple[TensorInfo, TensorInfo, list[np.ndarray]]:
        tin, tout = model_io(ctx.model_path)
        if ctx.config.inputs:
            samples = load_inputs(ctx.config.inputs, tin)
        else:
            samples = random_inputs(tin, count, ctx.config.seed)
        return tin, tout, samples

    def window_plan(self, ctx: RunContext) -> WindowPlan:
        o: TinymlOptions = ctx.options
        return plan_windows(o.windows, o.inferences, o.warmups, o.relaxed, model_key(ctx))

    def _performance(self, ctx: RunContext, dut: DutClient) -> None:
        rec = ctx.recorder
        details = rec.runtime.details
        min_s = ctx.options.min_window_s
        windows, n, w, relaxed = self.window_plan(ctx)
        # one seeded input unless --inputs gives several (then window i sends input i mod k):
        # timing does not depend on the data, and every `db` load costs serial round trips
        _, _, samples = self.inputs(ctx, 1)
        clock = DeviceClock()
        emulated_ns = 2 ** int(details["icount_shift"]) if "icount_shift" in details else None
        per_inf: float | None = None
        rows: list[TinyWindow] = []
        result = rec.set_result(MlperfTinyResult(mode="performance"))

        def window(index: int, phase: str, n_: int, w_: int) -> TinyWindow:
            nonlocal per_inf
            rec.stage = "load"
            dut.ensure_loaded(samples[index % len(samples)].tobytes())
            rec.stage = "run"
            timeout = infer_timeout(ctx.profile.transport.infer_timeout_s, n_, w_, per_inf)
            reply = dut.infer(n_, w_, expect_laps=True, timeout_s=timeout)
            row = self._record_window(ctx, reply, clock, index, phase, emulated_ns)
            result.windows.append(row)
            per_inf = row.elapsed_s / n_ if n_ else per_inf
            ctx.progress("window", {"n": index, "phase": phase, "elapsed_s": row.elapsed_s,
                                    "median_s": row.latency_s})
            return row

        # calibration (strict rule, N not given): time one inference, then grow N until a
        # window lasts min_window_s with at least 10 inferences; calibration windows are
        # recorded as warmup samples
        calibration = 0
        if n is None:
            trial = 1
            while n is None:
                last = window(calibration, "warmup", trial, w)
                calibration += 1
                scaled = max(MIN_INFERENCES, math.ceil(trial * 1.1 * min_s / max(last.elapsed_s, 1e-6)))
                if last.elapsed_s >= min_s and trial >= MIN_INFERENCES:
                    n = trial
                elif calibration >= 4:
                    n = scaled
                trial = scaled
        for i in range(windows):
            rows.append(window(calibration + i, "steady", n, w))
        rec.stop_reason = f"tinyml: {windows} windows of {n} inferences" + (" (relaxed rule)" if relaxed else "")
        self._score(ctx, result, rows, relaxed, min_s)

    def _record_window(self, ctx: RunContext, reply: InferReply, clock: DeviceClock, index: int, phase: str,
                       emulated_ns: int | None) -> TinyWindow:
        elapsed_us = reply.elapsed_us
        start_ns = clock.ns(reply.laps_us[0])
        clock.ns(reply.laps_us[1])
        n = reply.iterations
        latency_ns = round(elapsed_us * 1000 / n)
        ctx.recorder.add_sample(iteration=index, phase=phase, start_ns=start_ns, latency_ns=latency_ns, inferences=n)
        if phase == "steady":
            tl = ctx.recorder.timeline
            tl.setdefault("steady_start_ns", start_ns)
            tl["steady_end_ns"] = start_ns + elapsed_us * 1000
        return TinyWindow(
            window=index, phase=phase, inferences=n, warmups=reply.warmups, lap_us=list(reply.laps_us),
            elapsed_s=elapsed_us / 1e6, latency_s=latency_ns / 1e9,
            throughput_per_s=n / (elapsed_us / 1e6) if elapsed_us else None, results=reply.results,
            instructions=elapsed_us * 1000 // emulated_ns if emulated_ns else None,
        )

    def _score(self, ctx: RunContext, result: MlperfTinyResult, rows: list[TinyWindow], relaxed: bool,
               min_s: float) -> None:
        rec = ctx.recorder
        invalid = [r for r in rows if r.elapsed_s < min_s or r.inferences < MIN_INFERENCES]
        throughputs = [r.throughput_per_s for r in rows if r.throughput_per_s]
        median = statistics.median(throughputs) if throughputs else None
        result.median_throughput_per_s = median
        result.latency_s = 1.0 / median if median else None
        result.window_rule = "relaxed" if relaxed else (
            f"MLPerf Tiny: each window >= {min_s:g} s and >= {MIN_INFERENCES} inferences")
        result.valid = not relaxed and not invalid
        if relaxed:
            rec.notes.append("window rule relaxed (--relaxed): windows may be shorter than MLPerf Tiny's "
                             "10 s / 10 inferences, so this is not a valid MLPerf Tiny score")
        for r in invalid if not relaxed else []:
            rec.warnings.append(f"window {r.window}: {r.elapsed_s:.2f} s, {r.inferences} inferences — "
                                "below the MLPerf Tiny rule: result invalid")

    def _accuracy(self, ctx: RunContext, dut: DutClient) -> None:
        from harness.mcu.reference import compare_outputs, host_outputs

        rec = ctx.recorder
        count = ctx.options.samples
        _, tout, samples = self.inputs(ctx, count)
        clock = DeviceClock()
        device_out: list[list[float]] = []
        windows = rec.set_result(MlperfTinyResult(mode="accuracy"))
        for i, x in enumerate(samples):
            rec.stage = "load"
            dut.load(x.tobytes())
            rec.stage = "run"
            reply = dut.infer(1, 0, expect_laps=False, timeout_s=ctx.profile.transport.infer_timeout_s)
            if reply.results is None:
                raise RuntimeFailure(f"accuracy: the device printed no m-results for input {i}")
            device_out.append(reply.results)
            if reply.elapsed_us is not None:
                windows.windows.append(self._record_window(ctx, reply, clock, i, "steady", None))
        rec.stage = "compare"
        reference = host_outputs(ctx.model_path, samples)
        report = rec.set_result(AccuracyResult(**compare_outputs(device_out, reference, tout)))
        rec.stop_reason = f"tinyml accuracy: {len(samples)} inputs"
        if report.within_tolerance < report.outputs:
            rec.warnings.append(
                f"accuracy: {report.outputs - report.within_tolerance} of {report.outputs} device outputs "
                f"differ from LiteRT by more than one quantization step (max |diff| {report.max_abs_diff:.4g})")
