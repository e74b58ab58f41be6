"""llama.cpp's end-of-run timing blocks, every era, as typed results in SI units.

- ``main: mem per token / load / sample / predict / total time`` (March 2023);
- ``llama_print_timings:`` (2023–2024; May 2023 printed only "ms per token", later also
  "tokens per second", ``inf`` when a phase took 0 ms);
- ``llama_perf_sampler_print:`` + ``llama_perf_context_print:`` (since late 2024; 2025 adds
  ``graphs reused`` and ``llama_memory_breakdown_print:`` tables);
- llama-server's ``slot print_timing: id N | task M |`` header followed by untagged lines.

Any prefix before the tag is tolerated (common-log ``0.01.352.020 I ``, logcat, indentation).
One run's lines form a `LlamaTimings` block; a key seen twice starts the next block. Per
``llama_perf_context_data``, ``prompt eval`` is the prefill (its last token yields the first
generated token) and ``eval`` counts the other generated tokens, so generated = n_eval + 1.
Rates are recomputed from time and count (the printed ones are rounded); a phase that took
0 ms (printed ``inf tokens per second``) has no rate.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.logs.llama_bench import LlamaLogError, Skipped

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)"
_TAG = re.compile(r"\b(llama_print_timings|llama_perf_context_print|llama_perf_sampler_print|"
                  r"llama_memory_breakdown_print|main):\s?(.*)$")
_SERVER = re.compile(r"print_timing:\s*id\s+(\d+)\s*\|\s*task\s+(-?\d+)\s*\|\s*(.*)$")
_PHASE = re.compile(
    rf"^(?P<key>load|sample|sampling|prompt eval|eval|predict|total) time\s*=\s*(?P<ms>{_NUM})\s*ms"
    rf"(?:\s*/\s*(?P<count>\d+)\s*(?P<unit>runs|tokens))?"
    rf"(?:\s*/\s*(?P<per_tok_bare>{_NUM})\s*ms per token)?"
    rf"(?:\s*\(\s*(?P<per_tok>{_NUM})\s*ms per token(?:,\s*(?P<rate>{_NUM})\s*tokens per second)?\s*\))?\s*$"
)
_KEY_START = re.compile(r"^(load|sample|sampling|prompt eval|eval|predict|total) time\b")
_MEM_PER_TOKEN = re.compile(r"^mem per token\s*=\s*(\d+)\s*bytes\s*$")
_GRAPHS = re.compile(r"^graphs reused\s*=\s*(\d+)\s*$")
_MIB = 2**20

Family = Literal["llama_perf", "llama_print_timings", "main", "server"]
_FAMILY = {"llama_perf_context_print": "llama_perf", "llama_perf_sampler_print": "llama_perf",
           "llama_memory_breakdown_print": "llama_perf", "llama_print_timings": "llama_print_timings",
           "main": "main"}


class PhaseTiming(BaseModel):
    """A timed phase as printed: its time, what it counted, and the rate (None when time is 0)."""

    model_config = ConfigDict(extra="forbid")

    time_s: float
    count: int | None = None
    unit: Literal["tokens", "runs"] | None = None
    per_token_s: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        if self.count is not None and self.time_s > 0:
            return self.count / self.time_s
        if self.per_token_s:
            return 1.0 / self.per_token_s
        return None


class MemoryBreakdownRow(BaseModel):
    """One device (or Host) of llama_memory_breakdown_print, in bytes (printed in MiB)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    total_bytes: int | None = None
    free_bytes: int | None = None
    self_bytes: int
    model_bytes: int
    context_bytes: int
    compute_bytes: int
    unaccounted_bytes: int | None = None


class LlamaTimings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: int  # the block's first line
    family: Family
    load_s: float | None = None
    sample: PhaseTiming | None = None
    prompt_eval: PhaseTiming | None = None  # prefill
    eval: PhaseTiming | None = None  # decode after the first token
    predict: PhaseTiming | None = None  # March 2023: prompt and generation together
    total_s: float | None = None
    total_tokens: int | None = None
    mem_per_token_bytes: int | None = None
    graphs_reused: int | None = None
    slot_id: int | None = None
    task_id: int | None = None
    memory_breakdown: list[MemoryBreakdownRow] = Field(default_factory=list)

    @property
    def prefill_tokens_per_s(self) -> float | None:
        return self.prompt_eval.tokens_per_s if self.prompt_eval else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.eval.tokens_per_s if self.eval else None


class LlamaTimingsLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    blocks: list[LlamaTimings]
    skipped: Skipped = Field(default_factory=Skipped)


