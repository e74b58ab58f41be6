"""MLPerf Tiny host-runner files → typed figures in SI units: ``results.txt`` and ``log.txt``.

`parse(text_or_lines, source)` / `parse_file(path)` read either file (and the v1.3
Python runner's, whose log repeats the results) into one `TinyRun`:

- performance windows (``Performance results for window N[:]``, ``# Inferences``,
  ``Runtime … sec.``, ``Throughput … inf./sec.``, ``Runtime requirements have been
  met.``, the v1.3 ``m-results : [...]``) and ``Median throughput is …``;
- energy windows, EnergyRunner 3 (``Energy data for window N at time T for S sec.:``,
  ``Energy … uJ``, ``Power … uW``, ``Energy/Inf. … uJ/inf.``) and the v1.3 Power Edition
  (``Energy data for trial N``, ``Elapsed time``, ``Inferences``, ``Power … mW.``,
  ``Total Energy … uJ``, ``Energy/Inf``), and ``Median energy cost is … uJ/inf.``;
- accuracy (``Top-1: 84.7%`` / ``Top 1% = 90.2``, ``AUC: 0.77`` / ``AUC = 0.995``) and
  the streaming wake-word figures (true/false positives, duty cycle, period);
- in a log: the runner's configuration (``m-bm-cfg-…``), the device's identity, and one
  `TinyWindow` per ``infer N W`` with the device's own lines (``dut: m-lap-us-…``, or
  relayed through an energy interface board as ``io: [dut]: …``), read with the live
  protocol code (`harness.mcu.protocol`): the same lap/results parsers, the same
  noise rule, the 32-bit timer wrap. The device's debug lines are counted as noise.

Line prefixes are optional: a runner time stamp (``00366.093`` / ``0725.185957``), a
component (``ulp-mlperf:``, ``ulp-ml:``, ``dut:``, ``io:``, ``parser:`` …). CRLF, a
missing last newline and single-window runs (no median line) are fine: the median is
then computed from the windows and the result says so. Units: s, inferences/s, J, W,
accuracy as a fraction. A text with no window, median, accuracy figure or runner/device
line is refused, naming what is missing.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from harness.logs.text import NUMBER, Kept, LogFormatError, feed_lines, first_line_hint, number, open_lines
from harness.mcu.protocol import DeviceProtocolError, InferReply, infer_count, parse_lap, parse_results, protocol_line

_PREFIX = re.compile(r"^\s*(?:\d{4,5}\.\d{3,6} )?(?:(ulp-[\w-]+|session|parser|sequencer|dut|io|emon|echo): )?")
_PERF = re.compile(r"^Performance results for window (\d+):?$")
_INFERENCES = re.compile(r"^# Inferences\s*:\s*(\d+)$")
_RUNTIME = re.compile(rf"^Runtime\s*:\s*({NUMBER}) sec\.?$")
_THROUGHPUT = re.compile(rf"^Throughput\s*:\s*({NUMBER}) inf\./sec\.?$")
_MET = re.compile(r"^Runtime requirements have (not )?been met\.?$")
_RESULTS = re.compile(r"^m-results\s*:\s*\[(.*)\]$")
_MEDIAN_T = re.compile(rf"^Median throughput is\s+({NUMBER}) inf\./sec\.?$")
_ENERGY_W = re.compile(rf"^Energy data for (window|trial) (\d+)(?: at time ({NUMBER}) for ({NUMBER}) sec\.)?:?$")
_ENERGY_KV = re.compile(rf"^(Energy|Power|Energy/Inf\.?|Total Energy|Elapsed time|Inferences)\s*:\s*({NUMBER})"
                        r"\s*(uJ/inf|uJ|uW|mW|W|J)?\.?$")
_MEDIAN_E = re.compile(rf"^Median energy cost is\s+({NUMBER}) uJ/inf\.?$")
_TOP1 = re.compile(rf"^Top(?:-1:| 1% =)\s*({NUMBER})%?$")
_AUC = re.compile(rf"^AUC(?::| =)\s*({NUMBER})$")
_STREAM_ACC = re.compile(r"^Accuracy: (\d+) True positives, (\d+) False negatives, (\d+) False positives$")
_STREAM_KV = re.compile(rf"^(Average duty cycle|Average period|Estimated throughput):\s*({NUMBER})\s*(s|inf\./sec\.)?$")
# the runner's own lines (EnergyRunner 3 and the v1.3 Python runner)
_RUN_NAME = re.compile(r"^m-bmark-run-name\[(.*?)\]-code\[(.*?)\]$")
_VERSION = re.compile(r"^m-version\[(.*?)\]$")
_CFG = re.compile(r"^m-bm-cfg-name\[.*?\]-key\[(.*?)\]-val\[(.*?)\]$")
_COMMAND = re.compile(r'^Command "(?:io )?(?:dut )?(infer \d+(?: \d+)?|bloadp? dut "[^"]*"|bloadp "[^"]*")"$')
_NEW_RUNNER = re.compile(r"^Running inference with (\d+)/(\d+) \(warmup/measured\) iterations")
_RETRIEVED = re.compile(r"^Device (name|profile|model) retrieved: (.*)$")
_LOADING = re.compile(r"^Loading file (\S+) segment \d+$")
_INFO = re.compile(
    r"^(-{5,}|Power Edition Output|Cannot compute accuracy metrics|done$|Load complete|Logging initialized|"
    r"Initializing SerialDevice|SerialDevice (entering|exiting)|Retrieving name from DUT|Session logged in)")
_PROFILE = re.compile(r"^m-profile-\[(.*)\]$")
_MODEL = re.compile(r"^m-model-\[(.*)\]$")


class TinyWindow(BaseModel):
    """One performance window (results.txt), or one ``infer N W`` of a log."""

    index: int
    inferences: int | None = None
    warmups: int | None = None
    runtime_s: float | None = None
    throughput_per_s: float | None = None
    requirements_met: bool | None = None
    #: the device's two raw 32-bit µs stamps, and their difference (wrap handled) in s
    laps_us: list[int] = Field(default_factory=list)
    elapsed_s: float | None = None
    results: list[float] | None = None
    input_file: str | None = None


class TinyEnergyWindow(BaseModel):
    index: int
    at_s: float | None = None
    duration_s: float | None = None
    inferences: int | None = None
    energy_j: float | None = None
    power_w: float | None = None
    energy_per_inference_j: float | None = None


class TinyRun(BaseModel):
    source: str = "<text>"
    #: ``results`` (scores only) or ``log`` (the session, with the device's lines)
    kind: Literal["results", "log"] = "results"
    mode: Literal["performance", "energy", "accuracy", "streaming"] | None = None
    benchmark: str | None = None  # ulp-mlperf, ulp-ml
    run_name: str | None = None
    runner_version: str | None = None
    config: dict[str, str] = Field(default_factory=dict)
    device: dict[str, str] = Field(default_factory=dict)
    windows: list[TinyWindow] = Field(default_factory=list)
    energy_windows: list[TinyEnergyWindow] = Field(default_factory=list)
    #: as printed by the runner
    median_throughput_per_s: float | None = None
    median_energy_per_inference_j: float | None = None
    #: from the windows (the score when the file prints no median: single-window runs)
    computed_median_throughput_per_s: float | None = None
    computed_median_energy_per_inference_j: float | None = None
    top1: float | None = None
    auc: float | None = None
    streaming: dict[str, float] = Field(default_factory=dict)
    device_lines: int = 0
    runner_lines: int = 0
    device_noise: Kept = Field(default_factory=Kept)
    warnings: list[str] = Field(default_factory=list)
    unrecognised: Kept = Field(default_factory=Kept)
    lines: int = 0

    @property
    def latency_s(self) -> float | None:
        """MLPerf Tiny's latency: 1 / median throughput."""
        m = self.median_throughput_per_s or self.computed_median_throughput_per_s
        return 1.0 / m if m else None


