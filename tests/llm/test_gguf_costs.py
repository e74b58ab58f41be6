"""GGUF reading, the tiny model generator and per-token costs, checked against hand-computed counts.

The tiny model: 2 layers, width 64, 4 heads, 2 KV heads (head size 16), feed-forward 192,
a 259-token vocabulary. Per layer: q 64·64 + k 32·64 + v 32·64 + o 64·64 + 3·192·64 =
49152 matmul weights and two 64-element norms; plus token_embd and output (259·64 each)
and the output norm: 131776 weights in all.
"""

from __future__ import annotations

import hashlib
import math

import pytest

from harness.analysis.ceilings import Ceilings
from harness.errors import ModelError
from harness.llm.costs import (
    decode_bandwidth_utilisation,
    decode_costs,
    kv_bytes_per_element,
    llm_roofline,
    prefill_compute_utilisation,
    prefill_costs,
    weight_traffic,
)
from harness.llm.gguf_model import GgufModel, GgufTensor, TensorTypeStats, read_gguf

MATMUL_PER_LAYER = 64 * 64 * 2 + 32 * 64 * 2 + 3 * 192 * 64
EMBED = 259 * 64
N_PARAMS = 2 * MATMUL_PER_LAYER + 2 * EMBED + 2 * 2 * 64 + 64
KV_BYTES_PER_TOKEN_F16 = 2 * 2 * (16 + 16) * 2  # layers × kv heads × (k + v) × 2 bytes


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("quant, main_type, bytes_per_weight", [
    ("f32", "F32", 4.0), ("f16", "F16", 2.0), ("q8_0", "Q8_0", 34 / 32), ("q4_0", "Q4_0", 18 / 32),
])
def test_read_tiny_gguf(tiny_gguf, quant, main_type, bytes_per_weight):
    m = read_gguf(tiny_gguf(f"random-llama-tiny-{quant}"))
    assert (m.architecture, m.n_layer, m.n_embd, m.n_head, m.n_head_kv) == ("llama", 2, 64, 4, 2)
    assert (m.head_dim_k, m.head_dim_v, m.n_ff, m.n_vocab, m.context_length) == (16, 16, 192, 259, 512)
    assert "RANDOM WEIGHTS" in m.name
    assert m.n_params == N_PARAMS and len(m.tensors) == 2 * 9 + 3
    assert m.main_type == main_type
    norms = m.tensor_types["F32"] if quant != "f32" else None
    if norms is not None:  # 1-D tensors stay F32
        assert (norms.tensors, norms.elements) == (5, 5 * 64)
    main = m.tensor_types[main_type]
    assert main.bytes_per_weight == pytest.approx(bytes_per_weight)
    assert m.weight_bytes == sum(s.bytes for s in m.tensor_types.values())
    assert m.weight_bytes < m.file_bytes
    assert m.precision == {"F32": "fp32", "F16": "fp16"}.get(main_type, "int8")


def test_generator_is_deterministic(tiny_gguf_module, tmp_path):
    a = tiny_gguf_module.write("random-llama-tiny-q8_0", tmp_path / "a.gguf")
    b = tiny_gguf_module.write("random-llama-tiny-q8_0", tmp_path / "b.gguf")
    c = tiny_gguf_module.write("random-llama-tiny-q8_0", tmp_path / "c.gguf", seed=1)
    assert sha256(a) == sha256(b) != sha256(c)


def test_generator_cache_rebuilds_a_damaged_file(tiny_gguf_module, tmp_path):
    path = tiny_gguf_module.ensure("random-llama-tiny-q4_0", tmp_path)
    good = sha256(path)
    path.write_bytes(path.read_bytes()[:1000])
    assert sha256(tiny_gguf_module.ensure("random-llama-tiny-q4_0", tmp_path)) == good


def test_generator_rejects_unknown_names(tiny_gguf_module):
    with pytest.raises(ValueError, match="random-llama-<tiny|small|medium>"):
        tiny_gguf_module.parse_name("random-llama-huge-q4_k")


def test_not_a_gguf_is_one_clear_error(tmp_path):
    p = tmp_path / "model.gguf"
    p.write_bytes(b"TFL3" + bytes(100))
    with pytest.raises(ModelError, match=r"model.gguf: not a GGUF file"):
        read_gguf(p)


