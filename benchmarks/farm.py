"""How busy the farm keeps its devices: 8 emulated devices on 3 Ray nodes, 40 short jobs.

Three `harness farm host` processes on loopback stand for three lab hosts (3 + 3 + 2
devices); each device is a real OpenSSH sshd "board" (tests/ssh/sshd.py) running the
agent. The plan is 4 MLPerf Tiny models × 10 seeds, fixed 50 iterations, no telemetry:
40 short jobs of one class, so any device may take any job.

Figures, from the device actors' own timestamps (each job: the liveness check, the run,
packing the record):

- busy share of a device = time in jobs / wall time of the run phase; the run phase goes
  from the moment every device's actor is up to the last result. Median over the devices.
- scheduling overhead of a job = the idle gap on its device between the end of its
  previous job and its start (for a device's first job: from the start of the run phase).
  Median over the jobs, in ms.

A device's idle time is those gaps plus its tail: from the end of its last job to the
last result of the plan, printed per device before the figures. With about five jobs a
device, the tail (some devices run the plan's last jobs while the others have none
left) is most of it; where each device's jobs fall, `--timeline FILE` writes.

The last two lines are the figures. Measured on a shared 2-core machine, the eight jobs
running at once compete for the CPU (they get slower), which does not change how much
of the time the devices are kept busy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from harness.farm.plan import load_plan  # noqa: E402
from harness.farm.scheduler import run_plan  # noqa: E402
from harness.store.store import RunStore  # noqa: E402
from tests.farm.lab import Peers, RayLab, write_farm  # noqa: E402

HOSTS = {
    "lab-a": ["board-1", "board-2", "board-3"],
    "lab-b": ["board-4", "board-5", "board-6"],
    "lab-c": ["board-7", "board-8"],
}
MODELS = ["kws01-int8-tflite", "ad01-int8-tflite", "vww01-int8-tflite", "ic01-int8-tflite"]
SEEDS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeline", type=Path, help="also write every attempt (device, job, start, end) as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="farm-bench-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        lab = RayLab(folder, folder / "config", HOSTS)
        stack.callback(lab.stop)
        print("starting 3 Ray nodes ...", flush=True)
        lab.start_all()
        peers = Peers(folder / "peers", stack)
        for devices in HOSTS.values():
            for d in devices:
                peers.board(d)
        farm = write_farm(folder / "farm.yaml", peers.profiles, HOSTS)
        plan_file = folder / "plan.yaml"
        plan_file.write_text(yaml.safe_dump({
            "name": "bench", "farm": str(farm),
            "matrix": {"models": MODELS, "classes": ["board"], "options": [{"seed": s} for s in range(SEEDS)]},
            "defaults": {"stop": {"mode": "fixed", "count": 50}, "telemetry": False, "baseline_s": 0,
                         "thermal_gate": False},
        }))
        plan = load_plan(plan_file)
        print(f"running {len(plan.jobs)} jobs on {sum(map(len, HOSTS.values()))} devices ...", flush=True)
        out = run_plan(plan, RunStore(folder / "results"), lab.address)

    failed = [(r.job.name, r.status, r.reason) for r in out.results if r.status != "passed"]
    if failed:
        raise SystemExit(f"{len(failed)} jobs did not pass: {failed[:3]}")
    start = max(d.ready_at for d in out.devices)
    end = out.t_last_result
    wall = end - start
    per_device: dict[str, list] = {d.id: [] for d in out.devices}
    for r in out.results:
        for a in r.attempts:
            per_device[a.device].append(a)
    shares, gaps, tails = [], [], []
    for device, attempts in sorted(per_device.items()):
        attempts.sort(key=lambda a: a.t_start)
        busy = sum(max(0.0, min(a.t_end, end) - max(a.t_start, start)) for a in attempts)
        shares.append(busy / wall)
        previous = start
        for a in attempts:
            gaps.append(max(0.0, a.t_start - previous))
            previous = a.t_end
        tails.append(end - max([start] + [a.t_end for a in attempts]))
        print(f"{device}: {len(attempts)} jobs, busy {busy:.1f} s of {wall:.1f} s ({busy / wall:.3f}), "
              f"idle after its last job {tails[-1]:.2f} s")
    if args.timeline:
        args.timeline.write_text(json.dumps({"start": start, "end": end, "attempts": [
            {"device": a.device, "job": r.job.name, "t_start": a.t_start, "t_end": a.t_end}
            for r in out.results for a in r.attempts]}, indent=1))
    job_s = [a.t_end - a.t_start for atts in per_device.values() for a in atts]
    print(f"job duration: median {statistics.median(job_s):.2f} s, max {max(job_s):.2f} s")
    print(f"idle per device: between jobs {sum(gaps) / len(shares):.2f} s (mean), "
          f"after its last job, the plan's tail, {statistics.median(tails):.2f} s (median)")
    print(f"device busy share (median over {len(shares)} devices): {statistics.median(shares):.3f}")
    print(f"scheduling overhead per job (median over {len(gaps)} jobs): {1e3 * statistics.median(gaps):.1f} ms")


if __name__ == "__main__":
    main()
