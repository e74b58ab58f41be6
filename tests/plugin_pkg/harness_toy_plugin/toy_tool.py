"""The toy 'runtime', run on the target: sleeps work_ms per inference and prints one JSON
line per inference with the device's monotonic clock. Standard library only."""

import json
import sys
import time


def main() -> None:
    model, count = sys.argv[1], int(sys.argv[2])
    fields = dict(line.split("=", 1) for line in open(model).read().splitlines()[1:] if "=" in line)
    work_s = float(fields.get("work_ms", "1")) / 1000
    print(json.dumps({"event": "hello", "version": "toy 1.0"}), flush=True)
    for i in range(count):
        t0 = time.monotonic_ns()
        time.sleep(work_s)
        print(json.dumps({"event": "sample", "i": i, "start_ns": t0, "latency_ns": time.monotonic_ns() - t0}),
              flush=True)


if __name__ == "__main__":
    main()
