"""ExecuTorch LLM runners' output (``llama_main``, ``text_llm_runner``, Voxtral …): the
``PyTorchObserver {json}`` line and the human ``stats.h`` block, as typed results in SI units.

The observer line defines a run. Its stamps are in units of 1/SCALING_FACTOR_UNITS_PER_SECOND
seconds (1000: milliseconds, so TTFT is quantised to 1 ms) on the device's wall clock:

- TTFT = first_token − inference_start (includes tokenisation, unlike llama.cpp's prompt eval);
- prefill = prompt_eval_end − inference_start; decode = inference_end − prompt_eval_end,
  the rate the runner prints as ``Generated N tokens … Rate``;
- model load = model_load_end − model_load_start (absent when the runner printed both as 0).

The stats block (tabs, spaces, with or without the ``I hh:mm:ss executorch:stats.h:NN]``
prefix, before or after the observer) and the ``RSS after …`` lines are attached to the run
whose token counts they match; the observer line may be glued after generated text. Other
lines are skipped and counted. A malformed observer line is refused with its line number.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field

from harness.logs.llama_bench import LlamaLogError, Skipped

_OBSERVER = re.compile(r"PyTorchObserver\s+(\{.*)$")
_F = r"(\d+(?:\.\d+)?)"
_STATS = {
    "counts": re.compile(r"Prompt Tokens:\s*(\d+)\s+Generated Tokens:\s*(\d+)"),
    "model_load_s": re.compile(rf"Model Load Time:\s*{_F}\s*\(seconds\)"),
    "inference": re.compile(rf"Total inference time:\s*{_F}\s*\(seconds\)\s*Rate:\s*{_F}"),
    "prefill": re.compile(rf"Prompt evaluation:\s*{_F}\s*\(seconds\)\s*Rate:\s*{_F}"),
    "decode": re.compile(rf"Generated\s+(\d+)\s+tokens:\s*{_F}\s*\(seconds\)\s*Rate:\s*{_F}"),
    "ttft_s": re.compile(rf"Time to first generated token:\s*{_F}\s*\(seconds\)"),
    "sampling": re.compile(rf"Sampling time over\s+(\d+)\s+tokens:\s*{_F}\s*\(seconds\)"),
}
_RSS = re.compile(rf"RSS after (loading model|prompt prefill|finishing text generation):\s*{_F}\s*MiB")
_RSS_KEYS = {"loading model": "after_load", "prompt prefill": "after_prefill",
             "finishing text generation": "after_generation"}
_REQUIRED = ("prompt_tokens", "generated_tokens", "inference_start_ms", "inference_end_ms", "prompt_eval_end_ms",
             "first_token_ms")


class ExecuTorchStats(BaseModel):
    """The runner's printed stats block (seconds, tokens/s), for cross-checking the observer."""

    model_config = ConfigDict(extra="forbid")

    line: int
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    model_load_s: float | None = None
    inference_s: float | None = None
    inference_tokens_per_s: float | None = None
    prefill_s: float | None = None
    prefill_tokens_per_s: float | None = None
    decode_s: float | None = None
    decode_tokens_per_s: float | None = None
    ttft_s: float | None = None
    sampling_s: float | None = None
    sampling_tokens: int | None = None


class ExecuTorchRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: int  # the observer line
    prompt_tokens: int
    generated_tokens: int
    ttft_s: float
    prefill_s: float
    decode_s: float
    inference_s: float
    model_load_s: float | None = None
    sampling_s: float | None = None
    resolution_s: float  # 1 / SCALING_FACTOR_UNITS_PER_SECOND
    inference_start_epoch_s: float | None = None
    rss_bytes: dict[str, int] = Field(default_factory=dict, description="after_load/after_prefill/after_generation")
    stats: ExecuTorchStats | None = None
    observer: dict = Field(default_factory=dict, description="the observer JSON as printed")

    @property
    def prefill_tokens_per_s(self) -> float | None:
        return self.prompt_tokens / self.prefill_s if self.prefill_s > 0 else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.generated_tokens / self.decode_s if self.decode_s > 0 else None

    @property
    def peak_rss_bytes(self) -> int | None:
        return max(self.rss_bytes.values()) if self.rss_bytes else None


class ExecuTorchLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    runs: list[ExecuTorchRun]
    skipped: Skipped = Field(default_factory=Skipped)


