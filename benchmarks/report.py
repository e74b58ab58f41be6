"""How long `harness report` takes, and how big its file is, for a run with 1 M latency
samples and 1 M telemetry points (targets: ≤ 5 s and ≤ 5 MB).

Writes one such record (plus a small second run, so the page has a comparison) through
the real store into a temporary results folder, then times `build_report` end to end:
reading the Parquet tables, summarising, downsampling, building the figures and writing
the HTML. Setup time is not counted. The last line prints both figures.
Usage: python benchmarks/report.py [--samples 1000000] [--telemetry 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.report.records

from harness.report.dashboard import build_report  # noqa: E402
from harness.store.store import RunStore  # noqa: E402
from tests.report.records import write_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--telemetry", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="harness-report-bench-") as tmp:
        store = RunStore(Path(tmp) / "results")
        print(f"writing a record with {args.samples} samples and {args.telemetry} telemetry points…", file=sys.stderr)
        write_run(store, "big_run", samples=args.samples, median_s=1e-3, telemetry_points=args.telemetry,
                  channels=("thermal/cpu", "freq/cpu0", "freq/cpu4", "power/VDD_IN"), seed=1)
        write_run(store, "small_run", samples=2000, median_s=3e-3, seed=2)
        times, size = [], 0
        for _ in range(args.repeat):
            info = build_report(store.root, Path(tmp) / "reports" / "index.html")
            times.append(info.seconds)
            size = info.size_bytes
        print(f"build times: {', '.join(f'{t:.2f}' for t in times)} s", file=sys.stderr)
    t = statistics.median(times)
    print(f"report for {args.samples} samples + {args.telemetry} telemetry points: "
          f"{t:.2f} s (target 5 s), {size / 1e6:.2f} MB (target 5 MB)")


if __name__ == "__main__":
    main()
