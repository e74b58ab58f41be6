"""LLM on this host: harness's overhead around llama-bench, and decode bandwidth utilisation.

1. Overhead: one llama-bench test (``-p 0 -n N -o jsonl``) run through harness's library path
   (`harness.llm.execute.run_llama_bench` over the local transport: spawn, wait, parse) vs the
   same argv run bare (`subprocess.run`), alternating A/B so drift hits both; the figure is the
   median of the paired wall-time ratios. Target: <= 1.02.
2. Decode bandwidth utilisation: the TTFT driver's median decode rate on a random-weight GGUF
   (default ``random-llama-medium-q8_0``, ~27 MB of weights: bigger than most caches) ×
   bytes moved per decoded token (weights + KV cache, `harness.llm.costs.decode_costs`) ÷
   the host's memory bandwidth from ``harness ceilings -d local`` (stored under the results
   folder). Without stored ceilings it measures them now (quick mode, not stored) unless
   ``--no-measure`` is given, and says which it used.

The figures are the last lines (``RESULT …``). On a shared, busy machine both are noisy:
re-measure on a quiet one before comparing with the targets.
Usage: python benchmarks/llm.py [--rounds 15] [--threads 1] [--model random-llama-medium-q8_0] [--no-measure]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.analysis.ceilings import load_ceilings, measure_ceilings
from harness.llm.build import ensure_llama_build
from harness.llm.costs import decode_costs, llm_roofline
from harness.llm.driver import DriverOptions, llama_bench_argv
from harness.llm.execute import run_driver, run_llama_bench
from harness.llm.gguf_model import read_gguf
from harness.profiles import load_profile
from harness.store.store import RunStore
from harness.transports.local import LocalTransport

REPO = Path(__file__).resolve().parents[1]


def tiny_gguf(name: str) -> Path:
    spec = importlib.util.spec_from_file_location("tiny_gguf", REPO / "model_zoo" / "tiny_gguf.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.ensure(name)


def overhead(transport: LocalTransport, argv: list[str], rounds: int) -> float:
    subprocess.run(argv, capture_output=True, check=True)  # both start with the file in the page cache
    ratios = []
    for r in range(rounds):
        t0 = time.perf_counter()
        log = run_llama_bench(transport, argv)
        harness_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        bare_s = time.perf_counter() - t0
        ratios.append(harness_s / bare_s)
        print(f"round {r:2d}: harness {harness_s * 1e3:7.1f} ms  bare {bare_s * 1e3:7.1f} ms  "
              f"ratio {harness_s / bare_s:.4f}  ({log.tests[0].test} {log.tests[0].tokens_per_s:.1f} tok/s)")
    return statistics.median(ratios)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    # 1 by default: ggml's worker threads spin at their barriers, and on a shared machine a second
    # thread that is preempted stalls every token (33 s instead of 0.2 s for a tiny run here)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="random-llama-medium-q8_0")
    ap.add_argument("--overhead-model", default="random-llama-small-q4_0")
    ap.add_argument("--no-measure", action="store_true", help="never measure ceilings, only use stored ones")
    args = ap.parse_args()
    build = ensure_llama_build(progress=lambda m: print(f"llama.cpp: {m}", flush=True))
    load = os.getloadavg()[0]
    with LocalTransport(load_profile("local")) as local:
        argv = llama_bench_argv(build.llama_bench, tiny_gguf(args.overhead_model), n_prompt=0, n_gen=64, reps=3,
                                threads=args.threads)
        ratio = overhead(local, argv, args.rounds)

        model_path = tiny_gguf(args.model)
        model = read_gguf(model_path)
        opts = DriverOptions(n_prompt=32, n_gen=64, reps=5, warmup=1, threads=args.threads)
        res = run_driver(local, build.driver, model_path, opts)
    decode_tps = statistics.median(res.decode_tokens_per_s())
    costs = decode_costs(model, context=opts.n_prompt + 1, n_tokens=opts.n_gen - 1)
    print(f"{args.model}: {model.n_params / 1e6:.1f} M weights, {model.weight_bytes / 2**20:.1f} MiB; "
          f"decode {decode_tps:.1f} tok/s (median of {len(res.measured)}), {costs.bytes_per_token / 2**20:.2f} MiB "
          f"and {costs.flops_per_token / 1e6:.1f} MFLOP per token; TTFT median {res.ttft().median_s * 1e3:.2f} ms, "
          f"inter-token p50 {res.inter_token().median_s * 1e3:.2f} ms p99 {res.inter_token().p99_s * 1e3:.2f} ms, "
          f"peak RSS {res.peak_rss_bytes / 2**20:.0f} MiB")

    root = RunStore().root
    ceilings = load_ceilings("local", root)
    where = f"stored ceilings {root / 'ceilings' / 'local.json'}"
    if ceilings is None and not args.no_measure:
        print("no stored ceilings for local: measuring them now (quick mode, not stored)", flush=True)
        ceilings = measure_ceilings(load_profile("local"), root, mode="quick", threads=args.threads, save=False)
        where = "ceilings measured now (quick mode)"
    busy = f"machine busy: load average {load:.1f} on {os.cpu_count()} CPUs at start; re-measure on a quiet host"
    print(f"RESULT llama-bench overhead ratio {ratio:.4f} (harness library path / bare, median of {args.rounds} "
          f"paired runs of `{' '.join(Path(a).name if i < 1 else a for i, a in enumerate(argv[:1] + argv[3:]))}`; "
          f"target <= 1.02; {busy})")
    if ceilings is None or not ceilings.bandwidth_bytes_per_s:
        print("RESULT decode bandwidth utilisation: not computed (no ceilings for local: run `harness ceilings -d "
              "local`)")
        return
    point = llm_roofline(costs, decode_tps, ceilings, model.precision)
    dram = ceilings.bandwidth_bytes_per_s[ceilings.memory_level()]
    print(f"RESULT decode bandwidth utilisation {point.bandwidth_utilisation:.3f} of {point.level} "
          f"({point.achieved_bytes_per_s / 1e9:.2f} GB/s of {point.bandwidth_bytes_per_s / 1e9:.2f} GB/s; "
          f"{costs.bytes_per_token * decode_tps / dram:.3f} of {ceilings.memory_level()}), {args.model} at "
          f"{decode_tps:.1f} tok/s with {args.threads} thread(s), {where}; {busy}")


if __name__ == "__main__":
    main()
