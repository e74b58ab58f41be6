"""MCU runner: the host side of the MLPerf Tiny serial protocol, scored like its runner.

Modes (``RunConfig.options["mode"]``):

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

Options: ``windows`` (5), ``inferences`` (N; relaxed default 1), ``warmups`` (W; relaxed
default 1), ``relaxed`` (or ``relaxed_windows``, set by ``harness run --relaxed-windows``),
``min_window_s`` (10), ``samples`` (accuracy inputs drawn when no --inputs: 5),
``relay`` (commands through an energy interface board), ``boot_wait_s`` (1),
``fit_check`` (True: refuse a model whose arena/flatbuffer exceed the profile's SRAM/flash).

Samples: one per window, ``inferences`` = N, ``latency_ns`` = elapsed / N,
``start_ns`` = the first stamp on the device clock (µs unwrapped → ns).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from harness.errors import HarnessError, RunAborted
from harness.analysis.static import TensorInfo
from harness.mcu.inputs import load_inputs, model_io, random_inputs
from harness.mcu.program import MLPERF_TINY_IDS, mlperf_tiny_id
from harness.mcu.protocol import LAP_WRAP, DutClient, InferReply
from harness.runners.base import RunContext, Runner

#: MLPerf Tiny's default (inferences, warmups) per window, by model
REFERENCE_N_W = {"kws01": (70, 10), "ic01": (20, 5), "vww01": (20, 5), "ad01": (1500, 10)}
MIN_WINDOW_S = 10.0
MIN_INFERENCES = 10


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
    transports = ("serial",)

    def run(self, ctx: RunContext) -> None:
        rec = ctx.recorder
        opts = ctx.config.options
        mode = opts.get("mode", "performance")
        if mode not in ("performance", "accuracy", "energy"):
            raise HarnessError(f"tinyml runner: unknown mode {mode!r} (performance, accuracy, energy)")
        transport = ctx.transport
        spec = ctx.profile.transport
        transcript: list[str] = []
        rec.raw["serial"] = transcript  # shared list: the record keeps whatever was exchanged
        details = rec.runtime.details
        details["mode"] = mode
        rec.stage = "fit"
        if opts.get("fit_check", True):
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
                        relay=bool(opts.get("relay", False)))
        try:
            rec.stage = "handshake"
            dut.drain_boot(float(opts.get("boot_wait_s", 1.0)))
            dut.handshake_done = True
            self._identify(ctx, dut)
            rec.stage = "run"
            if mode == "performance":
                self._performance(ctx, dut)
            elif mode == "accuracy":
                self._accuracy(ctx, dut)
            else:
                from harness.mcu.energy_mode import run_energy

                run_energy(self, ctx, dut)
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

    def window_plan(self, ctx: RunContext) -> tuple[int, int | None, int, bool]:
        """(windows, N or None to calibrate, W, relaxed)."""
        opts = ctx.config.options
        windows = int(opts.get("windows", 5))
        relaxed = bool(opts.get("relaxed", opts.get("relaxed_windows", False)))
        _, ref_w = REFERENCE_N_W.get(model_key(ctx) or "", (10, 1))
        n = opts.get("inferences")
        # a relaxed (quick) run defaults to one warmup and one timed inference per window
        w = int(opts.get("warmups", min(ref_w, 1) if relaxed else ref_w))
        if windows < 1 or (n is not None and int(n) < 1) or w < 0:
            raise HarnessError("tinyml runner: windows and inferences must be ≥ 1, warmups ≥ 0")
        if n is None and relaxed:
            n = 1
        return windows, (int(n) if n is not None else None), w, relaxed

    def infer_timeout(self, ctx: RunContext, n: int, w: int, per_inference_s: float | None) -> float:
        base = ctx.profile.transport.infer_timeout_s
        if per_inference_s is None:
            return base
        return base + 3.0 * per_inference_s * (n + w)

    def _performance(self, ctx: RunContext, dut: DutClient) -> None:
        rec = ctx.recorder
        details = rec.runtime.details
        min_s = float(ctx.config.options.get("min_window_s", MIN_WINDOW_S))
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
            reply = dut.infer(n_, w_, expect_laps=True, timeout_s=self.infer_timeout(ctx, n_, w_, per_inf))
            row = self._record_window(ctx, reply, clock, index, phase, emulated_ns)
            per_inf = row["elapsed_s"] / n_ if n_ else per_inf
            ctx.progress("window", {"n": index, "phase": phase, "elapsed_s": row["elapsed_s"],
                                    "median_s": row["latency_s"]})
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
                scaled = max(MIN_INFERENCES, math.ceil(trial * 1.1 * min_s / max(last["elapsed_s"], 1e-6)))
                if last["elapsed_s"] >= min_s and trial >= MIN_INFERENCES:
                    n = trial
                elif calibration >= 4:
                    n = scaled
                trial = scaled
        for i in range(windows):
            rows.append(window(calibration + i, "steady", n, w))
        rec.stop_reason = f"tinyml: {windows} windows of {n} inferences" + (" (relaxed rule)" if relaxed else "")
        self._score(ctx, rows, relaxed, min_s)

    def _record_window(self, ctx: RunContext, reply: InferReply, clock: DeviceClock, index: int, phase: str,
                       emulated_ns: int | None) -> dict[str, Any]:
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
        row = {"window": index, "phase": phase, "inferences": n, "warmups": reply.warmups,
               "lap_us": list(reply.laps_us), "elapsed_s": elapsed_us / 1e6, "latency_s": latency_ns / 1e9,
               "throughput_per_s": n / (elapsed_us / 1e6) if elapsed_us else None, "results": reply.results}
        if emulated_ns:
            row["instructions"] = elapsed_us * 1000 // emulated_ns
        ctx.recorder.runtime.details.setdefault("windows", []).append(row)
        return row

    def _score(self, ctx: RunContext, rows: list[dict[str, Any]], relaxed: bool, min_s: float) -> None:
        rec = ctx.recorder
        invalid = [r for r in rows if r["elapsed_s"] < min_s or r["inferences"] < MIN_INFERENCES]
        throughputs = [r["throughput_per_s"] for r in rows if r["throughput_per_s"]]
        median = statistics.median(throughputs) if throughputs else None
        rule = "relaxed" if relaxed else f"MLPerf Tiny: each window >= {min_s:g} s and >= {MIN_INFERENCES} inferences"
        rec.runtime.details["mlperf_tiny"] = {
            "median_throughput_per_s": median,
            "latency_s": 1.0 / median if median else None,
            "windows": len(rows),
            "window_rule": rule,
            "valid": not relaxed and not invalid,
        }
        if relaxed:
            rec.notes.append("window rule relaxed (--relaxed): windows may be shorter than MLPerf Tiny's "
                             "10 s / 10 inferences, so this is not a valid MLPerf Tiny score")
        for r in invalid if not relaxed else []:
            rec.warnings.append(f"window {r['window']}: {r['elapsed_s']:.2f} s, {r['inferences']} inferences — "
                                "below the MLPerf Tiny rule: result invalid")

    def _accuracy(self, ctx: RunContext, dut: DutClient) -> None:
        from harness.mcu.reference import compare_outputs, host_outputs

        rec = ctx.recorder
        count = int(ctx.config.options.get("samples", 5))
        _, tout, samples = self.inputs(ctx, count)
        clock = DeviceClock()
        device_out: list[list[float]] = []
        for i, x in enumerate(samples):
            rec.stage = "load"
            dut.load(x.tobytes())
            rec.stage = "run"
            reply = dut.infer(1, 0, expect_laps=False, timeout_s=ctx.profile.transport.infer_timeout_s)
            if reply.results is None:
                raise HarnessError(f"accuracy: the device printed no m-results for input {i}")
            device_out.append(reply.results)
            if reply.elapsed_us is not None:
                self._record_window(ctx, reply, clock, i, "steady", None)
        rec.stage = "compare"
        reference = host_outputs(ctx.model_path, samples)
        report = compare_outputs(device_out, reference, tout)
        rec.runtime.details["accuracy"] = report
        rec.stop_reason = f"tinyml accuracy: {len(samples)} inputs"
        if report["within_tolerance"] < report["outputs"]:
            rec.warnings.append(
                f"accuracy: {report['outputs'] - report['within_tolerance']} of {report['outputs']} device outputs "
                f"differ from LiteRT by more than one quantization step (max |diff| {report['max_abs_diff']:.4g})")