class _Parser:
    def __init__(self, source: str):
        self.run = TinyRun(source=source)
        self.windows: dict[int, TinyWindow] = {}
        self.energy: dict[int, TinyEnergyWindow] = {}
        self.block: TinyWindow | TinyEnergyWindow | None = None
        self.infer: dict | None = None  # the `infer` being answered, in a log
        self.pending_input: str | None = None
        self.pending_plan: tuple[int, int] | None = None  # (W, N) from 'Running inference with W/N'
        self.log_windows = 0
        self.log_device_windows: list[TinyWindow] = []

    def feed(self, n: int, raw: str) -> None:
        m = _PREFIX.match(raw)
        component = m.group(1)
        s = raw[m.end():].strip()
        if not s:
            return
        if component and component.startswith("ulp-"):
            self.run.benchmark = self.run.benchmark or component
        if component in ("dut", "io"):
            line = protocol_line(s, relay=s.startswith("[dut]: "))
            if line is not None:
                self.device_line(n, line)
            elif component == "dut" or s.startswith("[dut]: "):
                self.run.device_noise.add(s, n)
            else:
                self.run.runner_lines += 1  # the interface board's own lines
            return
        if component in ("session", "parser", "sequencer", "emon", "echo"):
            self.runner_line(s)
            return
        if not self.score_line(n, s):
            if _INFO.match(s) or self.new_runner_line(s):
                return
            self.run.unrecognised.add(s, n)

    # -- results --------------------------------------------------------------------------

    def score_line(self, n: int, s: str) -> bool:
        run = self.run
        if m := _PERF.match(s):
            i = int(m.group(1))
            self.block = self.windows.setdefault(i, TinyWindow(index=i))
            if self.pending_plan and self.block.inferences is None:
                self.block.warmups, self.block.inferences = self.pending_plan
            if self.pending_input and self.block.input_file is None:
                self.block.input_file = self.pending_input
        elif m := _ENERGY_W.match(s):
            i = int(m.group(2))
            w = self.energy.setdefault(i, TinyEnergyWindow(index=i))
            if m.group(3):
                w.at_s, w.duration_s = number(m.group(3)), number(m.group(4))
            self.block = w
        elif isinstance(self.block, TinyWindow) and (m := _INFERENCES.match(s)):
            self.block.inferences = int(m.group(1))
        elif isinstance(self.block, TinyWindow) and (m := _RUNTIME.match(s)):
            self.block.runtime_s = number(m.group(1))
        elif isinstance(self.block, TinyWindow) and (m := _THROUGHPUT.match(s)):
            self.block.throughput_per_s = number(m.group(1))
        elif isinstance(self.block, TinyWindow) and (m := _MET.match(s)):
            self.block.requirements_met = m.group(1) is None
        elif isinstance(self.block, TinyWindow) and (m := _RESULTS.match(s)):
            self.block.results = self.results(f"m-results-[{m.group(1)}]", n)
        elif isinstance(self.block, TinyEnergyWindow) and (m := _ENERGY_KV.match(s)):
            self.energy_value(self.block, m.group(1), number(m.group(2)), m.group(3))
        elif m := _MEDIAN_T.match(s):
            run.median_throughput_per_s = number(m.group(1))
        elif m := _MEDIAN_E.match(s):
            run.median_energy_per_inference_j = number(m.group(1)) * 1e-6
        elif m := _TOP1.match(s):
            run.top1 = number(m.group(1)) / 100
        elif m := _AUC.match(s):
            run.auc = number(m.group(1))
        elif m := _STREAM_ACC.match(s):
            run.streaming.update(true_positives=int(m.group(1)), false_negatives=int(m.group(2)),
                                 false_positives=int(m.group(3)))
        elif m := _STREAM_KV.match(s):
            key = {"Average duty cycle": "duty_cycle", "Average period": "period_s",
                   "Estimated throughput": "estimated_throughput_per_s"}[m.group(1)]
            run.streaming[key] = number(m.group(2))
        else:
            return False
        return True

    @staticmethod
    def energy_value(w: TinyEnergyWindow, key: str, value: float, unit: str | None) -> None:
        scale = {"uJ": 1e-6, "uJ/inf": 1e-6, "uW": 1e-6, "mW": 1e-3, "W": 1.0, "J": 1.0, None: 1.0}[unit]
        key = key.rstrip(".")
        if key in ("Energy", "Total Energy"):
            w.energy_j = value * scale
        elif key == "Power":
            w.power_w = value * scale
        elif key == "Energy/Inf":
            w.energy_per_inference_j = value * scale
        elif key == "Elapsed time":
            w.duration_s = value
        else:
            w.inferences = int(value)

    def results(self, line: str, n: int) -> list[float] | None:
        try:
            return parse_results(line)
        except DeviceProtocolError as e:
            self.run.warnings.append(f"line {n}: {e}")
            return None

    # -- a log: the runner's lines and the device's ---------------------------------------

    def runner_line(self, s: str) -> None:
        run = self.run
        run.runner_lines += 1
        if m := _RUN_NAME.match(s):
            run.run_name, run.benchmark = m.group(1), m.group(2)
        elif m := _VERSION.match(s):
            run.runner_version = m.group(1)
        elif m := _CFG.match(s):
            run.config[m.group(1)] = m.group(2)
        elif m := _COMMAND.match(s):
            cmd = m.group(1)
            if cmd.startswith("infer"):
                words = cmd.split()
                self.pending_plan = (int(words[2]) if len(words) > 2 else 10, int(words[1]))
            else:
                self.pending_input = cmd.split('"')[1].replace("\\", "/").rsplit("/", 1)[-1]

    def new_runner_line(self, s: str) -> bool:
        if m := _NEW_RUNNER.match(s):
            self.pending_plan = (int(m.group(1)), int(m.group(2)))
        elif m := _RETRIEVED.match(s):
            self.run.device[m.group(1)] = m.group(2).strip()
        elif m := _LOADING.match(s):
            self.pending_input = m.group(1)
        else:
            return False
        self.run.runner_lines += 1
        return True

    def device_line(self, n: int, line: str) -> None:
        run = self.run
        run.device_lines += 1
        count = infer_count(line)
        if count and count[0] == "warmup-start":
            self.infer = {"warmups": count[1], "laps": [], "results": None, "n": None}
        elif count:
            self.infer = self.infer or {"warmups": None, "laps": [], "results": None}
            self.infer["n"] = count[1]
        elif line.startswith("m-lap-us") and self.infer is not None:
            try:
                self.infer["laps"].append(parse_lap(line))
            except DeviceProtocolError as e:
                run.warnings.append(f"line {n}: {e}")
        elif line == "m-infer-done" and self.infer is not None:
            self.infer["done"] = True
        elif line.startswith("m-results") and self.infer is not None and self.infer.get("done"):
            self.infer["results"] = self.results(line, n)
            self.close_infer()
        elif m := _PROFILE.match(line):
            run.device["profile"] = m.group(1)
        elif m := _MODEL.match(line):
            run.device["model"] = m.group(1)
        elif line.startswith("m-timestamp-mode-"):
            run.device["timestamp_mode"] = line.removeprefix("m-timestamp-mode-")
        elif line.startswith("e-"):
            run.warnings.append(f"line {n}: the device reported an error: {line}")

    def close_infer(self) -> None:
        x, self.infer = self.infer, None
        if not x or x.get("n") is None:
            return
        self.log_windows += 1
        reply = InferReply(iterations=x["n"], warmups=x["warmups"] or 0, laps_us=x["laps"], results=x["results"])
        elapsed = reply.elapsed_us
        w = TinyWindow(index=self.log_windows, inferences=x["n"], warmups=x["warmups"], laps_us=x["laps"],
                       elapsed_s=elapsed / 1e6 if elapsed is not None else None, results=x["results"],
                       input_file=self.pending_input)
        if elapsed:
            w.throughput_per_s = x["n"] / (elapsed / 1e6)
        elif elapsed == 0:
            self.run.warnings.append(f"window {w.index}: both timestamps read {x['laps'][0]} µs: a window of "
                                     "zero length is invalid")
        self.log_device_windows.append(w)

    # -- the end ----------------------------------------------------------------------------

    def finish(self) -> TinyRun:
        run = self.run
        if self.infer and self.infer.get("done"):
            self.close_infer()  # the last window printed no results line
        run.windows = [self.windows[i] for i in sorted(self.windows)] or self.log_device_windows
        run.energy_windows = [self.energy[i] for i in sorted(self.energy)]
        if self.log_device_windows and self.windows:
            run.warnings.append("the log holds both result blocks and device windows; the result blocks are kept")
        if run.device_lines or run.runner_lines:
            run.kind = "log"
        run.mode = ("energy" if run.energy_windows or run.benchmark == "ulp-ml" or run.median_energy_per_inference_j
                    else "streaming" if run.streaming else "accuracy" if run.top1 is not None or run.auc is not None
                    else "performance" if run.windows or run.median_throughput_per_s is not None else None)
        tps = [w.throughput_per_s for w in run.windows if w.throughput_per_s]
        if tps:
            run.computed_median_throughput_per_s = statistics.median(tps)
        eps = [w.energy_per_inference_j for w in run.energy_windows if w.energy_per_inference_j is not None]
        if eps:
            run.computed_median_energy_per_inference_j = statistics.median(eps)
        self.check_median("throughput", run.median_throughput_per_s, run.computed_median_throughput_per_s, tps)
        self.check_median("energy per inference", run.median_energy_per_inference_j,
                          run.computed_median_energy_per_inference_j, eps)
        return run

    def check_median(self, what: str, printed: float | None, computed: float | None, values: list[float]) -> None:
        run = self.run
        if printed is None and computed is not None and run.kind == "results":
            run.warnings.append(f"no median {what} line: the median of the {len(values)} window(s) is used")
        elif printed is not None and computed is not None:
            step = 10 ** -3 * max(1.0, abs(printed))  # the runner prints 3 decimals
            if abs(printed - computed) > step and abs(printed - computed) > 1e-3 * abs(printed):
                run.warnings.append(f"printed median {what} {printed:g} differs from the windows' median {computed:g}")


