#!/usr/bin/env python3
"""Pushed to the target by the trtexec runner: starts trtexec and stamps its output on the
target's CLOCK_MONOTONIC. Standard library only (the target's Python 3.6 or later).

    python3 trtexec_launcher.py [--pid-file F] -- /usr/src/tensorrt/bin/trtexec --loadEngine=...

trtexec's stdout and stderr (merged, in order) are passed through line by line, unchanged.
Around them it prints lines starting with ``@@harness-trtexec `` and a JSON object:

- ``{"event": "exec", "t_ns": T, "pid": P}`` once trtexec started;
- ``{"event": "stamp", "what": "inference_start", "t_ns": T}`` when trtexec prints
  ``Starting inference`` (it takes the time origin of its exported query times right
  after that line), and ``"what": "inference_end"`` at the first line after it (trtexec
  prints nothing while it measures, so the trace ended before that line);
- ``{"event": "exit", "t_ns": T, "returncode": R}`` when it exited.

Its own exit status is trtexec's (a signal: 128 + its number). SIGTERM/SIGINT are passed on
to trtexec, so a cancelled run stops it.
"""

import json
import signal
import subprocess
import sys
import time

TAG = "@@harness-trtexec "


def now_ns():
    return int(time.monotonic() * 1e9)  # CLOCK_MONOTONIC on Linux (time.monotonic_ns needs 3.7)


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(TAG + json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


def main(argv):
    pid_file = None
    if argv[:1] == ["--pid-file"]:
        pid_file, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: trtexec_launcher.py [--pid-file F] -- TRTEXEC [ARGS...]\n")
        return 2
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        sys.stderr.write("cannot start %s: %s\n" % (argv[0], e.strerror))
        return 127
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: proc.send_signal(signum))
    if pid_file:
        with open(pid_file, "w") as f:
            f.write(str(proc.pid))
    emit("exec", t_ns=now_ns(), pid=proc.pid)
    inference = None  # None: not started; "running": stamp the next line; "done"
    for raw in iter(proc.stdout.readline, b""):
        t_ns = now_ns()
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if inference is None and "Starting inference" in line:
            emit("stamp", what="inference_start", t_ns=t_ns)
            inference = "running"
        elif inference == "running":
            emit("stamp", what="inference_end", t_ns=t_ns)
            inference = "done"
    rc = proc.wait()
    emit("exit", t_ns=now_ns(), returncode=rc)
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
