"""How fast the emulated MCU path is (target: a full MLPerf Tiny kws01 run under 30 s).

For each MLPerf Tiny int8 model on the emulated Cortex-M4 (QEMU mps2-an386, -icount
shift=5): emulated latency per inference, instructions per MAC of the reference
kernels, host wall-clock per emulated inference, and the `db` load rate of the
protocol. Then one run of kws01 under the strict MLPerf Tiny rule (N calibrated to
10 s windows, 5 windows). Firmware builds are cached, so run it twice for warm figures.
The last line is the figure: wall-clock seconds of the strict kws01 run.
Usage: python benchmarks/mcu_qemu.py
"""

from __future__ import annotations

import time

from harness import zoo
from harness.mcu.lower import program_from_tflite
from harness.profiles import load_profile
from harness.runners.base import RunContext
from harness.runners.tinyml import TinymlRunner
from harness.store.record import ModelRef, RunConfig, RuntimeInfo
from harness.store.recorder import Recorder
from harness.store.results import MlperfTinyResult
from harness.digest import sha256_of
from harness.transports.serial import SerialTransport


def run(model: str, **options) -> tuple[Recorder, float]:
    path = zoo.model_file(f"{model}-int8-tflite")
    ref = ModelRef(name=f"{model}-int8-tflite", path=str(path), sha256=sha256_of(path), format="tflite",
                   size_bytes=path.stat().st_size, zoo_id=f"{model}-int8-tflite")
    profile = load_profile("mps2-an386")
    rec = Recorder(runtime=RuntimeInfo(name="tinyml"))
    t0 = time.monotonic()
    with SerialTransport(profile) as t:
        TinymlRunner().run(RunContext(profile=profile, transport=t, model=ref, model_path=path,
                                      config=RunConfig(runtime="tinyml", options=options), recorder=rec,
                                      options=TinymlRunner.parse_options(options)))
    return rec, time.monotonic() - t0


def main() -> None:
    print(f"{'model':6} {'MACs':>10} {'latency (emulated)':>19} {'instr/MAC':>9} {'wall/inference':>14}")
    for model in ("kws01", "vww01", "ic01", "ad01"):
        macs = program_from_tflite(zoo.model_file(f"{model}-int8-tflite")).macs
        run(model, relaxed=True, windows=1, inferences=1, warmups=0)  # build + warm caches
        n = 8
        t0 = time.monotonic()
        rec, _ = run(model, relaxed=True, windows=1, inferences=n, warmups=0)
        wall = time.monotonic() - t0
        w = rec.result(MlperfTinyResult).windows[0]
        print(f"{model:6} {macs:>10,} {w.latency_s * 1e3:>16.1f} ms {w.instructions / n / macs:>9.1f} "
              f"{wall / n * 1e3:>11.0f} ms")
    t0 = time.monotonic()
    rec, _ = run("vww01", relaxed=True, windows=1, inferences=1, warmups=0)
    print(f"vww01 input load + 1 inference: {time.monotonic() - t0:.2f} s for 27648 bytes in db lines")
    rec, wall = run("kws01")
    score = rec.result(MlperfTinyResult)
    print(f"strict MLPerf Tiny kws01: {rec.stop_reason}, latency {score.latency_s * 1e3:.1f} ms (emulated), "
          f"valid={score.valid}")
    print(f"{wall:.1f}")


if __name__ == "__main__":
    main()
