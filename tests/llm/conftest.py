"""Fixtures for the LLM tests: tiny random-weight GGUFs and the cached llama.cpp build."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Building llama.cpp on a fresh 2-core machine takes minutes; ci/test.sh builds it before
# pytest starts, so this only matters when the tests are run on their own.
BUILD_TIMEOUT_S = 3600


def _tiny_gguf_module():
    spec = importlib.util.spec_from_file_location("tiny_gguf", REPO / "model_zoo" / "tiny_gguf.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def tiny_gguf_module():
    return _tiny_gguf_module()


@pytest.fixture(scope="session")
def tiny_gguf(tiny_gguf_module) -> Callable[[str], Path]:
    """`tiny_gguf("random-llama-tiny-q4_0")` -> the model file, built into the user cache on demand."""
    return tiny_gguf_module.ensure


@pytest.fixture(scope="session")
def llama_build():
    """llama-bench and harness-llm-driver for this host, from the cache (built there if missing)."""
    from harness.llm.build import ensure_llama_build

    return ensure_llama_build(progress=lambda m: print(f"llama.cpp: {m}", flush=True))
