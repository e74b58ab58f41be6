"""Push cache: setup time of a second run with an unchanged 10 MB model / the first run's.

"Setup" is what a run does before the agent starts: connect, push the agent, push the
model (`harness.runners.agent` does exactly these pushes). The first run finds an
empty work folder on the target; the second finds both files already there and must
skip them by content hash. Each side is one function returning the median ratio over
a few repetitions (each repetition starts from an empty work folder).

- ssh: a real OpenSSH sshd on loopback (tests/ssh/sshd.py), SshTransport.
- adb: the emulated phone of tests/adb_emulator (real ADB protocol over loopback TCP),
  AdbTransport (adb-shell); the key is accepted once before timing starts.

Target: <= 0.1 on each transport. Loopback is the hardest case for this ratio: the
upload it saves is as fast as it will ever be, while per-command costs stay.
Usage: python benchmarks/push_cache.py [--reps 5] [--size-mb 10]
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
sys.path.insert(0, str(REPO))  # for tests.ssh.sshd

from harness.agent import AGENT_PATH  # noqa: E402
from harness.transports.base import CommandTransport  # noqa: E402


def timed_setup(make_transport, model: Path) -> tuple[float, bool]:
    """Seconds to connect and push agent + model; and whether any bytes were sent."""
    t0 = time.perf_counter()
    t: CommandTransport = make_transport()
    with t:
        sent = t.push(AGENT_PATH, t.path("agent", "agent.py"))
        sent |= t.push(model, t.path("models", "bench", model.name))
    return time.perf_counter() - t0, sent


def ssh_ratio(model: Path, reps: int) -> tuple[float, list[tuple[float, float]]]:
    from harness.transports.ssh import SshTransport
    from tests.ssh.sshd import start_sshd

    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        server = start_sshd(Path(tmp))
        try:
            profile = server.profile("bench-ssh")
            work = server.dir / "work"
            for _ in range(reps):
                shutil.rmtree(work, ignore_errors=True)
                first, sent1 = timed_setup(lambda: SshTransport(profile), model)
                second, sent2 = timed_setup(lambda: SshTransport(profile), model)
                assert sent1 and not sent2, "the second push should have been skipped"
                pairs.append((first, second))
        finally:
            server.stop()
    return statistics.median(s / f for f, s in pairs), pairs


def adb_ratio(model: Path, reps: int) -> tuple[float, list[tuple[float, float]]]:
    """An emulated phone (tests/adb_emulator: the real ADB protocol on loopback), AdbTransport."""
    from harness.transports.adb import AdbTransport
    from tests.adb_emulator.fixtures import emulated_phone

    pairs = []
    old = time.time() - 60
    os.utime(model, (old, old))  # a model on disk is not seconds old (digests of racy files are not cached)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CONFIG_DIR"] = str(Path(tmp) / "config")  # a throwaway adbkey
        with emulated_phone(Path(tmp)) as phone:
            with AdbTransport(phone.profile):  # the phone accepts the new key once, outside the timing
                pass
            work = phone.device_path(phone.profile.transport.workdir)
            for _ in range(reps):
                shutil.rmtree(work, ignore_errors=True)
                first, sent1 = timed_setup(lambda: AdbTransport(phone.profile), model)
                second, sent2 = timed_setup(lambda: AdbTransport(phone.profile), model)
                assert sent1 and not sent2, "the second push should have been skipped"
                pairs.append((first, second))
    return statistics.median(s / f for f, s in pairs), pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size-mb", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.tflite"
        model.write_bytes(os.urandom(int(args.size_mb * 1e6)))  # pushes never parse the model
        figures = []
        for name, fn in (("ssh", ssh_ratio), ("adb", adb_ratio)):
            try:
                ratio, pairs = fn(model, args.reps)
            except NotImplementedError as e:
                print(f"{name}: {e}")
                continue
            for f, s in pairs:
                print(f"{name}: first {f * 1e3:7.1f} ms  second {s * 1e3:6.1f} ms  ratio {s / f:.3f}")
            figures.append(f"{name} {ratio:.3f}")
    print(f"push cache, second/first setup time for a {args.size_mb:g} MB model (target <= 0.1): " + ", ".join(figures))


if __name__ == "__main__":
    main()
