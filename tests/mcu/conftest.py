"""Helpers for MCU tests: profiles pointing at a port, and a RunContext built by hand."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness import zoo
from harness.profiles import parse_profile
from harness.runners.base import RunContext
from harness.store.record import ModelRef, RunConfig, RuntimeInfo
from harness.store.recorder import Recorder
from harness.digest import sha256_of

MLPERF_TINY = ("kws01", "vww01", "ic01", "ad01")


def serial_profile(port: str | None = None, emulator: dict | None = None, line_timeout_s: float = 2.0,
                   infer_timeout_s: float = 5.0, profile_id: str = "test-dut", **extra):
    transport = {"kind": "serial", "line_timeout_s": line_timeout_s, "infer_timeout_s": infer_timeout_s}
    if port:
        transport["port"] = port
    if emulator is not None:
        transport["emulator"] = emulator
    data = {"id": profile_id, "name": "test device", "transport": transport, "runtimes": ["tinyml"], **extra}
    return parse_profile(data, Path(f"<{profile_id}>"))


def model_ref(zoo_id: str) -> tuple[ModelRef, Path]:
    path = zoo.model_file(zoo_id)
    ref = ModelRef(name=zoo_id, path=str(path), sha256=sha256_of(path), format="tflite",
                   precision="int8", size_bytes=path.stat().st_size, zoo_id=zoo_id)
    return ref, path


def make_ctx(profile, transport, zoo_id: str = "kws01-int8-tflite", cancel: threading.Event | None = None,
             inputs: str | None = None, **options) -> RunContext:
    from harness.runners.tinyml import TinymlRunner

    ref, path = model_ref(zoo_id)
    return RunContext(
        profile=profile, transport=transport, model=ref, model_path=path,
        config=RunConfig(runtime="tinyml", inputs=inputs, options=options),
        recorder=Recorder(runtime=RuntimeInfo(name="tinyml")),
        cancel=cancel or threading.Event(),
        options=TinymlRunner.parse_options(options),
    )


@pytest.fixture
def fake_dut():
    from tests.mcu.fake_dut import FakeDut

    made = []

    def _make(**kw):
        dut = FakeDut(**kw)
        made.append(dut)
        return dut

    yield _make
    for dut in made:
        dut.close()
