"""The native sampler (sampler.c): built on the host for the target's architecture, cached.

    path = binary_for("aarch64")      # ~/.cache/harness/native/aarch64-<hash>/harness-sampler

The shell and Python samplers cost several % of a core at 100 Hz (an interpreter or a
fork per sample); the native one reads the same files with plain syscalls. It is
compiled static (no libc to match on the target) with the host's compiler for its own
architecture and Debian's cross compilers for the others (`gcc-aarch64-linux-gnu`,
`gcc-arm-linux-gnueabihf`). Without a compiler for the target, `NativeUnavailable`
says so and the sampler falls back to the Python or shell mode. Builds are cached by
the source's and the compiler's identity (``$HARNESS_NATIVE_CACHE`` overrides the
folder) and locked, so parallel runs build once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from harness.cache import cache_root
from harness.errors import HarnessError

#: `uname -m` of a target -> the compiler that builds for it, and its flags
COMPILERS = {
    "x86_64": ("x86_64-linux-gnu-gcc", []),
    "aarch64": ("aarch64-linux-gnu-gcc", []),
    "arm64": ("aarch64-linux-gnu-gcc", []),
    "armv7l": ("arm-linux-gnueabihf-gcc", []),
    "armv8l": ("arm-linux-gnueabihf-gcc", []),  # 32-bit userland on a 64-bit core
}
CFLAGS = ["-O2", "-static", "-std=c99", "-Wall", "-Wextra", "-Werror"]
BINARY = "harness-sampler"


class NativeUnavailable(HarnessError):
    """No native sampler can be built for this target."""


def source() -> bytes:
    return resources.files("harness.telemetry.native").joinpath("sampler.c").read_bytes()


def cache_dir() -> Path:
    env = os.environ.get("HARNESS_NATIVE_CACHE")
    return Path(env).expanduser() if env else cache_root() / "native"


def compiler_for(arch: str) -> str:
    """The compiler command for `arch` on this host; `NativeUnavailable` when there is none."""
    if arch not in COMPILERS:
        raise NativeUnavailable(f"no native sampler for architecture {arch!r} (known: {', '.join(COMPILERS)})")
    cc = COMPILERS[arch][0]
    if arch == platform.machine() and not shutil.which(cc):
        cc = "gcc"  # the host's own compiler builds for the host
    if not shutil.which(cc):
        raise NativeUnavailable(f"no compiler for {arch} on this host ({cc}; Debian: apt-get install "
                                f"gcc-{cc.rsplit('-gcc', 1)[0].replace('_', '-')})")
    return cc


def binary_for(arch: str) -> Path:
    """The static native sampler for `arch`, built if it is not cached."""
    cc = compiler_for(arch)
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    key = hashlib.sha256(source() + repr((cc, version, CFLAGS, COMPILERS[arch][1])).encode()).hexdigest()[:12]
    out_dir = cache_dir() / f"{arch}-{key}"
    binary = out_dir / BINARY
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        src = out_dir / "sampler.c"
        src.write_bytes(source())
        tmp = out_dir / f"{BINARY}.tmp"
        res = subprocess.run([cc, *CFLAGS, *COMPILERS[arch][1], "-o", str(tmp), str(src)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise NativeUnavailable(f"building the native sampler for {arch} with {cc} failed: "
                                    f"{(res.stderr or res.stdout).strip()[-500:]}")
        tmp.replace(binary)
    return binary
