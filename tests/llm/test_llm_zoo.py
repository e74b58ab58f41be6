"""The zoo's random-weight GGUF LLMs: listed in the manifest, labelled as random weights, built on
demand by model_zoo/tiny_gguf.py (the same bytes on every machine), counted as the file says."""

from __future__ import annotations

import json

import pytest

from harness import zoo
from harness.llm.costs import weight_traffic
from harness.llm.gguf_model import read_gguf
from harness.models import resolve_model
from tests.conftest import assert_one_line_error

GGUF = [e for e in zoo.entries() if e.format == "gguf"]


def test_three_sizes_four_quantisations_all_labelled_random():
    assert {e.arch for e in GGUF} == {"random-llama-tiny", "random-llama-small", "random-llama-medium"}
    assert {e.precision for e in GGUF} == {"f32", "f16", "q8_0", "q4_0"} and len(GGUF) == 12
    for e in GGUF:
        assert "RANDOM WEIGHTS" in e.task and (e.storage, e.builder) == ("cache", "tiny_gguf.py")
        assert e.file == f"gguf/{e.arch}-{e.precision}.gguf"


@pytest.mark.parametrize("entry", [e for e in GGUF if "medium" not in e.arch], ids=lambda e: e.id)
def test_the_manifest_counts_are_the_files(entry, tiny_gguf):
    model = read_gguf(tiny_gguf(entry.id.removesuffix("-gguf")))
    assert model.n_params == entry.params and model.main_type.lower() == entry.precision
    w = weight_traffic(model)
    assert w.matmul_params + w.output_params == entry.macs
    assert "RANDOM WEIGHTS" in model.name and model.context_length == entry.input_shape[1]


def test_build_on_demand_gives_the_manifest_bytes(cli, tmp_path):
    env = {"HARNESS_ZOO_CACHE": str(tmp_path / "cache")}
    before = cli("run", "-d", "local", "-m", "random-llama-tiny-q4_0-gguf", "--runtime", "llama_ttft", env=env)
    assert_one_line_error(before, "is built on demand and is not built yet", "harness zoo build random-llama-tiny-q4_0-gguf")
    built = cli("zoo", "build", "random-llama-tiny-q4_0", "--json", env=env)  # the tiny_gguf name resolves too
    assert built.returncode == 0, built.stderr
    out = json.loads(built.stdout)
    assert out["id"] == "random-llama-tiny-q4_0-gguf" and out["built_now"] is True and out["matches_manifest"] is True
    assert out["path"] == str(tmp_path / "cache" / "gguf" / "random-llama-tiny-q4_0.gguf")


def test_a_zoo_gguf_resolves_with_its_precision(tiny_gguf):
    tiny_gguf("random-llama-small-q8_0")
    ref, path = resolve_model("random-llama-small-q8_0-gguf")
    assert (ref.name, ref.format, ref.precision, ref.zoo_id) == (
        "random-llama-small-q8_0-gguf", "gguf", "q8_0", "random-llama-small-q8_0-gguf")
    assert ref.sha256 == zoo.get("random-llama-small-q8_0-gguf").sha256 and path.name == "random-llama-small-q8_0.gguf"
