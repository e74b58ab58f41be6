"""How long static analysis of mobilenet_v2_1.0_224 takes (target: well under 1 s).

Times `harness.analysis.static.analyze` in-process (median of several runs, after one
warm-up for imports) and, for reference, the whole `harness zoo analyze --json`
command in a fresh process. The fp32 TFLite file is built on demand the first time
(needs the `build` extra); pass --model to time another zoo id or file.
The last line is the figure: the in-process median in seconds.
Usage: python benchmarks/analyze.py [--model mobilenet_v2_1.0_224] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from harness import zoo
from harness.analysis.static import analyze


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_1.0_224")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    path = zoo.model_file(args.model, build=True) if zoo.resolve(args.model) else args.model
    analyze(path, mcu=False)  # imports and file cache warm
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        result = analyze(path, mcu=False)
        times.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", "zoo", "analyze", str(path), "--json", "--no-mcu"],
                          capture_output=True, text=True)
    cli_s = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"harness zoo analyze failed: {proc.stderr.strip()}")

    print(f"model: {path} ({result.format}, {result.precision}, {result.size_bytes / 1e6:.1f} MB, "
          f"{len(result.ops)} ops, {result.macs / 1e6:.1f} M MACs)")
    print(f"in-process analyze(): median {statistics.median(times):.4f} s, min {min(times):.4f} s "
          f"over {args.runs} runs")
    print(f"`harness zoo analyze --json` in a fresh process: {cli_s:.3f} s (interpreter start and imports included)")
    print(f"analyze_seconds {statistics.median(times):.4f}")


if __name__ == "__main__":
    main()
