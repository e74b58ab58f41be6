"""What a model format declares: how to recognise a file, its identity, and optionally
its static analysis and roofline mapping.

A format is a `ModelFormat` subclass registered under the ``harness.formats`` entry-point
group (the entry point's name is the format's `name`, stored as ``ModelRef.format``)::

    class GgufFormat(ModelFormat):
        name = "gguf"
        extensions = (".gguf",)
        magic = ((0, b"GGUF"),)
        description = "llama.cpp GGUF"

        def precision(self, path: Path) -> str:      # optional: default "unknown"
            ...

Declarations (class attributes):

- ``name``: the format name; runners list it in their ``formats``.
- ``extensions``: file name endings, lower case, with the dot (``.tflite``).
- ``magic``: ``(offset, bytes)`` pairs; a file matches when any of them is found at its
  offset. A file whose extension names this format but whose bytes do not match is refused
  (`check`): a model truncated or mis-named fails at plan time, in one line.
- ``description``: one line for `harness runtimes`.

Methods (all optional):

- ``matches(head) -> bool``: whether the first `HEAD_BYTES` bytes are this format (default:
  the ``magic`` declaration). Used for files whose extension names no format.
- ``check(path, head)``: raise `ModelError` when the file is not really this format.
- ``precision(path) -> str``: ``fp32`` | ``int8`` | ``fp16`` | ... (default ``unknown``).
- ``identify(path) -> ModelIdentity``: name, precision, size and sha256 (default: the file
  stem, `precision`, its size and content hash).
- ``graph(path) -> Graph``: the static analysis input (`harness.analysis.model_types.Graph`:
  tensors, ops with their costs). A format without it runs with no static analysis and no
  roofline, and says nothing about it (``has_analysis`` is False).
- ``mcu_fit(path, analysis) -> McuFit | None``: what the model needs on a microcontroller.
- ``compute_dtype(precision) -> str | None``: the roofline mapping: which compute ceiling
  (``fp32``, ``fp16``, ``int8``) a model of this precision is judged against.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from harness.digest import sha256_of
from harness.errors import ModelError

if TYPE_CHECKING:
    from harness.analysis.model_types import Graph, McuFit, ModelAnalysis

#: bytes of a file read to recognise its format
HEAD_BYTES = 64


class ModelIdentity(NamedTuple):
    name: str
    precision: str
    size_bytes: int
    sha256: str


class ModelFormat:
    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = ()
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ()
    description: ClassVar[str] = ""

    def matches(self, head: bytes) -> bool:
        return any(head[off : off + len(sig)] == sig for off, sig in self.magic)

    def check(self, path: Path, head: bytes) -> None:
        if self.magic and not self.matches(head):
            raise ModelError(f"{path}: not a {self.name} model (its first bytes are not a {self.name} header)")

    def precision(self, path: Path) -> str:
        return "unknown"

    def identify(self, path: Path) -> ModelIdentity:
        return ModelIdentity(Path(path).stem, self.precision(path), Path(path).stat().st_size, sha256_of(path))

    @property
    def has_analysis(self) -> bool:
        return type(self).graph is not ModelFormat.graph

    def graph(self, path: Path) -> Graph:
        raise NotImplementedError(f"{self.name} models have no static analysis")

    def mcu_fit(self, path: Path, analysis: ModelAnalysis) -> McuFit | None:
        return None

    def compute_dtype(self, precision: str) -> str | None:
        p = (precision or "").lower()
        if "int8" in p or "uint8" in p:
            return "int8"
        if "16" in p:
            return "fp16"
        return "fp32"
