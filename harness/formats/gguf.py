"""llama.cpp GGUF models (``.gguf``): identity and static per-token costs.

Identity: the file stem as name, the precision as the ggml type that holds most weight
elements (``q4_0``, ``q8_0``, ``f16``, ``f32``, ``q4_k``… — what people call the model's
quantisation), its size and sha256. A truncated or corrupt file is refused at plan time
(`harness.llm.gguf_model.read_gguf` raises `ModelError`).

A GGUF model has no operator graph to analyse: its costs are per token and depend on the
prompt length and context depth, so they come from `harness.llm.costs` (`model(path)` gives
the `GgufModel` they take) and the LLM runners record them with each measured phase; the
roofline places prefill and decode separately (`harness.llm.summary`). ``has_analysis`` is
False, so no whole-model op analysis is attempted.

The roofline mapping (`compute_dtype`): llama.cpp's CPU backend multiplies quantised weights
as int8 dot products (activations quantised to 8 bits), F16/BF16 as fp16, F32 as fp32.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from harness.digest import sha256_of
from harness.formats.base import ModelFormat, ModelIdentity
from harness.llm.gguf_model import GGUF_MAGIC, GgufModel, read_gguf


def compute_dtype_of(ggml_type: str) -> str:
    """The compute ceiling a weight type is judged against (see the module docstring)."""
    t = ggml_type.lower()
    if t == "f32":
        return "fp32"
    if t in ("f16", "bf16"):
        return "fp16"
    return "int8"


@lru_cache(maxsize=16)
def _read(path: str, size: int, mtime_ns: int) -> GgufModel:
    return read_gguf(path)


class GgufFormat(ModelFormat):
    name = "gguf"
    extensions = (".gguf",)
    magic = ((0, GGUF_MAGIC),)
    description = "llama.cpp GGUF (LLMs): per-token costs for prefill and decode"

    def model(self, path: Path) -> GgufModel:
        """The GGUF's metadata and tensor table (read once per file version)."""
        st = Path(path).stat()
        return _read(str(path), st.st_size, st.st_mtime_ns)

    def precision(self, path: Path) -> str:
        return self.model(path).main_type.lower()

    def identify(self, path: Path) -> ModelIdentity:
        m = self.model(path)  # reads the header and tensor table: a cut file fails here, at plan time
        return ModelIdentity(Path(path).stem, m.main_type.lower(), m.file_bytes, sha256_of(path))

    def compute_dtype(self, precision: str) -> str | None:
        p = (precision or "").lower()
        if p in ("fp32", "fp16", "int8"):
            return p
        return compute_dtype_of(p) if p and p != "unknown" else None
