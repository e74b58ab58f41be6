"""Run an emulated phone until interrupted: python -m tests.adb_emulator --sandbox DIR [--port N]."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from tests.adb_emulator.device import AdbEmulator


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.adb_emulator", description=__doc__)
    ap.add_argument("--sandbox", type=Path, required=True, help="folder that holds the phone's filesystem")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5555)
    ap.add_argument("--authorized-key", action="append", type=Path, default=[], help="adbkey.pub to trust")
    ap.add_argument("--deny-new-keys", action="store_true", help="never accept a key the host offers")
    args = ap.parse_args()
    keys = [p.read_text() for p in args.authorized_key]
    emu = AdbEmulator(
        args.sandbox, host=args.host, port=args.port, authorized_keys=keys, accept_new_keys=not args.deny_new_keys
    ).start()
    print(f"emulated phone listening on {emu.address} (sandbox {emu.sandbox})", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
