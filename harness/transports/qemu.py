"""An emulated MCU board: qemu-system-arm with its UART on a local TCP port.

`QemuBoard.for_profile(profile, model_path)` picks the firmware (the profile's
`emulator.firmware`, or the reference firmware built for the model), `start()` runs

    qemu-system-arm -M mps2-an386 -cpu cortex-m4 -icount shift=S,sleep=off
                    -kernel firmware.elf -serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on

on a free loopback port and waits until it listens; the serial transport then
connects to ``socket://127.0.0.1:PORT``. With ``wait=on`` the board does not start
before the host connects, so the host sees the boot banner. `stop()` terminates it
(SIGKILL after a grace period).

Time under -icount: every instruction advances the virtual clock by 2^S ns, and
the board's timers count virtual time. A µs printed by the firmware is therefore
instructions × 2^S / 1000, identical from run to run, and unrelated to wall time.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import TransportConfigError, TransportError

if TYPE_CHECKING:
    from harness.profiles import DeviceProfile, QemuSpec


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(spec: QemuSpec, firmware: Path, port: int) -> list[str]:
    return [
        "qemu-system-arm",
        "-M", spec.machine,
        "-cpu", spec.cpu,
        # sleep=off: virtual time stands still while the core sleeps waiting for the
        # host, so the clock counts instructions only
        "-icount", f"shift={spec.icount_shift},sleep=off",
        "-kernel", str(firmware),
        "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
        "-display", "none",
        "-monitor", "none",
        "-nodefaults",
        "-no-reboot",
    ]


class QemuBoard:
    def __init__(self, spec: QemuSpec, firmware: Path, build_details: dict | None = None):
        self.spec = spec
        self.firmware = Path(firmware)
        self.port: int | None = None
        self.argv: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()
        self._build_details = build_details or {}

    @classmethod
    def for_profile(cls, profile: DeviceProfile, model_path: Path | None = None) -> QemuBoard:
        spec = profile.transport.emulator
        if spec is None:
            raise TransportConfigError(f"device {profile.id!r} is not an emulated board (no transport.emulator)")
        if spec.firmware:
            elf = Path(spec.firmware).expanduser()
            if not elf.is_file():
                raise TransportConfigError(f"{profile.source or profile.id}: transport.emulator.firmware: no such file {elf}")
            return cls(spec, elf, {"firmware": str(elf)})
        from harness.mcu.build import build_firmware

        build = build_firmware(model_path)
        return cls(spec, build.elf, build.details())

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, attempts: int = 3, listen_timeout_s: float = 10.0) -> None:
        if shutil.which("qemu-system-arm") is None:
            raise TransportConfigError("qemu-system-arm not found: install it (Debian/Ubuntu: apt-get install qemu-system-arm)")
        last = ""
        for _ in range(attempts):  # a free port can be taken between the probe and QEMU's bind
            self.port = free_port()
            self.argv = qemu_command(self.spec, self.firmware, self.port)
            self._log.seek(0)
            self._log.truncate()
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_listening(listen_timeout_s):
                return
            last = self.exit_reason()
            self.stop()
        raise TransportError(f"qemu did not start: {last}")

    def _wait_listening(self, timeout_s: float) -> bool:
        """True once the UART port accepts connections; a probe connection would be
        taken as the host, so watch the listening socket via /proc instead."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if _is_listening(self.port):
                return True
            time.sleep(0.02)
        return False

    def stop(self, grace_s: float = 3.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace_s)
        self._last_exit = self._describe_exit(proc)

    def exit_reason(self) -> str:
        if self._proc is not None and self._proc.poll() is not None:
            return self._describe_exit(self._proc)
        return getattr(self, "_last_exit", "still running")

    def _describe_exit(self, proc: subprocess.Popen) -> str:
        self._log.seek(0)
        out = self._log.read().decode("utf-8", "replace").strip().splitlines()
        tail = " | ".join(out[-3:]) if out else "no output"
        return f"exit status {proc.returncode}: {tail}"

    def details(self) -> dict:
        return {
            **self._build_details,
            "emulator": " ".join(self.argv),
            "icount_shift": self.spec.icount_shift,
            "s_per_instruction": 2 ** self.spec.icount_shift * 1e-9,  # SI: 2^shift ns
            "port": self.url,
        }

    def __del__(self):  # never leave an emulator behind
        try:
            self.stop(grace_s=1.0)
        except Exception:  # noqa: BLE001, S110 - at interpreter exit, best effort only
            pass


def _is_listening(port: int) -> bool:
    """Is a TCP socket on 127.0.0.1:port in LISTEN state (Linux /proc/net/tcp)?"""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            return any(line.split()[1] == want and line.split()[3] == "0A" for line in f)
    except OSError:
        return _probe_fallback()


def _probe_fallback() -> bool:
    # Without /proc (macOS), give QEMU a moment; connecting would consume its one client.
    time.sleep(0.5)
    return True
