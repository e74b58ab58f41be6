"""Does the telemetry sampler move the latency it records? Sampler on vs off, interleaved.

The workload is the agent's own model object (LiteRT, set up exactly as the agent sets
it up) timed in a bare loop in this process; the sampler is the real one (`Sampler` over
the local transport) reading a Jetson Orin Nano fixture tree (16 files per sample) and
following this process's pid, as it follows the agent's. For each sampler mode (native,
Python, shell under dash) and rate (the profile default 20 Hz, and 100 Hz), rounds of
one block with the sampler off and one with it on, the order alternating (ABBA), give a
paired ratio of median latencies; the figure is the median ratio over the rounds. The
sampler's own CPU share is utime+stime of it and its reaped children (/proc) between
its start and its stop per wall second, as the record reports it (an interpreter's
start-up is left out), over one longer run per configuration (`--cost-s`, 5 s: /proc
counts 10 ms ticks, 0.2 % of 5 s) with the workload running beside it.

By default the workload and the sampler share one CPU (`taskset`-like affinity that the
sampler inherits): the worst case, a single-core board or a busy cluster; `--no-pin`
lets the scheduler place them.

Targets: latency ratio <= 1.01 at the default rate; sampler <= 2 % of one core at 100 Hz.
Usage: python benchmarks/perturbation.py [--model ZOO_ID] [--rounds 30] [--block-s 0.5] [--no-pin]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests/telemetry/fixtures/sysfs/jetson_orin_nano"
SENSORS = {"thermal_zones": ["*"], "cpufreq_cpus": [0, 1, 2, 3, 4, 5],
           "hwmon_rails": [{"label": "VDD_IN"}, {"label": "VDD_SOC"}]}
CONFIGS = [("native", "sh"), ("python", "sh"), ("shell", "dash")]
RATES = (20.0, 100.0)


def block_median_ns(invoke, seconds: float) -> float:
    mono, lat = time.monotonic_ns, []
    end = mono() + int(seconds * 1e9)
    while True:
        t0 = mono()
        invoke()
        t1 = mono()
        lat.append(t1 - t0)
        if t1 >= end:
            return statistics.median(lat)


def warm_invoke(zoo_id: str):
    """The agent's own model object for `zoo_id`, set up as the agent sets it up and warmed:
    its invoke()."""
    from harness import zoo
    from harness.agent import agent

    model = agent.TfliteModel()
    model.prepare(zoo.model_file(zoo_id).read_bytes(), 1, agent.input_maker(None, 0))
    for _ in range(300):
        model.invoke()
    return model.invoke


def main() -> None:
    from harness.profiles import DeviceProfile
    from harness.telemetry.sampler import Sampler
    from harness.transports.local import LocalTransport

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2_0.35_96")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--block-s", type=float, default=0.5)
    ap.add_argument("--cost-s", type=float, default=5.0, help="sampling time of the CPU-share measurement")
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    if not args.no_pin:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # the sampler, started from here, inherits it
    invoke = warm_invoke(args.model)

    results = {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        root = tmp / "tree"
        shutil.copytree(FIXTURE, root)
        pid_file = tmp / "wd" / "agent.pid"
        pid_file.parent.mkdir()
        pid_file.write_text(f"{os.getpid()}\n")
        prof = DeviceProfile(id="local", name="local", sensors=SENSORS,
                             transport={"kind": "local", "workdir": str(tmp / "wd")})
        with LocalTransport(prof) as t:
            print(f"{'mode':8} {'rate Hz':>7} {'ratio on/off':>12} {'(min-max)':>15} {'CPU % core':>10} "
                  f"{'achieved Hz':>11}", flush=True)
            for mode, shell in CONFIGS:
                for rate in RATES:
                    ratios, achieved = [], []
                    for r in range(args.rounds):
                        s = Sampler(t, prof, rate_hz=rate, root=str(root), pid_file=str(pid_file), mode=mode,
                                    shell=shell)
                        off_first = r % 2 == 0
                        if off_first:
                            off = block_median_ns(invoke, args.block_s)
                        s.start()
                        s.wait_samples(2)
                        on = block_median_ns(invoke, args.block_s)
                        s.stop()
                        if not off_first:
                            off = block_median_ns(invoke, args.block_s)
                        ratios.append(on / off)
                        achieved.append(s.achieved_rate_hz or 0.0)
                    s = Sampler(t, prof, rate_hz=rate, root=str(root), pid_file=str(pid_file), mode=mode, shell=shell)
                    s.start()
                    s.wait_samples(2)
                    block_median_ns(invoke, args.cost_s)
                    s.stop()
                    share = s.own_cpu_fraction or 0.0
                    results[(mode, rate)] = (statistics.median(ratios), share)
                    print(f"{mode:8} {rate:7.0f} {statistics.median(ratios):12.4f} "
                          f"({min(ratios):.3f}-{max(ratios):.3f}) {100 * share:10.2f} "
                          f"{statistics.median(achieved):11.1f}", flush=True)
    pin = "workload and sampler on one CPU" if not args.no_pin else "unpinned"
    default = ", ".join(f"{m} {results[(m, RATES[0])][0]:.4f}" for m, _ in CONFIGS)
    cost = ", ".join(f"{m} {100 * results[(m, RATES[1])][1]:.2f} %" for m, _ in CONFIGS)
    print(f"RESULT median latency ratio sampler on/off at the default {RATES[0]:g} Hz: {default} (target <= 1.01); "
          f"sampler CPU share at {RATES[1]:g} Hz: {cost} of one core (target <= 2 %); {args.model}, {pin}, "
          f"{args.rounds} rounds of {args.block_s:g} s blocks")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
