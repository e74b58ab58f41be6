"""TensorRT engines (``.engine``, ``.plan``, ``.trt``): serialized, device-specific plans that
trtexec runs with ``--loadEngine``.

An engine is built for one GPU (or DLA core) and one TensorRT version; its layout is not
documented and changes between versions, so harness reads nothing inside it: no static
analysis (hence no roofline and no warning about a missing one), precision ``unknown``
(the build's flags decide it, and trtexec's log says which). A file that is really
another format's model (a TFLite flatbuffer named ``.engine``: any registered format with
a magic) or is empty is refused at plan time; an engine from another TensorRT version or GPU is refused
by trtexec on the target ("Magic tag does not match", "Version tag does not match"),
recorded as ``model_invalid``.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ModelError
from harness.formats.base import ModelFormat


class TensorrtEngineFormat(ModelFormat):
    name = "tensorrt"
    extensions = (".engine", ".plan", ".trt")
    description = "TensorRT serialized engine (runs with trtexec --loadEngine; no static analysis)"

    def check(self, path: Path, head: bytes) -> None:
        if not head:
            raise ModelError(f"{path}: empty file, not a TensorRT engine")
        from harness.formats.registry import formats

        for other in formats().values():  # a model of another format under an engine's name
            if other.name != self.name and other.magic and other.matches(head):
                raise ModelError(f"{path}: a {other.name} model named like a TensorRT engine "
                                 f"(rename it {other.extensions[0] if other.extensions else ''})")

    def compute_dtype(self, precision: str) -> str | None:
        return None  # the engine's precision is the build's: no compute ceiling to judge it against
