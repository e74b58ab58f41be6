"""The agent's timing overhead: its median latency / a bare invoke() loop's median.

Both run the same ~1 ms model with the same interpreter settings, in separate
processes, interleaved ABAB over several rounds so drift in the machine's state
hits both alike. The agent runs exactly as `harness run` starts it (local transport,
fixed count); the bare loop is the least code that can time invoke().
Target: ratio <= 1.005.
Usage: python benchmarks/overhead.py [--model ZOO_ID] [--rounds 6] [--count 3000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile

from harness import zoo

BARE = r"""
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
path, count = sys.argv[1], int(sys.argv[2])
it = Interpreter(model_content=open(path, "rb").read(), num_threads=1)
it.allocate_tensors()
for d in it.get_input_details():
    it.set_tensor(d["index"], np.random.default_rng(0).uniform(-1, 1, d["shape"]).astype(d["dtype"]))
invoke, mono = it.invoke, time.monotonic_ns
for _ in range(200):
    invoke()
lat = []
for _ in range(count):
    t0 = mono(); invoke(); lat.append(mono() - t0)
lat.sort()
print(lat[len(lat) // 2])
"""


def bare_median_ns(path: str, count: int) -> int:
    out = subprocess.run([sys.executable, "-c", BARE, path, str(count)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def agent_median_ns(model: str, count: int, store) -> int:
    from harness.session import RunOptions, plan_runs, run_planned
    from harness.store.record import StopRule

    opts = RunOptions(threads=1, stop=StopRule(mode="fixed", count=count, warmup_min=200), telemetry=False,
                      thermal_gate=False)
    (job,) = plan_runs(["local"], [model], opts)
    m = run_planned(job, store)
    assert m.status == "ok", m.error
    return int(round(m.summary.latency.median_s * 1e9))


def main() -> None:
    from harness.store.store import RunStore

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_0.35_96")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args()
    path = str(zoo.model_file(args.model))
    agent, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for r in range(args.rounds):
            a = agent_median_ns(args.model, args.count, store)
            b = bare_median_ns(path, args.count)
            agent.append(a)
            bare.append(b)
            print(f"round {r}: agent {a / 1e3:.1f} us  bare {b / 1e3:.1f} us  ratio {a / b:.4f}")
    ma, mb = statistics.median(agent), statistics.median(bare)
    print(f"RESULT agent/bare median latency ratio {ma / mb:.4f} ({ma / 1e3:.1f} us vs {mb / 1e3:.1f} us, "
          f"{args.model}, {args.rounds} interleaved rounds of {args.count})")


if __name__ == "__main__":
    main()
