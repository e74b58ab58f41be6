"""Does writing a run as it is measured move the latency it records? Journal on vs off, interleaved.

The workload is the agent's own model object (LiteRT, set up exactly as the agent sets it
up) timed in a bare loop in this process. Beside it, a second process plays harness's
host side during a local run: it receives samples at `--rate` per second (in batches of
a tenth of a second, as the agent sends them) and telemetry at 20 Hz into a `Recorder`,
all the time; with the journal on, a real `RunJournal` (`RunStore.begin`) also appends
them to Arrow IPC streams every `CHUNK_S` and syncs them to disk. Both processes share one
CPU by default (a single-core board, the worst case; `--no-pin` lets the scheduler place
them). Rounds of one block off and one on, the order alternating, give a paired ratio of
median latencies; the figure is the median ratio over the rounds.

Target: ratio <= 1.005 (issue 11: chunking must not disturb the measurement).
Usage: python benchmarks/journal.py [--model ZOO_ID] [--rounds 20] [--block-s 2.5] [--rate 10000] [--no-pin]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perturbation import block_median_ns, warm_invoke  # noqa: E402 - the same workload and timed loop


def host_side(root: str, rate: int, journal_on, stop, ready) -> None:
    import harness
    from harness.owner import Owner
    from harness.store.journal import RunStart
    from harness.store.record import DeviceRef, ModelRef, RunConfig, RuntimeInfo
    from harness.store.recorder import Recorder
    from harness.store.store import RunStore

    store = RunStore(root)
    rec = Recorder(runtime=RuntimeInfo(name="tflite"))
    journal = None
    i = 0
    batch = max(1, rate // 10)
    ready.set()
    while not stop.is_set():
        if journal_on.is_set() and journal is None:
            started = dt.datetime.now(dt.timezone.utc)
            start = RunStart(run_id=store.new_run_id(started, "local", "m"), started_at=started,
                             device=DeviceRef(id="local", name="this host", transport="local"),
                             model=ModelRef(name="m", path="/m.tflite", sha256="0" * 64, format="tflite", size_bytes=1),
                             config=RunConfig(runtime="tflite"), harness_version=harness.__version__,
                             writer=Owner.me("benchmark"))
            rec = Recorder(runtime=RuntimeInfo(name="tflite"))  # a run's own rows, as in a session
            journal = store.begin(start, rec)
        elif not journal_on.is_set() and journal is not None:
            journal.close()
            journal = None
        t = time.monotonic_ns()
        for _ in range(batch):
            rec.add_sample(i, "steady", t + i, 100_000 + i % 97)
            i += 1
        rec.add_telemetry(t, "cpu0_freq", 1.5e9, "Hz")
        rec.add_telemetry(t, "soc_temp", 45.0, "C")
        time.sleep(0.1)
    if journal is not None:
        journal.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2_0.35_96")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--block-s", type=float, default=2.5)
    ap.add_argument("--rate", type=int, default=10_000, help="samples per second the host side receives")
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    if not args.no_pin:
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # the host-side process inherits it
    invoke = warm_invoke(args.model)

    ctx = mp.get_context("spawn")
    journal_on, stop, ready = ctx.Event(), ctx.Event(), ctx.Event()
    ratios = []
    with tempfile.TemporaryDirectory() as root:
        proc = ctx.Process(target=host_side, args=(root, args.rate, journal_on, stop, ready), daemon=True)
        proc.start()
        ready.wait(60)
        try:
            for r in range(args.rounds):
                off_first = r % 2 == 0
                if off_first:
                    off = block_median_ns(invoke, args.block_s)
                journal_on.set()
                on = block_median_ns(invoke, args.block_s)
                journal_on.clear()
                if not off_first:
                    time.sleep(0.2)  # the journal closes
                    off = block_median_ns(invoke, args.block_s)
                ratios.append(on / off)
                print(f"round {r:3d}: journal on {on / 1e3:9.1f} us  off {off / 1e3:9.1f} us  ratio {on / off:.4f}",
                      flush=True)
        finally:
            stop.set()
            proc.join(30)
        written = sum(f.stat().st_size for f in Path(root).rglob("*.arrows"))
    pin = "workload and host side on one CPU" if not args.no_pin else "unpinned"
    print(f"journal streams written: {written / 1e6:.1f} MB")
    print(f"RESULT median latency ratio journal on/off {statistics.median(ratios):.4f} "
          f"({min(ratios):.3f}-{max(ratios):.3f}; target <= 1.005); {args.model}, {pin}, {args.rate} samples/s, "
          f"{args.rounds} rounds of {args.block_s:g} s blocks")


if __name__ == "__main__":
    main()
