"""The agent's timing overhead: its median latency / a bare invoke() loop's median.

Both time the same interpreter object (set up exactly as the agent sets it up) in one
process, alternating in blocks (ABAB…), so the machine's drift, the process's memory
layout and the CPU's clock hit both alike. "Agent" is the agent's own measuring loop
(`_warmup_then_steady`, fixed count, its JSON lines printed to a buffer as they would
be to the pipe); "bare" is the least code that can time invoke(). Pin the process to
one CPU for steadier figures (`taskset -c 1 python benchmarks/overhead.py`).
Target: ratio <= 1.005.
Short blocks matter: on a shared VM the latency drifts by ±10 % over seconds, so the
headline figure is the median of per-round (paired) ratios over many short rounds.
Usage: python benchmarks/overhead.py [--model ZOO_ID] [--rounds 200] [--count 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
from types import SimpleNamespace

from harness import zoo
from harness.agent import agent


def bare_median_ns(invoke, count: int) -> int:
    mono = time.monotonic_ns
    lat = []
    for _ in range(count):
        t0 = mono()
        invoke()
        lat.append(mono() - t0)
    return int(statistics.median(lat))


def agent_median_ns(invoke, count: int) -> int:
    args = SimpleNamespace(warmup_min=3, warmup_max_time=10.0)
    rule = {"mode": "fixed", "count": count, "time_s": None, "max_time_s": 600.0, "ci_target": 0.01,
            "min_iters": 10, "min_time_s": 0.0}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        agent._warmup_then_steady(invoke, args, rule)
    steady = []
    for line in out.getvalue().splitlines():
        ev = json.loads(line)
        if ev["event"] == "samples" and ev["phase"] == "steady":
            steady += ev["latency_ns"]
    assert len(steady) == count, len(steady)
    return int(statistics.median(steady))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_0.35_96")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--count", type=int, default=200)
    args = ap.parse_args()
    path = zoo.model_file(args.model)
    model = agent.TfliteModel()
    model.prepare(path.read_bytes(), 1, agent.input_maker(None, 0))
    invoke = model.invoke
    for _ in range(300):  # both loops start warm
        invoke()
    a_meds, b_meds, ratios = [], [], []
    for r in range(args.rounds):
        a = agent_median_ns(invoke, args.count)
        b = bare_median_ns(invoke, args.count)
        a_meds.append(a)
        b_meds.append(b)
        ratios.append(a / b)
        print(f"round {r:3d}: agent {a / 1e3:7.1f} us  bare {b / 1e3:7.1f} us  ratio {a / b:.4f}")
    ma, mb = statistics.median(a_meds), statistics.median(b_meds)
    print(f"ratio of the medians of round medians: {ma / mb:.4f} ({ma / 1e3:.1f} us vs {mb / 1e3:.1f} us)")
    print(f"RESULT agent/bare median latency ratio {statistics.median(ratios):.4f} (median of {args.rounds} "
          f"paired rounds of {args.count} inferences, {args.model}, {model.library} {model.version})")


if __name__ == "__main__":
    main()
