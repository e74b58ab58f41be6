"""Saved `trtexec` logs (TensorRT 7 to 10): the ``trtexec`` ingest format.

Parsed by `harness.logs.trtexec` and recorded as the trtexec runner records a live run
(`harness.runners.trtexec_record.record_trtexec`): a ``trtexec`` result with every metric
kept apart (host latency, end-to-end, enqueue, H2D, GPU compute, D2H), the layer profile as
op rows, engine load times as cold phases. ``--noDataTransfers`` zeros are "not measured",
TensorRT 7's ``throughput: 0 qps`` is derived from the walltime (the result says so).

A log names its exports on its command line: when ``--exportTimes=F`` / ``--exportProfile=F``
is found beside the log (F as given relative to the log's folder, else F's file name
there), its per-query times become samples (on trtexec's own time origin: a saved log has
no device clock) and its layers the op rows; an export the log names but that is not there
is noted. The options the command line states (precision, DLA core, …) are recorded with
the names the runner's options have, so ingested and live runs share benchmark keys.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError, RuntimeFailure, error_from_device_text
from harness.ingest.base import IngestedRun, IngestFormat, read_log, tool_recorder
from harness.logs import trtexec
from harness.logs.trtexec_json import parse_profile_file, parse_times_file
from harness.runners.trtexec_record import TrtEngine, record_trtexec
from harness.store.record import StopRule
from harness.store.recorder import Recorder

#: command-line flag -> the trtexec runner's option of the same meaning
_OPTION_FLAGS = {"useDLACore": "dla_core", "allowGPUFallback": "allow_gpu_fallback", "shapes": "shapes",
                 "noDataTransfers": "no_data_transfers", "useCudaGraph": "use_cuda_graph",
                 "useSpinWait": "use_spin_wait"}
_PRECISIONS = {("fp16",): "fp16", ("int8",): "int8", ("fp16", "int8"): "fp16+int8", ("best",): "best"}


def _export(log: trtexec.TrtexecLog, source: Path, flag: str, rec: Recorder, read):
    name = log.flags.get(flag)
    if not isinstance(name, str) or not name:
        return None
    for candidate in (source.parent / name, source.parent / Path(name).name):
        if candidate.is_file():
            try:
                return read(candidate)
            except HarnessError as e:
                rec.warnings.append(f"--{flag} file {candidate}: {e}")
                return None
    rec.notes.append(f"the log names --{flag}={name}, which is not beside it: not read")
    return None


def options_of(log: trtexec.TrtexecLog) -> dict:
    """The trtexec runner's options the command line states."""
    flags = log.flags
    out: dict = {}
    chosen = tuple(f for f in ("fp16", "int8", "best") if flags.get(f) is True)
    if chosen in _PRECISIONS:
        out["precision"] = _PRECISIONS[chosen]
    for flag, option in _OPTION_FLAGS.items():
        value = flags.get(flag)
        if value is True or (isinstance(value, str) and value):
            out[option] = int(value) if option == "dla_core" and str(value).isdigit() else value
    pool = flags.get("memPoolSize") or flags.get("workspace")
    if isinstance(pool, str) and pool.removeprefix("workspace:").rstrip("MiB").isdigit():
        out["workspace_mib"] = int(pool.removeprefix("workspace:").rstrip("MiB"))
    return out


class TrtexecLogFormat(IngestFormat):
    name = "trtexec"
    description = "a saved trtexec log (TensorRT 7 to 10), with its --exportTimes/--exportProfile files when beside it"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        log = read_log(trtexec.parse, text, source)
        source = Path(source)
        rec = tool_recorder("trtexec", "TensorRT trtexec", text)
        times = _export(log, source, "exportTimes", rec,
                        lambda p: parse_times_file(p, log.warmup_queries, log.queries))
        profile = _export(log, source, "exportProfile", rec, parse_profile_file)
        flags = log.flags
        engine_file = flags.get("loadEngine") or flags.get("saveEngine")
        engine = TrtEngine(source="log", path=engine_file if isinstance(engine_file, str) else None,
                           build_s=log.engine_build_s, size_bytes=log.engine_size_bytes,
                           load_s=(log.engine_load_s or 0) + (log.engine_deserialize_s or 0) or None)
        clock = {"origin": "trtexec's own (a saved log): start times are offsets from its inference start"}
        record_trtexec(rec, log, times, profile, engine=engine, clock=clock if times is not None else None)
        model = flags.get("onnx") or engine_file
        failure, failure_class = None, RuntimeFailure
        if log.status == "failed" or not log.has_figures:
            why = log.tool_errors.first[-1] if log.tool_errors.first else "; ".join(log.warnings) or "no figures"
            failure = f"trtexec {'failed' if log.status == 'failed' else 'printed no figures'}: {why}"
            failure_class = type(error_from_device_text("\n".join(log.tool_errors.first), "", RuntimeFailure))
        iterations = log.options.get("Iterations", "")
        count = log.queries or (int(iterations) if iterations.isdigit() and int(iterations) > 0 else 1)
        return [IngestedRun(
            recorder=rec,
            runtime="trtexec",
            stop=StopRule(mode="fixed", count=count),
            model_name=model if isinstance(model, str) else None,
            model_format="onnx" if isinstance(flags.get("onnx"), str) else "tensorrt" if engine_file else "unknown",
            model_size_bytes=None,
            failure=failure,
            failure_class=failure_class,
            options=options_of(log),
            json_extra={k: v for k, v in (("tensorrt_version", log.tensorrt_version),
                                          ("throughput_qps", log.throughput_qps),
                                          ("not_measured", log.not_measured)) if v},
        )]