def _phase(m: re.Match) -> PhaseTiming:
    per = m.group("per_tok") or m.group("per_tok_bare")
    return PhaseTiming(
        time_s=float(m.group("ms")) / 1e3,
        count=int(m.group("count")) if m.group("count") else None,
        unit=m.group("unit"),
        per_token_s=float(per) / 1e3 if per is not None else None,
    )


_FIELD = {"sample": "sample", "sampling": "sample", "prompt eval": "prompt_eval", "eval": "eval", "predict": "predict"}


def _memory_row(body: str) -> MemoryBreakdownRow | None:
    cells = [c.strip() for c in body.strip().strip("|").split("|")]
    if len(cells) != 2 or not cells[0].startswith("-"):
        return None  # the header row
    nums = [int(x) * _MIB for x in re.findall(r"\d+", cells[1])]
    name = cells[0].lstrip("- ").strip()
    if len(nums) == 7:
        total, free, self_, model, context, compute, unacc = nums
        return MemoryBreakdownRow(name=name, total_bytes=total, free_bytes=free, self_bytes=self_, model_bytes=model,
                                  context_bytes=context, compute_bytes=compute, unaccounted_bytes=unacc)
    if len(nums) == 4:
        self_, model, context, compute = nums
        return MemoryBreakdownRow(name=name, self_bytes=self_, model_bytes=model, context_bytes=context,
                                  compute_bytes=compute)
    return None


def parse_llama_timings(text: str, *, source: str = "<text>") -> LlamaTimingsLog:
    """Every timing block in `text` (see the module docstring); LlamaLogError if there is none."""
    blocks: list[LlamaTimings] = []
    skipped = Skipped()
    cur: LlamaTimings | None = None
    in_server = False

    def block_for(family: Family, key: str, line_no: int) -> LlamaTimings:
        nonlocal cur
        if cur is None or cur.family != family or (key and getattr(cur, key) is not None):
            cur = LlamaTimings(line=line_no, family=family)
            blocks.append(cur)
        return cur

    for i, raw in enumerate(text.splitlines(), start=1):
        if m := _SERVER.search(raw):
            in_server = True
            cur = LlamaTimings(line=i, family="server", slot_id=int(m.group(1)), task_id=int(m.group(2)))
            blocks.append(cur)
            body = m.group(3).strip()
            if body and _apply(body, cur, i, source, "server", block_for) is False:
                skipped.add(raw, i)
            continue
        tag = _TAG.search(raw)
        if tag:
            family = _FAMILY[tag.group(1)]
            body = tag.group(2).strip()
            in_server = False
            if tag.group(1) == "llama_memory_breakdown_print":
                row = _memory_row(body)
                if row is not None:
                    block_for(family, "", i).memory_breakdown.append(row)
                continue
        elif in_server and _KEY_START.match(raw.strip()):
            family, body = "server", raw.strip()
        else:
            if raw.strip():  # anything else ends a server block (blank lines do not)
                skipped.add(raw, i)
                in_server = False
            continue
        if _apply(body, None, i, source, family, block_for) is False:
            skipped.add(raw, i)
    if not blocks:
        raise LlamaLogError(source, "no llama.cpp timing lines (llama_perf_context_print, llama_print_timings, "
                                    "main: … time, print_timing)")
    return LlamaTimingsLog(source=source, blocks=blocks, skipped=skipped)


def _apply(body: str, block: LlamaTimings | None, line: int, source: str, family: Family, block_for) -> bool:
    """Put one timing line into its block; False when the line is not a timing line."""
    if m := _PHASE.match(body):
        key = m.group("key")
        if key == "load":
            (block or block_for(family, "load_s", line)).load_s = float(m.group("ms")) / 1e3
        elif key == "total":
            b = block or block_for(family, "total_s", line)
            b.total_s = float(m.group("ms")) / 1e3
            b.total_tokens = int(m.group("count")) if m.group("count") else None
        else:
            field = _FIELD[key]
            setattr(block or block_for(family, field, line), field, _phase(m))
        return True
    if _KEY_START.match(body):
        raise LlamaLogError(source, f"timing line is cut or corrupt: {body!r}", line)
    if m := _MEM_PER_TOKEN.match(body):
        (block or block_for(family, "mem_per_token_bytes", line)).mem_per_token_bytes = int(m.group(1))
        return True
    if m := _GRAPHS.match(body):
        (block or block_for(family, "graphs_reused", line)).graphs_reused = int(m.group(1))
        return True
    return False
