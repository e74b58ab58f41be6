"""Android tests: an emulated phone (tests/adb_emulator) on a free port, models, captures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adb_emulator.fixtures import adb_phone, harness_config  # noqa: F401
from tests.adb_emulator.tiny_models import mlp_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A real float32 MLP (4 operators, ~50 kB)."""
    return mlp_model(tmp_path_factory.mktemp("models") / "tiny_mlp.tflite", [64, 128, 32, 10])


def capture(name: str) -> str:
    return (FIXTURES / name).read_text()
