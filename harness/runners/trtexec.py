"""TensorRT's `trtexec` as a runner: ssh targets with TensorRT (Jetson), and local for testing.

A run, on the target:

1. **trtexec and TensorRT's version.** ``-o trtexec=PATH``, else ``trtexec`` on the PATH,
   else ``/usr/src/tensorrt/bin/trtexec`` (JetPack's place). The version comes from the
   tool's banner (``&&&& RUNNING TensorRT.trtexec [TensorRT v8502]``, TensorRT 8+), else
   ``dpkg-query`` (``libnvinfer*``, ``tensorrt``), else ``-o tensorrt_version=``; unknown
   is said in the record.
2. **The engine.** An ONNX model is built on the device (``--onnx --saveEngine``) into
   the target's engine cache, keyed by (ONNX sha256, TensorRT version, precision flags,
   DLA core and GPU fallback, workspace, shapes, extra build flags); a later run with the
   same key loads it instead (``TrtexecResult.engine.source``: ``built`` or ``cache``,
   with the build time either way). The engine is written to a temporary name and moved
   into place only when trtexec succeeded, so a killed build never leaves a half engine
   in the cache. A ``.engine``/``.plan`` model (`harness.formats.tensorrt`) is pushed and
   loaded as is (``prebuilt``); build options do not apply to it and are said to be ignored.
3. **The timed run** (``--loadEngine … --exportTimes``), under the run's affinity mask,
   through the launcher (`harness.runners.trtexec_launcher`, pushed with the model) that
   stamps trtexec's ``Starting inference`` line on the target's CLOCK_MONOTONIC: trtexec's
   exported query times are offsets from its inference start, so each query becomes a
   sample on the device clock (telemetry — tegrastats on a Jetson profile — and energy
   use the same clock). The stop rule is trtexec's own: at least ``--count`` queries
   (``--iterations``) and ``--time`` seconds (``--duration``), after ``-o warmup_s``.
4. **The layer profile** (``-o op_profile=N``, default 50; 0 turns it off): a separate
   ``--dumpProfile --exportProfile`` run of N iterations, so the profiler never slows the
   timed queries; its layers are the record's op rows.

Failures, classified (`harness.errors.error_from_device_text` reads trtexec's ``[E]``
lines): an op the ONNX parser cannot import (``UNSUPPORTED_NODE``, ``No importer
registered for op``) or a layer DLA cannot run with GPU fallback off → ``unsupported_op``
(permanent); an engine from another TensorRT version or GPU, or a file that is no engine →
``model_invalid``; **out of GPU memory → ``runtime_error``, permanent**: on a device
dedicated to the benchmark the memory an engine needs is a property of the model,
precision, workspace and device, so a retry on an equivalent device fails the same way
(the message says so and suggests a smaller workspace or batch); the target's free memory
before the run is in the record's conditions. A trtexec that overruns its deadline is a
``timeout`` (transient). The target needs Python 3.6+ for the launcher (JetPack has it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
import uuid
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from harness.errors import HarnessError, RuntimeFailure, TransportConfigError, error_from_device_text
from harness.logs import trtexec as trtexec_log
from harness.logs.text import LogFormatError
from harness.logs.trtexec_json import parse_profile, parse_times
from harness.runners.base import RunContext, Runner, RunnerOptions
from harness.runners.toolrun import ToolOutput, model_remote, push_files, run_tool
from harness.runners.trtexec_record import SAMPLE_METRICS, TrtEngine, TrtexecResult, add_layer_ops, record_trtexec
from harness.store.record import StopRule
from harness.transports.base import CommandTransport

LAUNCHER = Path(__file__).with_name("trtexec_launcher.py")
TAG = "@@harness-trtexec "
JETPACK_TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"], "fp16+int8": ["--fp16", "--int8"],
                   "best": ["--best"]}
#: flags the runner sets itself: not accepted in build_args / run_args
_MANAGED = {"onnx", "loadEngine", "saveEngine", "exportTimes", "exportProfile", "dumpProfile", "iterations",
            "duration", "warmUp", "useDLACore", "allowGPUFallback", "fp16", "int8", "best", "noDataTransfers",
            "shapes", "workspace", "memPoolSize", "useCudaGraph", "useSpinWait"}
_OOM = re.compile(r"out of memory|outofmemory|cudaErrorMemoryAllocation|could not be allocated", re.I)
_DLA_WARNING = re.compile(r"on DLA", re.I)
# Allowance for engine load, warmup and the tool's own overheads beyond the timed queries.
_START_ALLOWANCE_S = 300.0


class TrtexecOptions(RunnerOptions):
    trtexec: str | None = Field(None, description=f"trtexec's path on the target (default: on the PATH, else "
                                                  f"{JETPACK_TRTEXEC})")
    precision: Literal["fp32", "fp16", "int8", "fp16+int8", "best"] = Field(
        "fp32", description="precisions the build may use (--fp16, --int8, --best); int8 without calibration "
                            "data gives valid timings, not accuracy")
    dla_core: int | None = Field(None, ge=0, description="build for and run on this DLA core (--useDLACore)")
    allow_gpu_fallback: bool = Field(False, description="let layers DLA cannot run fall back to the GPU")
    workspace_mib: int | None = Field(None, gt=0, description="builder workspace (--memPoolSize=workspace:N, "
                                                              "--workspace=N before TensorRT 8.4)")
    shapes: str | None = Field(None, description="input shapes of a dynamic model, trtexec's --shapes spec")
    no_data_transfers: bool = Field(False, description="--noDataTransfers: H2D/D2H are then not measured")
    use_cuda_graph: bool = Field(False, description="--useCudaGraph")
    use_spin_wait: bool = Field(False, description="--useSpinWait (steadier timings, a busy CPU core)")
    sample_metric: Literal[SAMPLE_METRICS] = Field(  # type: ignore[valid-type]
        "latency", description="what a sample's latency is: host latency (H2D+compute+D2H), gpu_compute or "
                               "end_to_end")
    warmup_s: float = Field(0.2, ge=0, description="trtexec's --warmUp, in seconds")
    op_profile: int = Field(50, ge=0, description="iterations of the separate layer-profiling run (0: none)")
    build_args: list[str] = Field(default_factory=list, description="more build flags (--flag[=value]); part "
                                                                    "of the engine cache key")
    run_args: list[str] = Field(default_factory=list, description="more flags for the timed run")
    rebuild: bool = Field(False, description="build the engine even when the cache has it")
    tensorrt_version: str | None = Field(None, description="TensorRT's version when the target cannot tell")
    build_timeout_s: float = Field(3600.0, gt=0, description="kill an engine build after this many seconds")
    timeout_s: float | None = Field(None, gt=0, description="kill the timed run after this many seconds")

    @model_validator(mode="after")
    def _consistent(self):
        if self.dla_core is not None and self.precision == "fp32":
            raise ValueError("dla_core: DLA runs fp16 or int8 only: give -o precision=fp16 (or int8, best)")
        if self.allow_gpu_fallback and self.dla_core is None:
            raise ValueError("allow_gpu_fallback: only with dla_core (it lets DLA layers fall back to the GPU)")
        for name in ("build_args", "run_args"):
            for arg in getattr(self, name):
                flag = arg[2:].partition("=")[0] if arg.startswith("--") else None
                if flag is None:
                    raise ValueError(f"{name}: {arg!r} is not a --flag[=value] argument")
                if flag in _MANAGED:
                    raise ValueError(f"{name}: --{flag} is set by the runner (use its option instead)")
        return self


def find_trtexec(t: CommandTransport, opts: TrtexecOptions) -> str:
    if opts.trtexec:
        res = t.run(["sh", "-c", 'test -x "$1"', "sh", opts.trtexec], timeout=30)
        if not res.ok:
            raise TransportConfigError(f"-o trtexec={opts.trtexec}: no executable there on the target")
        return opts.trtexec
    res = t.run(["sh", "-c", f'command -v trtexec || {{ test -x {JETPACK_TRTEXEC} && echo {JETPACK_TRTEXEC}; }}'],
                timeout=30)
    found = res.stdout.strip().splitlines()
    if not res.ok or not found:
        raise TransportConfigError(f"trtexec not found on the target (not on the PATH, not {JETPACK_TRTEXEC}): "
                                   "install TensorRT or give -o trtexec=PATH")
    return found[0]


def tensorrt_version(t: CommandTransport, trtexec: str, opts: TrtexecOptions) -> tuple[str | None, str]:
    """(version, how it was found)."""
    if opts.tensorrt_version:
        return opts.tensorrt_version, "given (-o tensorrt_version)"
    res = t.run([trtexec, "--version"], timeout=120)  # an old trtexec refuses the flag after its banner
    for line in (res.stdout + "\n" + res.stderr).splitlines()[:20]:
        m = re.search(r"\[TensorRT v(\d+)\]", line)
        if m:
            return trtexec_log.decode_version(m.group(1)), "trtexec banner"
    res = t.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n", "tensorrt", "libnvinfer-bin", "libnvinfer10",
                 "libnvinfer8", "libnvinfer7"], timeout=60)
    version = dpkg_version(res.stdout)
    if version:
        return version, "dpkg-query"
    return None, "unknown: no version in trtexec's banner and no TensorRT package known to dpkg"


def dpkg_version(text: str) -> str | None:
    """TensorRT's version from ``dpkg-query -W -f='${Package} ${Version}\\n'`` lines (``libnvinfer8
    8.5.2-1+cuda11.4`` → 8.5.2)."""
    for line in text.splitlines():
        parts = line.split()
        m = re.match(r"(\d+\.\d+\.\d+)", parts[1]) if len(parts) == 2 else None
        if m:
            return m.group(1)
    return None


def _older_than(version: str | None, major: int, minor: int) -> bool:
    m = re.match(r"(\d+)\.(\d+)", version or "")
    return bool(m) and (int(m.group(1)), int(m.group(2))) < (major, minor)


def build_flags(opts: TrtexecOptions, version: str | None) -> list[str]:
    flags = list(PRECISION_FLAGS[opts.precision])
    if opts.dla_core is not None:
        flags.append(f"--useDLACore={opts.dla_core}")
        if opts.allow_gpu_fallback:
            flags.append("--allowGPUFallback")
    if opts.workspace_mib:
        flags.append(f"--workspace={opts.workspace_mib}" if _older_than(version, 8, 4)
                     else f"--memPoolSize=workspace:{opts.workspace_mib}")
    if opts.shapes:
        flags.append(f"--shapes={opts.shapes}")
    return flags + list(opts.build_args)


def run_flags(opts: TrtexecOptions) -> list[str]:
    flags = [f"--useDLACore={opts.dla_core}"] if opts.dla_core is not None else []
    if opts.shapes:
        flags.append(f"--shapes={opts.shapes}")
    flags += [f for f, on in (("--noDataTransfers", opts.no_data_transfers), ("--useCudaGraph", opts.use_cuda_graph),
                              ("--useSpinWait", opts.use_spin_wait)) if on]
    return flags + list(opts.run_args)


def engine_key(onnx_sha256: str, version: str | None, opts: TrtexecOptions) -> tuple[str, dict]:
    """(cache key, the fields it hashes): everything that changes the engine trtexec builds."""
    fields = {"onnx_sha256": onnx_sha256, "tensorrt_version": version or "unknown", "precision": opts.precision,
              "dla_core": opts.dla_core, "allow_gpu_fallback": opts.allow_gpu_fallback,
              "workspace_mib": opts.workspace_mib, "shapes": opts.shapes, "build_args": list(opts.build_args)}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return digest[:24], fields


def failure(log: trtexec_log.TrtexecLog | None, lines: list[str], returncode: int | None, what: str,
            opts: TrtexecOptions) -> HarnessError:
    """The typed error of a failed trtexec, from its [E] lines (see the module docstring)."""
    errors = [e.split(": ", 1)[-1] for e in (log.tool_errors.first if log else [])]
    tail = [ln for ln in lines if ln.strip() and not ln.startswith("&&&&")][-5:]
    why = (" | ".join(errors[-3:]) if errors else tail[-1].strip() if tail else "no output")[:400]
    message = f"trtexec {what} failed (exit status {returncode}): {why}"
    text = "\n".join(errors or tail)
    if opts.dla_core is not None and not opts.allow_gpu_fallback and log is not None:
        text += "\n" + "\n".join(w for w in log.tool_warnings.first if _DLA_WARNING.search(w))
    if _OOM.search(text):
        return RuntimeFailure(f"{message} — out of GPU memory: the engine needs more device memory than was free "
                              "(not transient: it would fail the same way on an equivalent device; try a smaller "
                              "workspace_mib, batch or shapes, or free memory on the target)")
    return error_from_device_text(text, message, default=RuntimeFailure)


def _parse(lines: list[str], source: str) -> trtexec_log.TrtexecLog | None:
    try:
        return trtexec_log.parse(lines, source)
    except LogFormatError:
        return None


class TrtexecRunner(Runner):
    name = "trtexec"
    runtimes = ("trtexec",)
    formats = ("onnx", "tensorrt")
    stop_modes = ("fixed",)  # trtexec's own rule: at least --iterations and at least --duration
    Options = TrtexecOptions
    description = ("TensorRT's trtexec: engine built on the device and cached, per-query samples (--exportTimes), "
                   "layer profile, DLA and precision options")

    def default_stop(self) -> StopRule:
        return StopRule(mode="fixed", count=10, time_s=3.0)  # trtexec's own defaults

    def run(self, ctx: RunContext) -> None:
        t, rec, opts = ctx.transport, ctx.recorder, ctx.options
        rec.runtime.name, rec.runtime.library = "trtexec", "TensorRT trtexec"
        rec.stage = "setup"
        trtexec = find_trtexec(t, opts)
        version, how = tensorrt_version(t, trtexec, opts)
        rec.runtime.version = version
        rec.runtime.details.update(trtexec=trtexec, tensorrt_version_from=how)
        if version is None:
            rec.warnings.append(f"TensorRT version {how}: the engine cache key says 'unknown' "
                                "(give -o tensorrt_version=X.Y.Z)")

        rec.stage = "push"
        launcher = t.path("trtexec", "trtexec_launcher.py")
        model_rem = model_remote(t, ctx.model.sha256, ctx.model_path)
        push_files(t, [(LAUNCHER, launcher), (ctx.model_path, model_rem)])
        if ctx.model.format == "tensorrt":
            ignored = [k for k in ("precision", "allow_gpu_fallback", "workspace_mib", "build_args", "rebuild")
                       if k in opts.model_fields_set]
            if ignored:
                rec.warnings.append(f"{', '.join(ignored)}: build options do not apply to a prebuilt engine "
                                    f"({ctx.model.name}): ignored")
            engine = TrtEngine(source="prebuilt", path=model_rem, size_bytes=ctx.model.size_bytes)
        else:
            engine = self._engine(ctx, trtexec, version, model_rem)
        if ctx.cancel.is_set():
            return
        self._timed_run(ctx, trtexec, launcher, engine)
        if opts.op_profile and not ctx.cancel.is_set():
            self._profile(ctx, trtexec, engine)

    # -- the engine ----------------------------------------------------------------------

    def _engine(self, ctx: RunContext, trtexec: str, version: str | None, model_rem: str) -> TrtEngine:
        t, rec, opts = ctx.transport, ctx.recorder, ctx.options
        key, fields = engine_key(ctx.model.sha256, version, opts)
        path = t.path("trtexec", "engines", f"{key}.engine")
        meta_path = path + ".json"
        cached = None
        if not opts.rebuild:
            res = t.run(["sh", "-c", 'test -s "$1" && cat "$2"', "sh", path, meta_path], timeout=30)
            try:
                cached = json.loads(res.stdout) if res.ok else None
            except ValueError:
                cached = None
        if cached is not None and cached.get("fields") == fields:
            rec.notes.append(f"engine loaded from the target's cache ({path}, built {cached.get('built_at')}): "
                             "the build was skipped")
            return TrtEngine(source="cache", path=path, key=key, key_fields=fields, build_s=cached.get("build_s"),
                             built_at=cached.get("built_at"), size_bytes=cached.get("size_bytes"))

        rec.stage = "build"
        tmp = f"{path}.partial-{uuid.uuid4().hex[:8]}"
        t.run(["mkdir", "-p", t.path("trtexec", "engines")], timeout=30).check("mkdir (engine cache)")
        argv = [trtexec, f"--onnx={model_rem}", f"--saveEngine={tmp}", *build_flags(opts, version),
                "--iterations=1", "--duration=0", "--warmUp=0"]
        rec.notes.append("trtexec build command: " + " ".join(argv))
        lines: list[str] = []
        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=opts.build_timeout_s, on_line=lines.append, cancel=ctx.cancel,
                     affinity_mask=ctx.config.affinity_mask, merge_stderr=True, what="trtexec build", output=out)
        finally:
            rec.add_raw("trtexec_build", lines)
        log = _parse(lines, "trtexec build")
        if out.returncode != 0 or out.cancelled:
            t.run(["rm", "-f", tmp], timeout=30)
            if out.cancelled:
                return TrtEngine(source="built", path=None, key=key, key_fields=fields)
            raise failure(log, lines, out.returncode, "engine build", opts)
        size = t.run(["sh", "-c", 'wc -c < "$1"', "sh", tmp], timeout=30)
        if not size.ok or not size.stdout.strip().isdigit() or int(size.stdout.strip()) == 0:
            raise RuntimeFailure(f"trtexec reported success but wrote no engine ({tmp})")
        t.run(["mv", "-f", tmp, path], timeout=30).check("mv (engine into the cache)")
        meta = {"fields": fields, "build_s": log.engine_build_s if log else None, "size_bytes": int(size.stdout),
                "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "tensorrt_version": version}
        with tempfile.TemporaryDirectory() as d:
            local = Path(d) / "meta.json"
            local.write_text(json.dumps(meta, sort_keys=True))
            t.upload(local, meta_path)
        rec.notes.append(f"engine built in this run ({meta['build_s'] or '?'} s) and cached at {path}")
        return TrtEngine(source="built", path=path, key=key, key_fields=fields, build_s=meta["build_s"],
                         built_at=meta["built_at"], size_bytes=meta["size_bytes"])

    # -- the timed run -------------------------------------------------------------------

    def _timed_run(self, ctx: RunContext, trtexec: str, launcher: str, engine: TrtEngine) -> None:
        t, rec, opts, stop = ctx.transport, ctx.recorder, ctx.options, ctx.config.stop
        rec.stage = "start"
        run_dir = t.path("trtexec", "runs", uuid.uuid4().hex[:12])
        times_path = f"{run_dir}/times.json"
        t.run(["mkdir", "-p", run_dir], timeout=30).check("mkdir (run folder)")
        tool = [trtexec, f"--loadEngine={engine.path}", f"--iterations={int(stop.count or 1)}",
                f"--duration={float(stop.time_s or 0):g}", f"--warmUp={opts.warmup_s * 1e3:g}",
                f"--exportTimes={times_path}", *run_flags(opts)]
        argv = [t.agent_python(), launcher, *(["--pid-file", ctx.pid_file] if ctx.pid_file else []), "--", *tool]
        rec.notes.append("trtexec command: " + " ".join(tool))
        lines: list[str] = []
        events: dict[str, dict] = {}

        def on_line(line: str) -> None:
            if line.startswith(TAG):
                try:
                    ev = json.loads(line[len(TAG):])
                    events[ev.get("what") or ev["event"]] = ev
                except (ValueError, KeyError):
                    lines.append(line)
                return
            lines.append(line)
            if "Starting inference" in line:
                ctx.progress("trtexec", {"stage": "timing"})

        cap = max(float(stop.max_time_s), float(stop.time_s or 0))
        deadline = opts.timeout_s or (opts.warmup_s + 3 * cap + _START_ALLOWANCE_S)
        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=deadline, on_line=on_line, cancel=ctx.cancel,
                     affinity_mask=ctx.config.affinity_mask, cancel_grace_s=5.0, what="trtexec", output=out,
                     on_started=lambda: setattr(rec, "stage", "run"))
        finally:
            rec.add_raw("trtexec", lines)
            if out.stderr:
                rec.add_raw("trtexec_launcher_stderr", out.stderr.splitlines())
        if "exec" not in events and not out.cancelled:
            if out.returncode == 127:
                raise TransportConfigError(f"{t.agent_python()} not found on the target (the trtexec runner starts "
                                           "trtexec through a Python launcher): set defaults.python in the profile")
            raise RuntimeFailure(f"the trtexec launcher exited with status {out.returncode} before starting "
                                 f"trtexec: {out.stderr.strip()[-300:]}")
        log = _parse(lines, "trtexec")
        if out.cancelled:
            if log is not None:
                record_trtexec(rec, log, engine=engine, precision=self._precision(ctx, engine))
            return
        rec.stage = "parse"
        if log is None or out.returncode != 0 or log.status == "failed":
            rec.stage = "run"
            raise failure(log, lines, out.returncode, "run", opts)
        times = None
        try:
            text = t.read_file(times_path).decode("utf-8", "replace")
            rec.add_raw("trtexec_times", text.splitlines())
            times = parse_times(text, times_path, log.warmup_queries, log.queries)
        except (HarnessError, OSError) as e:
            rec.warnings.append(f"no per-query times: {e}: the record has trtexec's statistics only")
        anchor, clock = self._anchor(events, times)
        record_trtexec(rec, log, times, sample_metric=opts.sample_metric, anchor_ns=anchor, clock=clock,
                       engine=engine, precision=self._precision(ctx, engine))
        t.run(["rm", "-rf", run_dir], timeout=60)

    @staticmethod
    def _precision(ctx: RunContext, engine: TrtEngine) -> str:
        return ctx.options.precision if engine.source != "prebuilt" else "as built (a prebuilt engine)"

    @staticmethod
    def _anchor(events: dict[str, dict], times) -> tuple[int | None, dict]:
        """trtexec's time origin on the target's CLOCK_MONOTONIC, and how it was found."""
        start = events.get("inference_start", {}).get("t_ns")
        if start is None or times is None or not len(times):
            return None, {"origin": "trtexec's own (its 'Starting inference' line was not seen): start times are "
                                    "offsets from trtexec's inference start, not on the device clock"}
        clock = {"origin": "trtexec's inference start: its 'Starting inference' line, stamped on the target's "
                           "CLOCK_MONOTONIC by the launcher (trtexec takes its time origin right after printing it)",
                 "anchor_ns": int(start)}
        end = events.get("inference_end", {}).get("t_ns")
        ends = [e for e in (*(a + c + d for a, c, d in zip(times.start_s, times.gpu_compute_s, times.d2h_s)),
                            *(h + lat for h, lat in zip(times.h2d_start_s, times.latency_s))) if e == e]
        trace_end_s = max(ends, default=None)  # the last query's end (its D2H), from the origin
        if end is not None and trace_end_s is not None:
            slack = (int(end) - int(start)) / 1e9 - trace_end_s
            clock.update(inference_end_ns=int(end), slack_s=slack)  # last query's end → trtexec's next line
            if slack < 0:  # the start stamp came late (the launcher was not scheduled at once): the line
                start = int(end) - round(trace_end_s * 1e9)  # after the trace bounds the origin instead
                clock.update(anchor_ns=start, note="anchored on trtexec's first line after the trace (the "
                                                   "'Starting inference' stamp came late)")
        return int(start), clock

    # -- the layer profile ---------------------------------------------------------------

    def _profile(self, ctx: RunContext, trtexec: str, engine: TrtEngine) -> None:
        t, rec, opts = ctx.transport, ctx.recorder, ctx.options
        rec.stage = "profile"
        run_dir = t.path("trtexec", "runs", uuid.uuid4().hex[:12])
        prof_path = f"{run_dir}/profile.json"
        t.run(["mkdir", "-p", run_dir], timeout=30).check("mkdir (profile folder)")
        argv = [trtexec, f"--loadEngine={engine.path}", f"--iterations={opts.op_profile}", "--duration=0",
                "--warmUp=0", "--dumpProfile", f"--exportProfile={prof_path}", *run_flags(opts)]
        lines: list[str] = []
        out = ToolOutput()
        try:
            run_tool(t, argv, deadline_s=opts.timeout_s or _START_ALLOWANCE_S * 2, on_line=lines.append,
                     cancel=ctx.cancel, affinity_mask=ctx.config.affinity_mask, merge_stderr=True,
                     what="trtexec profile", output=out)
            text = t.read_file(prof_path).decode("utf-8", "replace") if out.returncode == 0 else ""
        except HarnessError as e:
            rec.warnings.append(f"layer profile: {e}")
            return
        finally:
            rec.add_raw("trtexec_profile_run", lines)
        if out.returncode != 0:
            rec.warnings.append(f"layer profile: trtexec exited with status {out.returncode} (see raw/)")
            return
        rec.add_raw("trtexec_profile", text.splitlines())
        try:
            profile = parse_profile(text, prof_path)
        except HarnessError as e:
            rec.warnings.append(f"layer profile: {e}")
            return
        add_layer_ops(rec, profile.layers, profile.iterations)
        result = rec.result(TrtexecResult)
        if result is not None:
            result.profile_iterations = profile.iterations
        t.run(["rm", "-rf", run_dir], timeout=60)
