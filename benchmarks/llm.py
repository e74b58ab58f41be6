"""LLM on this host: harness's wall-time overhead around one llama-bench test, and decode
bandwidth utilisation.

1. Overhead: one llama-bench invocation with llama-bench's own default test set (``-p 512
   -n 128 -r 5 -o jsonl``: prompt processing of 512 tokens and generation of 128, five
   repetitions each; default model ``random-llama-medium-q8_0``: 6-11 s here, where a real
   model on a board takes minutes) run by the ``llama_bench`` runner through
   `harness.session.run_planned` — open the transport, find llama-bench, check
   the model on the target by its hash, start it, stream and parse its output, write the
   record — vs the same argv run bare (`subprocess.run`), in pairs whose order alternates
   (AB, BA, ...) so drift hits both.
   The figure is the median of the paired wall-time ratios (target <= 1.02), shown with the
   ratio of the fastest harness run to the fastest bare one (load from other processes only
   adds time, so on a busy machine that ratio is the steadier one) and harness's fixed cost
   per run in ms (median of harness - bare), which is what a shorter test
   (``--n-prompt 0 --reps 3``) divides by less. Telemetry and the
   thermal gate are off: their idle baselines and cooldown are waits the user asks for, not
   overhead. Planning (resolving and hashing the model once per session) is reported apart.
2. Decode bandwidth utilisation: the ``llama_ttft`` runner's decode rate on the same model
   (bigger than most caches) × bytes moved per decoded token (weights + KV cache,
   `harness.llm.costs`) ÷ the host's bandwidth, read from the run's summary roofline against
   the stored ceilings (``harness ceilings -d local``, under the results folder); without
   stored ceilings they are measured now (quick mode, not stored) unless ``--no-measure``.

The figures are the last lines (``RESULT …``). On a shared, busy machine both are noisy:
re-measure on a quiet one before comparing with the targets.
Usage: python benchmarks/llm.py [--rounds 5] [--threads 1] [--model random-llama-medium-q8_0]
       [--n-prompt 512] [--n-gen 128] [--reps 5] [--no-measure]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from harness import session
from harness.analysis.ceilings import load_ceilings, measure_ceilings
from harness.llm.build import ensure_llama_build
from harness.llm.costs import llm_roofline
from harness.llm.results import LlmResult
from harness.profiles import load_profile
from harness.store.store import RunStore

REPO = Path(__file__).resolve().parents[1]


def tiny_gguf(name: str) -> Path:
    spec = importlib.util.spec_from_file_location("tiny_gguf", REPO / "model_zoo" / "tiny_gguf.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.ensure(name)


def local_profile(folder: Path, llama_bench: Path) -> Path:
    """This host as device ``local`` (its stored ceilings apply), with the cached llama-bench."""
    data = load_profile("local").model_dump(mode="json", exclude_defaults=True)
    data["transport"]["workdir"] = str(folder / "work")
    data["tools"] = {"llama-bench": {"path": str(llama_bench)}}
    path = folder / "local.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def overhead(profile: Path, model: Path, store: RunStore, threads: int, rounds: int,
             test: dict) -> tuple[float, float, float, list[str], float]:
    """The median of the paired harness/bare ratios, the ratio of the fastest runs (noise
    from other processes only adds time, so the fastest of each is the least disturbed) and
    the median of the paired differences (harness's fixed cost per run)."""
    opts = session.RunOptions(runtime="llama_bench", threads=threads,
                              options={"n_prompt": test["n_prompt"], "n_gen": test["n_gen"]},
                              stop_fields={"count": test["reps"]}, telemetry=False, thermal_gate=False, baseline_s=0.0)
    t0 = time.perf_counter()
    (job,) = session.plan_runs([str(profile)], [str(model)], opts)
    plan_s = time.perf_counter() - t0
    first = session.run_planned(job, store)  # pushes the model once; every timed run finds it there
    assert first.status == "ok", first.error
    note = next(n for n in first.notes if n.startswith("llama-bench command: "))
    argv = note.removeprefix("llama-bench command: ").split()
    ratios, harness_times, bare_times, extra = [], [], [], []
    def timed_harness():
        t0 = time.perf_counter()
        m = session.run_planned(job, store)
        elapsed = time.perf_counter() - t0
        assert m.status == "ok", m.error
        return elapsed, m

    def timed_bare():
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        return time.perf_counter() - t0

    for r in range(rounds):
        # AB then BA: which one runs first alternates, so an order effect (a machine that
        # speeds up or slows down within a pair) cancels out over the rounds
        if r % 2 == 0:
            harness_s, m = timed_harness()
            bare_s = timed_bare()
        else:
            bare_s = timed_bare()
            harness_s, m = timed_harness()
        ratios.append(harness_s / bare_s)
        extra.append(harness_s - bare_s)
        harness_times.append(harness_s)
        bare_times.append(bare_s)
        rates = ", ".join(f"{p.name} {p.rate_per_s:.1f}" for p in m.result(LlmResult).phases)
        print(f"round {r:2d}: harness {harness_s:7.3f} s  bare {bare_s:7.3f} s  ratio {harness_s / bare_s:.4f}  "
              f"(tok/s: {rates})", flush=True)
    return (statistics.median(ratios), min(harness_times) / min(bare_times), statistics.median(extra), argv,
            plan_s)


def decode_utilisation(profile: Path, model: Path, store: RunStore, threads: int, no_measure: bool) -> str:
    opts = session.RunOptions(runtime="llama_ttft", threads=threads, options={"n_prompt": 32, "n_gen": 64},
                              stop_fields={"count": 5}, telemetry=False, thermal_gate=False, baseline_s=0.0)
    (job,) = session.plan_runs([str(profile)], [str(model)], opts)
    m = session.run_planned(job, store)
    assert m.status == "ok", m.error
    decode = m.result(LlmResult).of("decode")[0]
    prefill = m.result(LlmResult).of("prefill")[0]
    itl = decode.inter_token_s
    print(f"{model.name}: decode {decode.rate_per_s:.1f} tok/s (mean of {decode.repetitions}), "
          f"{decode.costs.bytes_per_token / 2**20:.2f} MiB and {decode.costs.flops_per_token / 1e6:.1f} MFLOP per token; "
          f"TTFT median {prefill.ttft_s.median_s * 1e3:.2f} ms, inter-token p50 {itl.median_s * 1e3:.2f} ms "
          f"p99 {itl.p99_s * 1e3:.2f} ms, peak RSS {m.summary.memory['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
    roof = m.summary.roofline
    where = f"stored ceilings {store.root / 'ceilings' / 'local.json'}"
    point = next((p for p in (roof or {}).get("points", []) if p["phase"] == "decode"), None)
    if point is None:
        if load_ceilings("local", store.root) is not None or no_measure:
            return "decode bandwidth utilisation: not computed (no usable ceilings for local: run `harness ceilings -d local`)"
        print("no stored ceilings for local: measuring them now (quick mode, not stored)", flush=True)
        ceilings = measure_ceilings(load_profile("local"), store.root, mode="quick", threads=threads, save=False)
        point = llm_roofline(decode.costs, decode.rate_per_s, ceilings, m.model.precision).model_dump()
        where = "ceilings measured now (quick mode)"
    return (f"decode bandwidth utilisation {point['bandwidth_utilisation']:.3f} of {point['level']} "
            f"({point['achieved_bytes_per_s'] / 1e9:.2f} GB/s of {point['bandwidth_bytes_per_s'] / 1e9:.2f} GB/s), "
            f"{model.stem} at {decode.rate_per_s:.1f} tok/s with {threads} thread(s), {where}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    # 1 by default: ggml's worker threads spin at their barriers, and on a shared machine a second
    # thread that is preempted stalls every token
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="random-llama-medium-q8_0")
    # llama-bench's own defaults: one invocation as people run it
    ap.add_argument("--n-prompt", type=int, default=512)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-measure", action="store_true", help="never measure ceilings, only use stored ones")
    args = ap.parse_args()
    build = ensure_llama_build(progress=lambda m: print(f"llama.cpp: {m}", flush=True))
    load = os.getloadavg()[0]
    model = tiny_gguf(args.model)
    store = RunStore()  # the user's results folder: where `harness ceilings -d local` stored the ceilings
    with tempfile.TemporaryDirectory(prefix="harness-llm-bench-") as tmp:
        profile = local_profile(Path(tmp), build.llama_bench)
        scratch = RunStore(Path(tmp) / "results")  # the timed runs' records do not litter the user's folder
        test = {"n_prompt": args.n_prompt, "n_gen": args.n_gen, "reps": args.reps}
        ratio, fastest, extra_s, argv, plan_s = overhead(profile, model, scratch, args.threads, args.rounds, test)
        (Path(tmp) / "results" / "ceilings").mkdir(parents=True, exist_ok=True)
        stored = store.root / "ceilings" / "local.json"
        if stored.is_file():
            (Path(tmp) / "results" / "ceilings" / "local.json").write_bytes(stored.read_bytes())
        utilisation = decode_utilisation(profile, model, scratch, args.threads, args.no_measure)
    busy = f"load average {load:.1f} on {os.cpu_count()} CPUs at start"
    if load > 1.5:
        busy = f"machine busy: {busy}; re-measure on a quiet host"
    shown = " ".join([Path(argv[0]).name, *(a if not a.endswith(".gguf") else Path(a).name for a in argv[1:])])
    print(f"RESULT llama-bench overhead ratio {ratio:.4f} (llama_bench runner via run_planned / bare, median of "
          f"{args.rounds} paired runs of `{shown}`; fastest harness run / fastest bare run {fastest:.4f}; "
          f"harness's cost per run (median harness - bare) {extra_s * 1e3:.0f} ms; planning once per session {plan_s * 1e3:.0f} ms, not counted; "
          f"target <= 1.02; {busy})")
    print(f"RESULT {utilisation}; {busy}")


if __name__ == "__main__":
    main()