def test_truncated_gguf_is_one_clear_error(tiny_gguf, tmp_path):
    p = tmp_path / "cut.gguf"
    p.write_bytes(tiny_gguf("random-llama-tiny-f16").read_bytes()[:3000])
    with pytest.raises(ModelError, match=r"cut.gguf: unreadable GGUF \(truncated or corrupt"):
        read_gguf(p)


# -- costs -------------------------------------------------------------------------------


def test_decode_costs_tiny_f32(tiny_gguf):
    m = read_gguf(tiny_gguf("random-llama-tiny-f32"))
    w = weight_traffic(m)
    assert w.matmul_params == 2 * MATMUL_PER_LAYER and w.output_params == EMBED
    # weights read per token: matmuls, norms, the output head, one embedding row
    w_bytes = 4 * (2 * MATMUL_PER_LAYER + 5 * 64 + EMBED + 64)
    assert w.bytes_per_pass == w_bytes
    c = decode_costs(m, context=100)
    # 2N + 4·n_layer·d·L (d_k = d_v = d / n_head here)
    assert c.flops == 2 * (2 * MATMUL_PER_LAYER + EMBED) + 4 * 2 * 64 * 100
    assert c.bytes == w_bytes + KV_BYTES_PER_TOKEN_F16 * 101
    assert c.flops_per_token == c.flops and c.phase == "decode" and c.depth == 99
    assert c.working_set_bytes == c.bytes - KV_BYTES_PER_TOKEN_F16  # L entries touched; the new one counted twice in bytes
    many = decode_costs(m, context=100, n_tokens=10)  # contexts 100 … 109
    assert many.flops == pytest.approx(sum(decode_costs(m, context=100 + k).flops for k in range(10)))
    assert many.bytes == pytest.approx(sum(decode_costs(m, context=100 + k).bytes for k in range(10)))


def test_prefill_costs_micro_batches(tiny_gguf):
    m = read_gguf(tiny_gguf("random-llama-tiny-q4_0"))
    w = weight_traffic(m)
    n = 2 * MATMUL_PER_LAYER
    one = prefill_costs(m, n_prompt=64, n_ubatch=512)
    assert one.flops == 2 * n * 64 + 2 * EMBED + 2 * 2 * 4 * 32 * 64 * 64
    assert one.weight_bytes == w.bytes_per_pass
    assert one.kv_bytes == KV_BYTES_PER_TOKEN_F16 * (64 + 64)
    split = prefill_costs(m, n_prompt=100, depth=10, n_ubatch=40)  # micro-batches of 40, 40, 20
    cells = 40 * (10 + 40) + 40 * (10 + 80) + 20 * (10 + 100)
    assert split.flops == 2 * n * 100 + 2 * EMBED + 2 * 2 * 4 * 32 * cells
    assert split.weight_bytes == pytest.approx((w.bytes_per_pass - w.output_bytes) * 3 + w.output_bytes)
    assert split.kv_bytes == KV_BYTES_PER_TOKEN_F16 * (100 + (50 + 90 + 110))
    # prefill intensity grows with the prompt, decode stays near 2 / bytes per weight
    assert prefill_costs(m, 256).arithmetic_intensity > 10 * decode_costs(m, 256).arithmetic_intensity


def test_kv_cache_types():
    assert kv_bytes_per_element("f16") == 2 and kv_bytes_per_element("f32") == 4
    assert kv_bytes_per_element("q8_0") == 34 / 32
    with pytest.raises(ValueError, match="unknown KV cache type"):
        kv_bytes_per_element("int3")


def synthetic_moe(tied: bool) -> GgufModel:
    """Two layers of 4 experts (2 used), optionally with the output tied to the embedding."""
    tensors = [GgufTensor(name="token_embd.weight", type="F16", shape=[8, 100], elements=800, bytes=1600)]
    for i in range(2):
        tensors += [
            GgufTensor(name=f"blk.{i}.attn_norm.weight", type="F32", shape=[8], elements=8, bytes=32),
            GgufTensor(name=f"blk.{i}.attn_q.weight", type="F16", shape=[8, 8], elements=64, bytes=128),
            GgufTensor(name=f"blk.{i}.ffn_up_exps.weight", type="F16", shape=[8, 16, 4], elements=512, bytes=1024),
        ]
    if not tied:
        tensors.append(GgufTensor(name="output.weight", type="F16", shape=[8, 100], elements=800, bytes=1600))
    return GgufModel(path="x.gguf", gguf_version=3, architecture="toy", file_bytes=1, n_params=1, weight_bytes=1,
                     n_layer=2, n_embd=8, n_head=2, n_head_kv=1, head_dim_k=4, head_dim_v=4, n_expert=4,
                     n_expert_used=2, tensor_types={"F16": TensorTypeStats(tensors=1, elements=1, bytes=1)},
                     tensors=tensors)


