"""Static costs of an LLM per token (FLOPs, bytes moved) and where a measured rate sits on the roofline.

Formulas (LLM-Viewer, arXiv 2402.16363; see the issue's reference notes), for a model with
N weights that enter a matmul, W bytes of weights read per forward pass, n_layer layers,
n_head query heads and n_kv KV heads of sizes d_k/d_v, and b_kv bytes per KV-cache element:

- decode of one token attending to L cached tokens (itself included), batch 1:
  FLOPs = 2N + 2·n_layer·n_head·(d_k+d_v)·L      (= 2N + 4·n_layer·d·L when d_k = d_v = d/n_head)
  bytes = W + n_layer·n_kv·(d_k+d_v)·b_kv·(L + 1)  (read L entries, write the new one)
- prefill of P tokens on top of D cached tokens, in micro-batches of U tokens (llama.cpp's
  n_ubatch), logits computed for `outputs` tokens only (llama.cpp: the last one):
  FLOPs = 2·(N − N_out)·P + 2·N_out·outputs + 2·n_layer·n_head·(d_k+d_v)·Σ_u P_u·(D + end_u)
  bytes = W·⌈P/U⌉ + n_layer·n_kv·(d_k+d_v)·b_kv·(P + Σ_u (D + end_u))
  (each micro-batch reads the weights once — the output projection N_out only where logits
  are computed — and attends over every cell up to its end, as llama.cpp computes masked
  attention).

What counts: matmul weights only for FLOPs (norm weights are read, not multiplied; the token
embedding is a row lookup, so only one row per token is read — unless the output projection
is tied to it); mixture-of-experts expert tensors (``*_exps``) count for the share of experts
used per token. Activations are not counted: at batch 1 they are small next to the weights.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.analysis.ceilings import Ceilings
from harness.analysis.roofline import Roof, intensity
from harness.llm.gguf_model import GgufModel


class TokenCosts(BaseModel):
    """FLOPs and bytes of one phase: totals and per token (SI: FLOP, bytes)."""

    model_config = ConfigDict(extra="forbid")

    phase: Literal["prefill", "decode"]
    n_tokens: int
    depth: int  # tokens already in the KV cache when the phase starts
    flops: float
    weight_bytes: float
    kv_bytes: float
    working_set_bytes: float  # weights + KV cache one forward pass touches (the largest pass)

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.kv_bytes

    @property
    def flops_per_token(self) -> float:
        return self.flops / self.n_tokens

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.n_tokens

    @property
    def arithmetic_intensity(self) -> float:
        return intensity(self.flops, self.bytes)


class WeightTraffic(BaseModel):
    """Per forward pass: weights multiplied (for FLOPs) and bytes read, split off the output head."""

    model_config = ConfigDict(extra="forbid")

    matmul_params: float
    output_params: float
    bytes_per_pass: float
    output_bytes: float


def kv_bytes_per_element(kv_type: str = "f16") -> float:
    """Bytes per KV-cache element for llama.cpp's cache types (f16 default, q8_0, q4_0, f32 …)."""
    import gguf

    try:
        t = gguf.GGMLQuantizationType[kv_type.upper()]
    except KeyError:
        raise ValueError(f"unknown KV cache type {kv_type!r}") from None
    block, size = gguf.GGML_QUANT_SIZES[t]
    return size / block


def weight_traffic(model: GgufModel) -> WeightTraffic:
    tied = model.tensor("output.weight") is None
    expert_share = (model.n_expert_used / model.n_expert) if model.n_expert and model.n_expert_used else 1.0
    matmul = out_p = nbytes = out_b = 0.0
    for t in model.tensors:
        share = expert_share if "_exps" in t.name else 1.0
        if t.name == "token_embd.weight":
            rows = t.shape[1] if len(t.shape) > 1 else 1
            if tied:  # also the output projection: read whole and multiplied
                out_p += t.elements
                out_b += t.bytes
            else:  # a lookup: one row per token
                nbytes += t.bytes / rows
            continue
        if t.name == "output.weight":
            out_p += t.elements
            out_b += t.bytes
            continue
        nbytes += t.bytes * share
        if len(t.shape) >= 2:
            matmul += t.elements * share
    return WeightTraffic(matmul_params=matmul, output_params=out_p, bytes_per_pass=nbytes + out_b, output_bytes=out_b)


def _kv_entry_bytes(model: GgufModel, kv_type: str) -> float:
    """Bytes of K and V for one token across all layers."""
    return model.n_layer * model.n_head_kv * (model.head_dim_k + model.head_dim_v) * kv_bytes_per_element(kv_type)


def _attn_flops_per_cell(model: GgufModel) -> float:
    """FLOPs of one query token against one cached token, all layers (QKᵀ and AV)."""
    return 2.0 * model.n_layer * model.n_head * (model.head_dim_k + model.head_dim_v)


def decode_costs(model: GgufModel, context: int, n_tokens: int = 1, kv_type: str = "f16") -> TokenCosts:
    """`n_tokens` decode steps, the first attending to `context` cached tokens (itself included)."""
    if context < 1 or n_tokens < 1:
        raise ValueError("decode needs context >= 1 and n_tokens >= 1")
    w = weight_traffic(model)
    # Σ over steps of the attended length: context, context+1, …
    cells = n_tokens * context + n_tokens * (n_tokens - 1) / 2
    flops = n_tokens * 2.0 * (w.matmul_params + w.output_params) + _attn_flops_per_cell(model) * cells
    entry = _kv_entry_bytes(model, kv_type)
    kv = entry * (cells + n_tokens)
    last_context = context + n_tokens - 1
    return TokenCosts(phase="decode", n_tokens=n_tokens, depth=context - 1, flops=flops,
                      weight_bytes=n_tokens * w.bytes_per_pass, kv_bytes=kv,
                      working_set_bytes=w.bytes_per_pass + entry * last_context)


