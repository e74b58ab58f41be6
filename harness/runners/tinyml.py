"""MCU runner: the host side of the MLPerf Tiny serial protocol, scored like its runner.

Modes (option ``mode``):

- ``performance`` (default): W warmups and N timed inferences per window, W always
  sent; a window's time is the difference of its two ``m-lap-us`` stamps (32-bit
  wraparound handled). MLPerf Tiny scores 5 windows of at least 10 s and 10
  inferences each: median throughput, latency = 1 / median throughput. Unless N is
  given it is calibrated: one inference timed, N grown tenfold while the window is too
  short for the device's clock to measure (a DUT may tick at 1 kHz: under 100 ticks is
  not measurable), then scaled until a window lasts 10 s. No trial asks for more
  inferences than the profile's ``infer_timeout_s`` allows, judged by the host's wall
  clock (an upper bound on the device's time). Measured calibration windows are
  recorded as warmup samples. A window whose two stamps are equal has zero length and
  is invalid: the run fails rather than recording a latency of 0.
  ``relaxed=True`` drops the 10 s / 10 inference rule for quick runs
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
import time
from typing import Any, Literal

import numpy as np
from pydantic import AliasChoices, Field

from harness.analysis.model_types import TensorInfo
from harness.errors import HarnessError, RunAborted, RuntimeFailure
from harness.mcu.inputs import load_inputs, model_io, random_inputs, tensor_bytes
from harness.mcu.program import MLPERF_TINY_IDS, mlperf_tiny_id
from harness.mcu.protocol import LAP_WRAP, DeviceErrorReply, DutClient, InferReply
from harness.mcu.windows import MIN_INFERENCES, MIN_WINDOW_S, WindowPlan, infer_timeout, plan_windows
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.store.record import StopRule
from harness.store.results import AccuracyResult, MlperfTinyResult, TinyWindow
from harness.transports.base import LineTransport

#: the MLPerf Tiny reference models' input tensor: (dtype, bytes)
REFERENCE_INPUTS = {"kws01": ("int8", 490), "vww01": ("int8", 27648), "ic01": ("int8", 3072), "ad01": ("int8", 640)}
#: a window spanning fewer ticks of the device clock than this is not measurable (1 % resolution)
MEASURABLE_TICKS = 100
MAX_CALIBRATION_WINDOWS = 8


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
    """The device runs another model than the run asks for, or takes another input."""


class InvalidWindow(HarnessError):
    """A timed window the device's clock could not measure (zero length)."""


def model_key(ctx: RunContext) -> str | None:
    """kws01/vww01/ic01/ad01 when the run's model is one of them."""
    return mlperf_tiny_id(ctx.model.zoo_id or "", ctx.model.name, ctx.model_path.name)


