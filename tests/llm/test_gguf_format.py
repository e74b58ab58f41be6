"""The gguf model format: recognised by extension and magic, identified (name, precision from the
main tensor type, size, sha256), refused at plan time when cut, and never op-analysed."""

from __future__ import annotations

import shutil

import pytest

from harness.analysis.static import analyze_if_unchanged
from harness.digest import sha256_of
from harness.errors import ModelError
from harness.formats import registry
from harness.formats.gguf import GgufFormat
from harness.models import resolve_model


@pytest.mark.parametrize("quant, precision, dtype", [("f32", "f32", "fp32"), ("f16", "f16", "fp16"),
                                                     ("q8_0", "q8_0", "int8"), ("q4_0", "q4_0", "int8")])
def test_identity_and_roofline_precision(tiny_gguf, quant, precision, dtype):
    path = tiny_gguf(f"random-llama-small-{quant}")
    fmt = registry.detect(path)
    assert isinstance(fmt, GgufFormat) and not fmt.has_analysis
    ident = fmt.identify(path)
    assert ident == (f"random-llama-small-{quant}", precision, path.stat().st_size, sha256_of(path))
    assert fmt.compute_dtype(ident.precision) == dtype
    ref, _ = resolve_model(str(path))
    assert (ref.format, ref.precision, ref.sha256) == ("gguf", precision, ident.sha256)
    assert analyze_if_unchanged(path, ref.sha256) is None  # no op graph: no TFLite-style analysis


def test_recognised_by_magic_without_the_extension(tiny_gguf, tmp_path):
    path = tmp_path / "model.bin"
    shutil.copy(tiny_gguf("random-llama-tiny-q8_0"), path)
    assert registry.detect(path).name == "gguf"


@pytest.mark.parametrize("keep", [3000, 40000])
def test_a_cut_file_is_refused_at_plan_time(tiny_gguf, tmp_path, keep):
    path = tmp_path / "cut.gguf"
    path.write_bytes(tiny_gguf("random-llama-tiny-q4_0").read_bytes()[:keep])
    with pytest.raises(ModelError, match=r"cut.gguf: unreadable GGUF \(truncated or corrupt"):
        resolve_model(str(path))


def test_a_misnamed_file_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"TFL3" + bytes(100))
    with pytest.raises(ModelError, match=r"model.gguf: not a gguf model"):
        resolve_model(str(path))