def parse(text_or_lines: str | Iterable[str], source: str = "<text>") -> TinyRun:
    """Parse an MLPerf Tiny results.txt or log.txt. See the module docstring."""
    p = _Parser(source)
    p.run.lines = feed_lines(text_or_lines, p.feed, source)
    run = p.finish()
    if run.mode is None and not run.device_lines and not run.runner_lines:
        raise LogFormatError(
            f"{source}: not an MLPerf Tiny results.txt or log.txt: no performance or energy window, no median "
            "throughput or energy line, no Top-1/AUC accuracy, and no runner or device line"
            + first_line_hint(run.unrecognised.first))
    return run


def parse_file(path: Path) -> TinyRun:
    return parse(open_lines(path), str(path))


def combine(results: TinyRun, log: TinyRun) -> TinyRun:
    """A results.txt with its session's log.txt: the log's device windows (laps, predictions,
    input files) attached to the scored windows in order; a different window count is a warning."""
    out = results.model_copy(deep=True)
    out.config, out.device = dict(log.config), dict(log.device)
    out.run_name = out.run_name or log.run_name
    out.runner_version = out.runner_version or log.runner_version
    device_windows = [w for w in log.windows if w.laps_us or w.results is not None]
    if out.windows and device_windows and len(device_windows) != len(out.windows):
        out.warnings.append(f"results.txt scores {len(out.windows)} windows, log.txt ran {len(device_windows)}")
    for scored, ran in zip(out.windows, device_windows):
        scored.laps_us, scored.elapsed_s = ran.laps_us, ran.elapsed_s
        scored.results = scored.results if scored.results is not None else ran.results
        scored.input_file = scored.input_file or ran.input_file
        scored.warmups = scored.warmups if scored.warmups is not None else ran.warmups
    out.warnings += [f"log.txt: {w}" for w in log.warnings]
    return out