class DeviceClock:
    """Unwraps the device's 32-bit µs stamps into a monotonic ns clock."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._wraps = 0
        self._gcd = 0
        self._stamps = 0

    def ns(self, lap_us: int) -> int:
        if self._last is not None and lap_us < self._last:
            self._wraps += 1
        self._last = lap_us
        self._gcd = math.gcd(self._gcd, lap_us)
        self._stamps += 1
        return (self._wraps * LAP_WRAP + lap_us) * 1000

    def tick_us(self, assume_coarse: bool = False) -> int:
        """The clock's resolution: 1000 when the stamps are whole milliseconds (a DUT whose clock
        ticks at 1 kHz, the slowest the protocol allows), else 1. Evidence is at least 8 stamps
        (chance ruled out); with `assume_coarse` the clock counts as 1 kHz until a stamp shows
        finer resolution (calibration: growing N once more is cheap, extrapolating noise is not)."""
        ms_only = self._gcd % 1000 == 0
        if assume_coarse:
            return 1000 if ms_only else 1
        return 1000 if self._stamps >= 8 and ms_only and self._gcd else 1


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
        self._check_input(ctx, dut, model)

    def _check_input(self, ctx: RunContext, dut: DutClient, model: str | None) -> None:
        """Refuse a model whose input the device does not take (an fp32 model on an int8 DUT)."""
        tin, _ = model_io(ctx.model_path)
        dtype, nbytes = np.dtype(tin.dtype).name, tensor_bytes(tin)
        ours = f"{dtype} {list(tin.shape)} ({nbytes} bytes)"
        ref = REFERENCE_INPUTS.get(model or "")
        if ref is not None:
            if (dtype, nbytes) != ref:
                raise ModelMismatch(f"input mismatch: the device runs {model}, which takes a {ref[0]} input of "
                                    f"{ref[1]} bytes; {ctx.model.name} takes {ours}: run the {ref[0]} model")
            return
        try:  # another model: its input buffer must at least hold ours
            reply = dut.command(f"db load {nbytes}")
        except DeviceErrorReply as e:
            raise ModelMismatch(f"input mismatch: the device refuses a {nbytes}-byte input ({ctx.model.name} takes "
                                f"{ours}): {e}") from None
        finally:
            dut.forget_input()
        if not any(f"Expecting {nbytes} bytes" in line for line in reply):
            raise ModelMismatch(f"input mismatch: 'db load {nbytes}' was not acknowledged: {reply}")

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

    def result(self, ctx: RunContext) -> MlperfTinyResult:
        """The run's MLPerf Tiny result, where its windows go."""
        return ctx.recorder.result(MlperfTinyResult) or ctx.recorder.set_result(MlperfTinyResult(mode=ctx.options.mode))

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
        rows: list[dict[str, Any]] = []

        def window(index: int, phase: str, n_: int, w_: int) -> dict[str, Any]:
            nonlocal per_inf
            rec.stage = "load"
            dut.ensure_loaded(samples[index % len(samples)].tobytes())
            rec.stage = "run"
            t0 = time.monotonic()
            timeout = infer_timeout(ctx.profile.transport.infer_timeout_s, n_, w_, per_inf)
            reply = dut.infer(n_, w_, expect_laps=True, timeout_s=timeout)
            wall_s = time.monotonic() - t0
            row = self._record_window(ctx, reply, clock, index, phase, emulated_ns)
            row["wall_s"] = wall_s
            self.result(ctx).windows[-1].wall_s = wall_s
            if row["elapsed_s"] > 0:
                per_inf = row["elapsed_s"] / n_
            ctx.progress("window", {"n": index, "phase": phase, "elapsed_s": row["elapsed_s"],
                                    "median_s": row["latency_s"]})
            return row

        calibration = 0
        if n is None:
            n, calibration = self._calibrate(ctx, window, clock, w, min_s)
        for i in range(windows):
            rows.append(window(calibration + i, "steady", n, w))
        rec.stop_reason = f"tinyml: {windows} windows of {n} inferences" + (" (relaxed rule)" if relaxed else "")
        self._score(ctx, rows, relaxed, min_s)

    def _calibrate(self, ctx: RunContext, window, clock: DeviceClock, w: int, min_s: float) -> tuple[int, int]:
        """(N, calibration windows run): N inferences make a window of at least `min_s`.

        Grow N tenfold while the device clock cannot measure the window, then scale it
        from the measured time; never past what the profile's infer timeout allows."""
        timeout_s = ctx.profile.transport.infer_timeout_s
        trial, count = 1, 0
        while True:
            last = window(count, "warmup", trial, w)
            count += 1
            elapsed = last["elapsed_s"]
            if elapsed >= min_s and trial >= MIN_INFERENCES:
                return trial, count
            measurable = elapsed * 1e6 >= MEASURABLE_TICKS * clock.tick_us(assume_coarse=True)
            want = max(MIN_INFERENCES, math.ceil(trial * 1.1 * min_s / elapsed)) if measurable else trial * 10
            # the host's wall clock bounds the device's time per inference from above
            cap = max(trial + 1, int(0.5 * timeout_s * trial / max(last["wall_s"], 1e-3)))
            nxt = min(want, cap)
            if want > cap:
                ctx.recorder.warnings.append(
                    f"calibration: {want} inferences per window would exceed the profile's infer_timeout_s "
                    f"({timeout_s:g} s); trying {nxt}")
            if count >= MAX_CALIBRATION_WINDOWS or (measurable and want > cap and trial >= cap):
                if not measurable:
                    raise InvalidWindow(
                        f"calibration: after {count} windows (last: {trial} inferences) the device's clock "
                        f"(ticks of {clock.tick_us(assume_coarse=True)} µs) still measured {elapsed * 1e6:.0f} µs: a window that short "
                        "cannot be timed; give -o inferences=N")
                return nxt, count
            trial = nxt

    def _record_window(self, ctx: RunContext, reply: InferReply, clock: DeviceClock, index: int, phase: str,
                       emulated_ns: int | None) -> dict[str, Any]:
        elapsed_us = reply.elapsed_us
        start_ns = clock.ns(reply.laps_us[0])
        clock.ns(reply.laps_us[1])
        n = reply.iterations
        row = {"window": index, "phase": phase, "inferences": n, "warmups": reply.warmups,
               "lap_us": list(reply.laps_us), "elapsed_s": elapsed_us / 1e6, "results": reply.results}
        if elapsed_us == 0:
            why = (f"window {index}: both m-lap-us stamps read {reply.laps_us[0]} µs around {n} inferences: a window "
                   f"of zero length is invalid (the device clock ticks every {clock.tick_us(assume_coarse=True)} µs)")
            if phase == "steady":
                raise InvalidWindow(why + "; give more inferences per window (-o inferences=N)")
            row.update(latency_s=None, throughput_per_s=None, measurable=False)
            self.result(ctx).windows.append(TinyWindow(**row))
            return row  # a calibration window too short to time: no sample
        if phase == "steady" and elapsed_us < MEASURABLE_TICKS * clock.tick_us():
            ctx.recorder.warnings.append(
                f"window {index}: {elapsed_us} µs is only {elapsed_us // clock.tick_us()} ticks of the device clock "
                f"({clock.tick_us()} µs each): ±1 tick is ±{100 * clock.tick_us() / elapsed_us:.1f} %")
        latency_ns = round(elapsed_us * 1000 / n)
        ctx.recorder.add_sample(iteration=index, phase=phase, start_ns=start_ns, latency_ns=latency_ns, inferences=n)
        if phase == "steady":
            tl = ctx.recorder.timeline
            tl.setdefault("steady_start_ns", start_ns)
            tl["steady_end_ns"] = start_ns + elapsed_us * 1000
        row.update(latency_s=latency_ns / 1e9, throughput_per_s=n / (elapsed_us / 1e6))
        if emulated_ns:
            row["instructions"] = elapsed_us * 1000 // emulated_ns
        self.result(ctx).windows.append(TinyWindow(**row))
        return row

    def _score(self, ctx: RunContext, rows: list[dict[str, Any]], relaxed: bool, min_s: float) -> None:
        rec = ctx.recorder
        invalid = [r for r in rows if r["elapsed_s"] < min_s or r["inferences"] < MIN_INFERENCES]
        throughputs = [r["throughput_per_s"] for r in rows if r["throughput_per_s"]]
        median = statistics.median(throughputs) if throughputs else None
        result = self.result(ctx)
        result.median_throughput_per_s = median
        result.latency_s = 1.0 / median if median else None
        result.window_rule = "relaxed" if relaxed else (
            f"MLPerf Tiny: each window >= {min_s:g} s and >= {MIN_INFERENCES} inferences")
        result.valid = not relaxed and not invalid
        if relaxed:
            rec.notes.append("window rule relaxed (--relaxed): windows may be shorter than MLPerf Tiny's "
                             "10 s / 10 inferences, so this is not a valid MLPerf Tiny score")
        for r in invalid if not relaxed else []:
            rec.warnings.append(f"window {r['window']}: {r['elapsed_s']:.2f} s, {r['inferences']} inferences — "
                                "below the MLPerf Tiny rule: result invalid")

    def _accuracy(self, ctx: RunContext, dut: DutClient) -> None:
        from harness.mcu.reference import compare_outputs, host_outputs

        rec = ctx.recorder
        count = ctx.options.samples
        _, tout, samples = self.inputs(ctx, count)
        clock = DeviceClock()
        device_out: list[list[float]] = []
        for i, x in enumerate(samples):
            rec.stage = "load"
            dut.load(x.tobytes())
            rec.stage = "run"
            reply = dut.infer(1, 0, expect_laps=False, timeout_s=ctx.profile.transport.infer_timeout_s)
            if reply.results is None:
                raise RuntimeFailure(f"accuracy: the device printed no m-results for input {i}")
            device_out.append(reply.results)
            if reply.elapsed_us:  # timing is a by-product here: a window too short to time is skipped
                self._record_window(ctx, reply, clock, i, "steady", None)
        rec.stage = "compare"
        reference = host_outputs(ctx.model_path, samples)
        report = rec.set_result(AccuracyResult(**compare_outputs(device_out, reference, tout)))
        rec.stop_reason = f"tinyml accuracy: {len(samples)} inputs"
        if report.within_tolerance < report.outputs:
            rec.warnings.append(
                f"accuracy: {report.outputs - report.within_tolerance} of {report.outputs} device outputs "
                f"differ from LiteRT by more than one quantization step (max |diff| {report.max_abs_diff:.4g})")