def _observer_run(payload: str, line: int, source: str) -> ExecuTorchRun:
    try:
        obs, _ = json.JSONDecoder().raw_decode(payload)
    except json.JSONDecodeError as e:
        raise LlamaLogError(source, f"PyTorchObserver JSON does not parse ({e.msg}; cut or corrupt?)", line) from None
    missing = [k for k in _REQUIRED if not isinstance(obs.get(k), (int, float))]
    if missing:
        raise LlamaLogError(source, f"PyTorchObserver lacks {', '.join(missing)}", line)
    scale = float(obs.get("SCALING_FACTOR_UNITS_PER_SECOND") or 1000)
    start, end = obs["inference_start_ms"], obs["inference_end_ms"]
    load0, load1 = obs.get("model_load_start_ms"), obs.get("model_load_end_ms")
    load = (load1 - load0) / scale if isinstance(load0, (int, float)) and isinstance(load1, (int, float)) \
        and (load0 or load1) else None
    sampling = obs.get("aggregate_sampling_time_ms")
    return ExecuTorchRun(
        line=line,
        prompt_tokens=int(obs["prompt_tokens"]),
        generated_tokens=int(obs["generated_tokens"]),
        ttft_s=(obs["first_token_ms"] - start) / scale,
        prefill_s=(obs["prompt_eval_end_ms"] - start) / scale,
        decode_s=(end - obs["prompt_eval_end_ms"]) / scale,
        inference_s=(end - start) / scale,
        model_load_s=load,
        sampling_s=sampling / scale if isinstance(sampling, (int, float)) else None,
        resolution_s=1.0 / scale,
        inference_start_epoch_s=start / scale if start else None,
        observer=obs,
    )


def parse_executorch(text: str, *, source: str = "<text>") -> ExecuTorchLog:
    """Every PyTorchObserver run in `text`, with its stats block and RSS lines when present."""
    runs: list[ExecuTorchRun] = []
    stats_blocks: list[ExecuTorchStats] = []
    rss: list[tuple[int, str, int]] = []
    skipped = Skipped()
    cur_stats: ExecuTorchStats | None = None
    for i, raw in enumerate(text.splitlines(), start=1):
        if m := _OBSERVER.search(raw):
            runs.append(_observer_run(m.group(1), i, source))
            continue
        if m := _RSS.search(raw):
            mib = float(m.group(2))
            if mib > 0:  # the runner prints 0 where it cannot read RSS
                rss.append((i, _RSS_KEYS[m.group(1)], round(mib * 2**20)))
            continue
        matched = False
        for key, rx in _STATS.items():
            if not (m := rx.search(raw)):
                continue
            matched = True
            if key == "counts" or cur_stats is None:
                cur_stats = ExecuTorchStats(line=i)
                stats_blocks.append(cur_stats)
            _set_stat(cur_stats, key, m)
            break
        if not matched and raw.strip():
            skipped.add(raw, i)
    if not runs:
        raise LlamaLogError(source, "no PyTorchObserver line (the figures of an ExecuTorch LLM run)")
    for st in stats_blocks:  # the run with the same token counts, nearest in the file
        same = [r for r in runs if r.prompt_tokens == st.prompt_tokens and r.generated_tokens == st.generated_tokens]
        if same:
            min(same, key=lambda r: abs(r.line - st.line)).stats = st
    for line, key, nbytes in rss:  # RSS lines belong to the next run (printed before its observer)
        later = [r for r in runs if r.line > line] or runs[-1:]
        later[0].rss_bytes[key] = nbytes
    return ExecuTorchLog(source=source, runs=runs, skipped=skipped)


def _set_stat(st: ExecuTorchStats, key: str, m: re.Match) -> None:
    g = m.groups()
    if key == "counts":
        st.prompt_tokens, st.generated_tokens = int(g[0]), int(g[1])
    elif key == "model_load_s":
        st.model_load_s = float(g[0])
    elif key == "inference":
        st.inference_s, st.inference_tokens_per_s = float(g[0]), float(g[1])
    elif key == "prefill":
        st.prefill_s, st.prefill_tokens_per_s = float(g[0]), float(g[1])
    elif key == "decode":
        st.decode_s, st.decode_tokens_per_s = float(g[1]), float(g[2])
    elif key == "ttft_s":
        st.ttft_s = float(g[0])
    elif key == "sampling":
        st.sampling_tokens, st.sampling_s = int(g[0]), float(g[1])
