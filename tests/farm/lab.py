"""A three-host lab on loopback: real `harness farm host` processes joining one Ray cluster,
and real peers for their devices.

    lab-a: board-a1, board-a2   (OpenSSH sshd "boards")           the head node
    lab-b: phone-1, board-b1    (the ADB emulator, an sshd board)
    lab-c: mcu-1                (QEMU mps2-an386, the reference firmware)

The Ray cluster (`RayLab`) only knows device ids, so it lives for a whole test module;
each test starts its own peers (`Peers`) and writes a farm file pointing at them, and can
break them as it likes. Ray's node health checks are made fast (a node is declared dead
within a few seconds of being killed), through the RAY_health_check_* variables that the
head's GCS reads.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

from tests.ssh.sshd import SshdServer, _descendants, start_sshd

REPO = Path(__file__).resolve().parents[2]
HOSTS = {"lab-a": ["board-a1", "board-a2"], "lab-b": ["phone-1", "board-b1"], "lab-c": ["mcu-1"]}
CLASSES = {"board": "loopback sshd boards", "phone": "ADB emulator phones", "mcu": "QEMU Cortex-M4 boards"}
FAST_HEALTH = {
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "4",
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_raylet_start_wait_time_s": "120",  # a busy 2-core machine starts raylets slowly
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def class_of(device: str) -> str:
    return {"board": "board", "phone": "phone", "mcu": "mcu"}[device.split("-")[0]]


def write_farm(path: Path, profiles: dict[str, Path], hosts: dict[str, list[str]] | None = None,
               recovery: dict[str, list[str]] | None = None, health: dict | None = None) -> Path:
    hosts = hosts or HOSTS
    data = {
        "name": "loopback-lab",
        "classes": {c: {"description": d} for c, d in CLASSES.items()},
        "hosts": {
            h: {"devices": [{"profile": str(profiles[d]), "class": class_of(d),
                             **({"recovery": (recovery or {})[d]} if d in (recovery or {}) else {})}
                            for d in devices if d in profiles]}
            for h, devices in hosts.items()
        },
        "ray": {"num_cpus": 1, "object_store_bytes": 80_000_000},
    }
    if health:
        data["health"] = health
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class RayLab:
    """`harness farm host` for each lab host, as separate process trees."""

    def __init__(self, folder: Path, config_dir: Path, hosts: dict[str, list[str]] | None = None):
        self.hosts = hosts or HOSTS
        self.folder = folder
        self.config_dir = config_dir
        # Ray's unix sockets live under the temp dir: keep its path short
        self.temp_dir = tempfile.mkdtemp(prefix="rf", dir="/tmp")
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        # The cluster knows device ids only: a placeholder farm file with every device
        self.farm_file = folder / "cluster-farm.yaml"
        placeholder = folder / "placeholder.yaml"
        placeholder.write_text(yaml.safe_dump({"id": "placeholder", "name": "x", "transport": {"kind": "local"}}))
        profiles = {}
        for devices in self.hosts.values():
            for d in devices:
                p = folder / f"{d}.id.yaml"
                p.write_text(yaml.safe_dump({"id": d, "name": d, "transport": {"kind": "local"}}))
                profiles[d] = p
        write_farm(self.farm_file, profiles, self.hosts)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(FAST_HEALTH)
        env["HARNESS_CONFIG_DIR"] = str(self.config_dir)  # the adbkey for the emulated phone
        env["PYTHONPATH"] = str(REPO)
        return env

    def start(self, host: str) -> None:
        head = host == next(iter(self.hosts))
        where = ["--head", "--port", str(self.port), "--temp-dir", self.temp_dir] if head else ["--address", self.address]
        log = open(Path(self.temp_dir) / f"{host}.log", "ab")
        self.procs[host] = subprocess.Popen(
            [sys.executable, "-m", "harness", "farm", "host", "--farm", str(self.farm_file), "--host", host, *where],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(), cwd=self.folder,
            start_new_session=True,
        )

    def start_all(self, timeout: float = 120.0) -> None:
        started: set[str] = set()
        for host in self.hosts:  # one at a time: two raylets starting together overload 2 cores
            self.start(host)
            started.add(host)
            self.wait_hosts(started, timeout)

    def alive_hosts(self) -> set[str]:
        """Hosts whose node Ray reports alive (asked from a short-lived driver process)."""
        code = (
            "import ray, json; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(json.dumps([n['Labels'].get('farm/host') for n in ray.nodes() if n['Alive']]))" % self.address
        )
        try:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                 env=self.env())
        except subprocess.TimeoutExpired:
            return set()
        if out.returncode != 0:
            return set()
        import json

        return set(json.loads(out.stdout.strip().splitlines()[-1]))

    def wait_hosts(self, hosts: set[str], timeout: float, dead: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = self.alive_hosts()
            if (not (alive & hosts)) if dead else hosts <= alive:
                return
            time.sleep(1.0)
        logs = {h: (Path(self.temp_dir) / f"{h}.log").read_text(errors="replace")[-3000:] for h in hosts}
        raise RuntimeError(f"hosts {hosts} not {'dead' if dead else 'alive'} after {timeout} s: {logs}")

    def kill(self, host: str) -> None:
        """SIGKILL a host's whole process tree (ray start, its raylet, the workers): a machine gone."""
        proc = self.procs.pop(host)
        for pid in [proc.pid, *_descendants(proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)

    def ensure_all(self) -> None:
        for h in self.hosts:
            if h not in self.procs or self.procs[h].poll() is not None:
                self.procs.pop(h, None)
                self.start(h)
                self.wait_hosts({h}, 120)

    def stop(self) -> None:
        for host in reversed(list(self.procs)):  # workers first, the head last
            self.kill(host)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class Peers:
    """The devices' real peers for one test, and their profiles."""

    def __init__(self, folder: Path, stack: ExitStack):
        self.folder = folder
        self.stack = stack
        self.sshd: dict[str, SshdServer] = {}
        self.profiles: dict[str, Path] = {}
        self.phone = None

    def board(self, device: str, python: str | None = None) -> SshdServer:
        server = start_sshd(self.folder, device)
        self.stack.callback(server.stop)
        self.sshd[device] = server
        self.profiles[device] = server.write_profile(
            self.folder / f"{device}.yaml", device, defaults={"python": python or sys.executable})
        return server

    def emulated_phone(self, device: str = "phone-1"):
        from tests.adb_emulator.fixtures import emulated_phone

        phone = self.stack.enter_context(emulated_phone(self.folder / device))
        data = yaml.safe_load(phone.profile_path.read_text())
        data["id"] = device
        self.profiles[device] = self.folder / f"{device}.yaml"
        self.profiles[device].write_text(yaml.safe_dump(data, sort_keys=False))
        self.phone = phone
        return phone

    def mcu(self, device: str = "mcu-1") -> Path:
        data = yaml.safe_load((REPO / "device_profiles" / "mps2-an386.yaml").read_text())
        data["id"] = device
        self.profiles[device] = self.folder / f"{device}.yaml"
        self.profiles[device].write_text(yaml.safe_dump(data, sort_keys=False))
        return self.profiles[device]

    def all(self) -> Peers:
        for d in ("board-a1", "board-a2", "board-b1"):
            self.board(d)
        self.emulated_phone()
        self.mcu()
        return self