def test_moe_experts_count_for_their_share_and_tied_output():
    untied = weight_traffic(synthetic_moe(tied=False))
    assert untied.matmul_params == 2 * (64 + 512 / 2)
    assert untied.bytes_per_pass == 2 * (32 + 128 + 1024 / 2) + 1600 / 100 + 1600
    tied = weight_traffic(synthetic_moe(tied=True))
    assert tied.output_params == 800 and tied.bytes_per_pass == 2 * (32 + 128 + 512) + 1600


# -- roofline ----------------------------------------------------------------------------


def ceilings(**kw) -> Ceilings:
    base = dict(device="board", peak_ops_per_s={"fp32": 1e11, "int8": 4e11},
                bandwidth_bytes_per_s={"L2": 2e11, "DRAM": 2e10}, method="datasheet")
    return Ceilings(**(base | kw))


def test_utilisation_formulas():
    assert decode_bandwidth_utilisation(20.0, 1e9, 4e10) == pytest.approx(0.5)
    assert prefill_compute_utilisation(100.0, 2e9, 1e12) == pytest.approx(0.2)


def test_llm_roofline_decode_is_memory_bound(tiny_gguf):
    m = read_gguf(tiny_gguf("random-llama-tiny-q4_0"))
    c = decode_costs(m, context=64)
    p = llm_roofline(c, tokens_per_s=5000.0, ceilings=ceilings(), precision=m.precision)
    assert (p.dtype, p.level, p.bound) == ("int8", "DRAM", "memory")  # datasheet ceilings: no cache sizes
    assert p.bandwidth_utilisation == pytest.approx(5000 * c.bytes_per_token / 2e10)
    assert p.compute_utilisation == pytest.approx(5000 * c.flops_per_token / 4e11)
    assert p.attainable_tokens_per_s == pytest.approx(2e10 / c.bytes_per_token)
    assert p.roof_utilisation == pytest.approx(5000 / p.attainable_tokens_per_s)
    assert p.ridge_point == pytest.approx(20.0)


def test_llm_roofline_level_holding_the_weights(tiny_gguf):
    m = read_gguf(tiny_gguf("random-llama-tiny-f32"))
    c = decode_costs(m, context=16)
    caches = [{"level": 2, "size_bytes": 2 * 2**20, "shared_cpus": 1}]
    p = llm_roofline(c, 1000.0, ceilings(target={"caches": caches}, threads=1), precision="fp32")
    assert p.level == "L2" and p.bandwidth_bytes_per_s == 2e11  # ~0.5 MB of weights fit in 2 MiB
    long_prompt = prefill_costs(m, n_prompt=512)
    q = llm_roofline(long_prompt, 1000.0, ceilings(), precision="fp32", level="DRAM")
    assert q.bound == "compute" and q.compute_utilisation == pytest.approx(1000 * long_prompt.flops_per_token / 1e11)
    # the level is chosen by what one pass streams (the weights), not by the bytes per prompt token
    small = [{"level": 2, "size_bytes": 256 * 1024, "shared_cpus": 1}]
    assert long_prompt.bytes_per_token < 256 * 1024 < long_prompt.working_set_bytes
    assert llm_roofline(long_prompt, 1000.0, ceilings(target={"caches": small}, threads=1), "fp32").level == "DRAM"


def test_llm_roofline_without_a_peak_for_the_precision():
    c = decode_costs(synthetic_moe(tied=False), context=4)
    with pytest.raises(ValueError, match="no compute ceiling for precision 'int8'"):
        llm_roofline(c, 1.0, ceilings(peak_ops_per_s={"fp16": 1e12}), precision="int8")
    assert math.isfinite(c.arithmetic_intensity)
