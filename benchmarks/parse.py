"""Time and peak memory to parse 50 MB of tegrastats and of a benchmark_model op profile
(targets: at most 10 s and 200 MB each).

The inputs are written to a temporary folder from the verbatim captures: tegrastats lines of
every JetPack release in the captures, repeated with new numbers each time; a benchmark_model
log whose op-profiling tables hold as many operators as fit in the size (the layout of the
i.MX 8M Plus capture).
Each file is parsed in a fresh Python process, as `harness telemetry parse` and `harness
ingest` would read it (streamed from the file); that process reports its wall time and its
peak resident memory (imports included, and the baseline after imports for reference).
The last line is the figures: `parse_seconds_max <s> parse_cpu_seconds_max <s>
parse_peak_mb_max <MiB>`, the worse of the two inputs (wall time, the CPU time of the parsing
process — what wall time is on an idle machine — and peak RSS).
Usage: python benchmarks/parse.py [--mb 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEGRA = ROOT / "tests" / "telemetry" / "fixtures" / "tegrastats"
OP_LOG = ROOT / "tests" / "android" / "fixtures" / "imx8mp_mobilenet_CPU_op_profiling.log.txt"

CHILD = r"""
import json, resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
if kind == "tegrastats":
    from harness.telemetry.parse import parse_file
    run = lambda: parse_file("tegrastats", path)
else:
    from harness.runners.benchmark_model_log import parse_file
    run = lambda: parse_file(path)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0, c0 = time.perf_counter(), time.process_time()
result = run()
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
if kind == "tegrastats":
    what = {"readings": len(result.readings), "channels": len(result.channels()), "problems": result.problem_count}
else:
    what = {"ops": len(result.ops), "steady_count": result.steady.count if result.steady else None}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak, "baseline_mb": base, **what}))
"""


# the numbers of a tegrastats line (not those in names like GR3D or soc2, nor PMIC@100C)
_TEGRA_NUMBER = re.compile(r"(?<!PMIC@)(?<![\w.\-])\d{1,9}(?:\.\d{1,9})?(?!\d)")


def write_tegrastats(path: Path, size: int) -> None:
    """The captures' lines over and over, each time with other numbers (as a device prints them:
    the same fields, new readings), so that no line is read twice."""
    rng = random.Random(50)
    lines = [ln for f in sorted(TEGRA.glob("*.txt")) for ln in f.read_text().splitlines() if ln.strip()]
    shapes = []
    for ln in lines:
        stamp = ln[:20] if ln[:1].isdigit() and ln[2:3] == "-" else ""
        body = ln[len(stamp):]
        shapes.append((stamp, _TEGRA_NUMBER.split(body), ["." in m.group() for m in _TEGRA_NUMBER.finditer(body)]))
    written = 0
    with open(path, "w") as fh:
        while written < size:
            for stamp, parts, decimal in shapes:
                out = [stamp, parts[0]]
                for is_decimal, text in zip(decimal, parts[1:]):
                    whole = rng.randrange(2000)
                    out.append(f"{whole}.{rng.randrange(1000)}" if is_decimal else str(whole))
                    out.append(text)
                line = "".join(out) + "\n"
                fh.write(line)
                written += len(line)


def write_op_profile(path: Path, size: int) -> None:
    """The capture's log with its Run Order table grown to fill `size` bytes."""
    text = OP_LOG.read_text()
    marker = "============================== Run Order ==============================\n"
    cut = text.index(marker, text.index("Operator-wise Profiling Info for Regular Benchmark Runs"))
    head, rest = text[:cut], text[cut + len(marker):]
    header, rows_and_tail = rest.split("\n", 1)
    template_rows = [r for r in rows_and_tail.split("\n\n", 1)[0].splitlines() if r.strip()]
    tail = rows_and_tail.split("\n\n", 1)[1]
    with open(path, "w") as fh:
        fh.write(head + "============================== Run Order ==============================\n" + header + "\n")
        written, i = len(head), 0
        while written < size - len(tail):
            cells = template_rows[i % len(template_rows)].split("\t")
            cells[-1] = f"[model/block_{i // 31}/{cells[-1].split('/')[-1].split(']')[0]}]:{i}"
            row = "\t".join(cells) + "\n"
            fh.write(row)
            written += len(row)
            i += 1
        fh.write("\n" + tail)


def measure(kind: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"parsing {path} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50.0, help="size of each input in MiB")
    ap.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    args = ap.parse_args()
    size = int(args.mb * 2**20)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        figures = {}
        for kind, writer in (("tegrastats", write_tegrastats), ("benchmark_model", write_op_profile)):
            path = folder / f"{kind}.txt"
            writer(path, size)
            got = measure(kind, path)
            figures[kind] = got
            extra = {k: v for k, v in got.items() if k not in ("seconds", "cpu_seconds", "peak_mb", "baseline_mb")}
            print(f"{kind}: {path.stat().st_size / 2**20:.1f} MiB parsed in {got['seconds']:.2f} s "
                  f"({got['cpu_seconds']:.2f} s of CPU), peak RSS "
                  f"{got['peak_mb']:.0f} MiB (baseline after imports {got['baseline_mb']:.0f} MiB); {extra}")
    worst_s = max(f["seconds"] for f in figures.values())
    worst_mb = max(f["peak_mb"] for f in figures.values())
    print(f"targets: <= 10 s and <= 200 MiB each: {'met' if worst_s <= 10 and worst_mb <= 200 else 'NOT met'}")
    worst_cpu = max(f["cpu_seconds"] for f in figures.values())
    print(f"parse_seconds_max {worst_s:.2f} parse_cpu_seconds_max {worst_cpu:.2f} parse_peak_mb_max {worst_mb:.0f}")


if __name__ == "__main__":
    main()
