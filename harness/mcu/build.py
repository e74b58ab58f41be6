"""Build the reference firmware for a model: header generation, then `make`.

`build_firmware(model_path)` lowers the model (`harness.mcu.lower`), writes its C
header into a build folder keyed by the model's sha256, and runs the firmware
Makefile with arm-none-eabi-gcc. Builds are cached: the header is written once per
model, and make rebuilds only what changed. A file lock serialises concurrent
builds of the same folder (parallel test workers).

The build folders sit in the sources' own ``build/`` in a checkout (as firmware/README.md
says). An installed copy — the wheel's, inside the harness package, often read-only and
shared by every user of the environment — is never written to: its builds go to the user
cache, ``~/.cache/harness/firmware/<digest of the sources>/``, so two versions of harness
never share objects.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.cache import cache_root
from harness.errors import HarnessError
from harness.mcu.header import write_header
from harness.mcu.program import ModelProgram
from harness.digest import sha256_of

#: bump when the header format or the lowering changes, so cached headers are redone
GENERATOR_VERSION = 4


def firmware_dir() -> Path:
    """The firmware sources: $HARNESS_FIRMWARE_DIR, else the ones shipped with harness (the checkout's or the wheel's)."""
    from harness.shipped import shipped_dir

    env = os.environ.get("HARNESS_FIRMWARE_DIR")
    path = Path(env) if env else shipped_dir("firmware")
    if not (path / "Makefile").is_file():
        raise HarnessError(f"{path}: no firmware Makefile here (set HARNESS_FIRMWARE_DIR to the firmware/ folder)")
    return path


def installed_package_dir() -> Path:
    """The installed harness package (the wheel's copy of the firmware sits inside it)."""
    import harness

    return Path(harness.__file__).resolve().parent


def sources_digest(src: Path) -> str:
    """sha256 (12 hex digits) over the firmware sources' paths and contents, build outputs aside."""
    h = hashlib.sha256()
    for path in sorted(p for p in src.rglob("*") if p.is_file() and p.relative_to(src).parts[0] != "build"):
        h.update(path.relative_to(src).as_posix().encode() + b"\0")
        h.update(sha256_of(path).encode())
    return h.hexdigest()[:12]


def default_build_root(src: Path) -> Path:
    """Where builds of the sources `src` go (see the module docstring): `src`/build in a
    checkout; the user cache for an installed copy or sources harness cannot write to."""
    installed = src.resolve().is_relative_to(installed_package_dir())
    if installed or not os.access(src, os.W_OK):
        return cache_root() / "firmware" / sources_digest(src)
    return src / "build"


class FirmwareBuildError(HarnessError):
    """The firmware did not compile or link."""


@dataclass
class FirmwareBuild:
    elf: Path
    header: Path
    model_id: str
    energy: bool
    #: bytes of code + read-only data + initialised data (what goes to flash)
    flash_bytes: int
    #: bytes of RAM: data, bss (arena included) and stack
    ram_bytes: int
    program: ModelProgram | None = None

    def details(self) -> dict:
        return {
            "firmware": str(self.elf),
            "firmware_model": self.model_id,
            "firmware_mode": "energy" if self.energy else "performance",
            "firmware_flash_bytes": self.flash_bytes,
            "firmware_ram_bytes": self.ram_bytes,
        }


def _require_tools() -> None:
    for tool, package in (("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi"), ("make", "make")):
        if shutil.which(tool) is None:
            raise HarnessError(f"{tool} not found: install it (Debian/Ubuntu: apt-get install {package})")


def _sizes(size_file: Path) -> tuple[int, int]:
    """(flash, ram) bytes from `arm-none-eabi-size -A` output."""
    sections: dict[str, int] = {}
    for line in size_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    flash = sections.get(".text", 0) + sections.get(".ARM.exidx", 0) + sections.get(".data", 0)
    ram = sections.get(".data", 0) + sections.get(".bss", 0) + sections.get(".stack", 0)
    return flash, ram


def build_firmware(model_path: Path | None = None, energy: bool = False, build_root: Path | None = None) -> FirmwareBuild:
    """Firmware for `model_path` (a fully int8 .tflite), or for the synthetic model when None."""
    from harness.mcu.lower import program_from_tflite

    _require_tools()
    src = firmware_dir()
    root = Path(build_root) if build_root else default_build_root(src)
    program = None
    if model_path is None:
        name = "synthetic"
        header = src / "models" / "synthetic.h"
        model_id = "synthetic"
    else:
        model_path = Path(model_path)
        digest = sha256_of(model_path)[:12]
        name = f"{model_path.stem}-{digest}-g{GENERATOR_VERSION}"
        header = root / name / "model.h"
        program = program_from_tflite(model_path)
        model_id = program.model_id
    build_dir = root / (name + ("-energy" if energy else ""))
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if program is not None and not header.is_file():
            write_header(program, header)
        # the `db` buffer must hold the model's input (at least the protocol's usual 32 KiB)
        capacity = max(32768, program.input_bytes if program is not None else 0)
        cmd = ["make", "-C", str(src), f"MODEL_HEADER={header}", f"BUILD_DIR={build_dir}", f"ENERGY={int(energy)}",
               f"DB_CAPACITY={capacity}"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if res.returncode != 0:
            tail = " | ".join((res.stderr or res.stdout).strip().splitlines()[-5:])
            raise FirmwareBuildError(f"firmware build failed ({' '.join(cmd)}): {tail}")
    flash, ram = _sizes(build_dir / "firmware.size")
    return FirmwareBuild(elf=build_dir / "firmware.elf", header=header, model_id=model_id, energy=energy,
                         flash_bytes=flash, ram_bytes=ram, program=program)
