"""The sampler's Python mode: same arguments and output lines as sampler.sh.

Sent to the target as ``python3 -c <this file> PERIOD_US MAX_S PIDFILE TMPDIR TEGRA_MS
VC_S PMIC_S PATH...``; standard library only, Python 3.6+ like the agent (see
harness/agent/matrix.py). Stamps are CLOCK_MONOTONIC in nanoseconds -- exactly the
agent's clock, read the same way (``time.monotonic_ns``, on 3.6 ``time.monotonic()``
scaled) -- so no clock mapping is needed (header ``clock=monotonic``).

This file stays ASCII and writes UTF-8 bytes itself: Python 3.6 under the C locale
(an ssh session without LANG) cannot encode non-ASCII ``-c`` code nor print non-ASCII
text, and a sensor file or tool line may hold any byte.
"""

import os
import signal
import subprocess
import sys
import threading
import time

T = "\t"
#: CLOCK_MONOTONIC in integer nanoseconds (3.6 has no time.monotonic_ns)
monotonic_ns = getattr(time, "monotonic_ns", None) or (lambda: int(time.monotonic() * 1e9))
out_lock = threading.Lock()


def emit(line):
    data = (line + "\n").encode("utf-8", "replace")
    with out_lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def read_value(path):
    # opened each time, like the shell does: a file replaced on disk (a rebound hwmon
    # device, a fixture) is followed, and a vanished one reads as missing
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError:
        return "-"
    text = data.decode("utf-8", "replace").split("\n", 1)[0].strip()
    return text.replace(T, " ") or "-"


def stream_command(tag, argv):
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    children.append(proc)

    def pump():
        for line in proc.stdout:
            emit(tag + T + str(monotonic_ns()) + T + line.decode("utf-8", "replace").rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return proc


def vc_loop(period_s, commands):
    while True:
        stamp = str(monotonic_ns())
        for cmd in commands:
            try:
                res = subprocess.run(["vcgencmd"] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
            except (OSError, subprocess.SubprocessError):
                continue
            for line in res.stdout.decode("utf-8", "replace").splitlines():
                emit("V" + T + stamp + T + line)
        time.sleep(period_s)


def main(argv):
    period_ns = int(argv[0]) * 1000
    max_s, pidfile, _tmpdir = float(argv[1]), argv[2], argv[3]
    tegra_ms, vc_s, pmic_s = int(argv[4]), float(argv[5]), float(argv[6])
    paths = argv[7:]

    def stop(reason):
        for p in children:
            if p.poll() is None:
                p.terminate()
        try:
            emit("E" + T + reason)
        except OSError:
            pass  # nobody reads any more (the pipe closed): just go
        os._exit(0)

    signal.signal(signal.SIGTERM, lambda *_: stop("term"))
    signal.signal(signal.SIGHUP, lambda *_: stop("term"))
    signal.signal(signal.SIGINT, lambda *_: stop("term"))
    emit("H" + T + "clock=monotonic" + T + "wait=sleep" + T + "pid=" + str(os.getpid()))
    if tegra_ms:
        stream_command("T", ["tegrastats", "--interval", str(tegra_ms)])
    for period, cmds in ((vc_s, [["measure_temp"], ["get_throttled"], ["measure_clock", "arm"]]),
                         (pmic_s, [["pmic_read_adc"]])):
        if period:
            threading.Thread(target=vc_loop, args=(period, cmds), daemon=True).start()

    pid = None
    start = next_t = monotonic_ns()
    while monotonic_ns() - start < max_s * 1e9:
        stamp = str(monotonic_ns())
        try:
            emit(T.join(["S", stamp] + [read_value(p) for p in paths]))
        except BrokenPipeError:
            stop("closed")
        if pidfile != "-":
            if pid is None:
                try:
                    with open(pidfile) as f:
                        pid = f.read().split()[0]
                except (OSError, IndexError):
                    pid = None
            if pid is not None:
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        st = f.read().strip()
                    rss = "-"
                    with open("/proc/%s/status" % pid) as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                rss = T.join(line.split()[1:3])
                                break
                    emit(T.join(["A", stamp, pid, st, rss]))
                except OSError:
                    pid = None  # it ended: read the pid file again (the agent's next worker process)
        next_t += period_ns
        delay = next_t - monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        elif delay < -period_ns:
            next_t = monotonic_ns()
    stop("max_time")


children = []
if __name__ == "__main__":
    main(sys.argv[1:])
