"""What a GGUF file says about its model: architecture, shape, parameters, bytes per weight.

Read with the `gguf` package's reader (metadata and tensor table only; the weights are
memory-mapped, never read). `read_gguf(path)` returns a `GgufModel`, the input of the
static costs in `harness.llm.costs`.

Architecture keys are ``<arch>.<key>`` (``llama.block_count``…). Where a model omits one,
the value llama.cpp would use is taken (KV heads = heads, head size = width / heads,
vocabulary = the tokenizer's token list) and `GgufModel.notes` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ModelError

GGUF_MAGIC = b"GGUF"


class TensorTypeStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tensors: int
    elements: int
    bytes: int

    @property
    def bytes_per_weight(self) -> float:
        return self.bytes / self.elements if self.elements else 0.0


class GgufTensor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str  # ggml type name: F32, F16, Q4_0, Q4_K, …
    shape: list[int]  # ggml order: innermost (row length) first
    elements: int
    bytes: int


class GgufModel(BaseModel):
    """A GGUF model's identity and shape; sizes in bytes, counts as integers."""

    model_config = ConfigDict(extra="forbid")

    path: str
    gguf_version: int
    architecture: str
    name: str | None = None
    file_type: int | None = None
    file_bytes: int
    n_params: int = Field(description="elements of every tensor")
    weight_bytes: int = Field(description="bytes of every tensor's data")
    n_layer: int
    n_embd: int = Field(description="model width d")
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_ff: int | None = None
    n_vocab: int | None = None
    context_length: int | None = None
    n_expert: int | None = None
    n_expert_used: int | None = None
    tensor_types: dict[str, TensorTypeStats] = Field(description="ggml type -> count, elements, bytes")
    tensors: list[GgufTensor]
    notes: list[str] = Field(default_factory=list)

    @property
    def bytes_per_weight(self) -> float:
        """Average over all tensors (norms and embeddings included)."""
        return self.weight_bytes / self.n_params if self.n_params else 0.0

    @property
    def main_type(self) -> str:
        """The ggml type holding most weight elements (what people call the model's quantisation)."""
        return max(self.tensor_types.items(), key=lambda kv: kv[1].elements)[0]

    @property
    def precision(self) -> str:
        """The compute precision llama.cpp's CPU backend uses for the main type: quantised
        types are multiplied as int8 dot products (activations quantised to 8 bits)."""
        t = self.main_type.upper()
        if t in ("F32",):
            return "fp32"
        if t in ("F16", "BF16"):
            return "fp16"
        return "int8"

    def tensor(self, name: str) -> GgufTensor | None:
        return next((t for t in self.tensors if t.name == name), None)


def _value(fields: dict[str, Any], key: str) -> Any:
    f = fields.get(key)
    if f is None:
        return None
    v = f.contents()
    if hasattr(v, "tolist"):
        v = v.tolist()
    return v


def _per_layer(value: Any, n_layer: int, key: str, notes: list[str]) -> int | None:
    """Counts some architectures store per layer (an array): the maximum, noted."""
    if value is None:
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        vals = [int(v) for v in value if int(v) > 0]
        if not vals:
            return None
        if len(set(vals)) > 1:
            notes.append(f"{key} varies by layer ({min(vals)}..{max(vals)}); costs use the per-layer values' maximum")
        return max(vals)
    return int(value)


def read_gguf(path: str | Path) -> GgufModel:
    """Metadata and tensor table of a GGUF file; ModelError naming the file when it is not one."""
    import gguf

    p = Path(path)
    try:
        with open(p, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"{p}: cannot read ({e.strerror or e})") from e
    if magic != GGUF_MAGIC:
        raise ModelError(f"{p}: not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r})")
    try:
        reader = gguf.GGUFReader(p, "r")
    except (ValueError, IndexError, OSError, KeyError) as e:
        raise ModelError(f"{p}: unreadable GGUF (truncated or corrupt: {e})") from e
    fields = reader.fields
    arch = _value(fields, "general.architecture")
    if not isinstance(arch, str):
        raise ModelError(f"{p}: GGUF has no general.architecture")
    notes: list[str] = []

    def key(name: str) -> Any:
        return _value(fields, f"{arch}.{name}")

    n_layer = key("block_count")
    n_embd = key("embedding_length")
    if n_layer is None or n_embd is None:
        raise ModelError(f"{p}: GGUF lacks {arch}.block_count or {arch}.embedding_length")
    n_layer, n_embd = int(n_layer), int(n_embd)
    n_head = _per_layer(key("attention.head_count"), n_layer, "attention.head_count", notes)
    if not n_head:
        raise ModelError(f"{p}: GGUF lacks {arch}.attention.head_count")
    n_head_kv = _per_layer(key("attention.head_count_kv"), n_layer, "attention.head_count_kv", notes)
    if n_head_kv is None:
        n_head_kv = n_head
        notes.append("no attention.head_count_kv: KV heads = heads (llama.cpp's default)")
    head_k = key("attention.key_length")
    head_v = key("attention.value_length")
    head_dim_k = int(head_k) if head_k else n_embd // n_head
    head_dim_v = int(head_v) if head_v else head_dim_k
    n_vocab = key("vocab_size")
    if n_vocab is None and "tokenizer.ggml.tokens" in fields:
        n_vocab = len(fields["tokenizer.ggml.tokens"].data)
    n_ff = _per_layer(key("feed_forward_length"), n_layer, "feed_forward_length", notes)

    tensors: list[GgufTensor] = []
    types: dict[str, dict[str, int]] = {}
    for t in reader.tensors:
        tname = gguf.GGMLQuantizationType(t.tensor_type).name
        tensors.append(GgufTensor(name=t.name, type=tname, shape=[int(x) for x in t.shape],
                                  elements=int(t.n_elements), bytes=int(t.n_bytes)))
        s = types.setdefault(tname, {"tensors": 0, "elements": 0, "bytes": 0})
        s["tensors"] += 1
        s["elements"] += int(t.n_elements)
        s["bytes"] += int(t.n_bytes)
    if not tensors:
        raise ModelError(f"{p}: GGUF has no tensors (a vocabulary-only file?)")
    ctx = key("context_length")
    expert = key("expert_count")
    used = key("expert_used_count")
    return GgufModel(
        path=str(p),
        gguf_version=int(_value(fields, "GGUF.version") or 0),
        architecture=arch,
        name=_value(fields, "general.name"),
        file_type=_value(fields, "general.file_type"),
        file_bytes=p.stat().st_size,
        n_params=sum(t.elements for t in tensors),
        weight_bytes=sum(t.bytes for t in tensors),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_dim_k,
        head_dim_v=head_dim_v,
        n_ff=n_ff,
        n_vocab=int(n_vocab) if n_vocab is not None else None,
        context_length=int(ctx) if ctx is not None else None,
        n_expert=int(expert) if expert else None,
        n_expert_used=int(used) if used else None,
        tensor_types={k: TensorTypeStats(**v) for k, v in sorted(types.items())},
        tensors=tensors,
        notes=notes,
    )