def prefill_costs(model: GgufModel, n_prompt: int, depth: int = 0, *, n_ubatch: int = 512, outputs: int = 1,
                  kv_type: str = "f16") -> TokenCosts:
    """Prefill of `n_prompt` tokens on top of `depth` cached ones (llama.cpp's micro-batching)."""
    if n_prompt < 1 or depth < 0 or n_ubatch < 1:
        raise ValueError("prefill needs n_prompt >= 1, depth >= 0, n_ubatch >= 1")
    w = weight_traffic(model)
    outputs = max(1, min(outputs, n_prompt))
    cells = 0.0
    for start in range(0, n_prompt, n_ubatch):
        size = min(n_ubatch, n_prompt - start)
        cells += size * (depth + start + size)
    n_ub = math.ceil(n_prompt / n_ubatch)
    flops = 2.0 * w.matmul_params * n_prompt + 2.0 * w.output_params * outputs + _attn_flops_per_cell(model) * cells
    # the output head is read only by the micro-batch(es) that produce logits
    weight_bytes = (w.bytes_per_pass - w.output_bytes) * n_ub + w.output_bytes * min(n_ub, outputs)
    entry = _kv_entry_bytes(model, kv_type)
    kv = entry * (n_prompt + _cells_read(n_prompt, depth, n_ubatch))  # write P, read per ubatch
    return TokenCosts(phase="prefill", n_tokens=n_prompt, depth=depth, flops=flops, weight_bytes=weight_bytes,
                      kv_bytes=kv, working_set_bytes=w.bytes_per_pass + entry * (depth + n_prompt))


def _cells_read(n_prompt: int, depth: int, n_ubatch: int) -> float:
    """KV entries read: each micro-batch reads every cell up to its end once."""
    return float(sum(depth + min(start + n_ubatch, n_prompt) for start in range(0, n_prompt, n_ubatch)))


# -- roofline ------------------------------------------------------------------------------


def decode_bandwidth_utilisation(tokens_per_s: float, bytes_per_token: float, bandwidth_bytes_per_s: float) -> float:
    """Share of the memory bandwidth a decode rate uses: tok/s × bytes/token ÷ bandwidth."""
    return tokens_per_s * bytes_per_token / bandwidth_bytes_per_s


def prefill_compute_utilisation(tokens_per_s: float, flops_per_token: float, peak_ops_per_s: float) -> float:
    """Share of the compute peak a prefill rate uses: tok/s × FLOPs/token ÷ peak."""
    return tokens_per_s * flops_per_token / peak_ops_per_s


class LlmRooflinePoint(BaseModel):
    """One phase's measured rate against the device's ceilings."""

    model_config = ConfigDict(extra="forbid")

    phase: Literal["prefill", "decode"]
    tokens_per_s: float
    flops_per_token: float
    bytes_per_token: float
    arithmetic_intensity: float
    dtype: str
    peak_ops_per_s: float
    level: str
    bandwidth_bytes_per_s: float
    ridge_point: float
    bound: Literal["memory", "compute"]
    attainable_tokens_per_s: float
    achieved_ops_per_s: float
    achieved_bytes_per_s: float
    compute_utilisation: float
    bandwidth_utilisation: float
    roof_utilisation: float  # tokens_per_s ÷ attainable_tokens_per_s


def llm_roofline(costs: TokenCosts, tokens_per_s: float, ceilings: Ceilings, precision: str,
                 *, level: str | None = None) -> LlmRooflinePoint:
    """Place a measured rate on the roofline. The bandwidth level defaults to the innermost
    cache that holds one forward pass's working set (weights + KV cache; DRAM for real
    models), as the ceilings know it."""
    dtype = ceilings.compute_dtype(precision)
    if dtype is None:
        raise ValueError(f"{ceilings.device}: no compute ceiling for precision {precision!r}")
    if not ceilings.bandwidth_bytes_per_s:
        raise ValueError(f"{ceilings.device}: no bandwidth ceiling")
    if level is None:
        level = ceilings.level_holding(costs.working_set_bytes) or ceilings.memory_level()
    roof = Roof(ceilings.peak_ops_per_s[dtype], ceilings.bandwidth_bytes_per_s[level])
    fpt, bpt = costs.flops_per_token, costs.bytes_per_token
    ai = intensity(fpt, bpt)
    attainable = min(roof.peak_ops_per_s / fpt, roof.bandwidth_bytes_per_s / bpt)
    return LlmRooflinePoint(
        phase=costs.phase,
        tokens_per_s=tokens_per_s,
        flops_per_token=fpt,
        bytes_per_token=bpt,
        arithmetic_intensity=ai,
        dtype=dtype,
        peak_ops_per_s=roof.peak_ops_per_s,
        level=level,
        bandwidth_bytes_per_s=roof.bandwidth_bytes_per_s,
        ridge_point=roof.ridge,
        bound=roof.bound(ai),
        attainable_tokens_per_s=attainable,
        achieved_ops_per_s=tokens_per_s * fpt,
        achieved_bytes_per_s=tokens_per_s * bpt,
        compute_utilisation=prefill_compute_utilisation(tokens_per_s, fpt, roof.peak_ops_per_s),
        bandwidth_utilisation=decode_bandwidth_utilisation(tokens_per_s, bpt, roof.bandwidth_bytes_per_s),
        roof_utilisation=tokens_per_s / attainable,
    )
