"""Build llama.cpp's `llama-bench` and harness's TTFT driver for this host, once, into the cache.

The llama.cpp source is the tree vendored in the `llama-cpp-python` source distribution on
PyPI (pinned below), fetched with pip — the only registry this project may reach — and
checked against its sha256. Only the cmake targets we need are compiled, from one cmake
tree whose top level is ``harness/llm/driver/CMakeLists.txt`` (llama.cpp is its
subproject), with portable flags: no ``-march=native`` (GGML_NATIVE=OFF), static llama/ggml
libraries, no OpenSSL, no OpenMP (ggml's own thread pool), no tests, examples or server.

Layout of ``llama_cache_dir()`` (``$HARNESS_LLAMA_CACHE``, default
``~/.cache/harness/llama.cpp/<llama-cpp-python version>/``):

    sdist/llama_cpp_python-<v>.tar.gz   the verified source distribution
    src/llama.cpp/                      its vendor/llama.cpp tree (without models/ and docs/)
    driver/                             a copy of harness/llm/driver/ (cmake's source dir)
    build/                              the cmake build tree, reused for incremental rebuilds
    bin/llama-bench, bin/harness-llm-driver
    build.json                          what was built, from what, with which flags

`ensure_llama_build()` returns the `LlamaBuild` recorded in build.json when it still matches
the pinned version, flags and driver source; otherwise it (re)builds under a file lock, so
parallel test workers build once. A fresh machine pays ~4 minutes on 2 cores; after that
only a changed driver is recompiled.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.digest import sha256_of
from harness.errors import HarnessError

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# The llama.cpp commit vendored in that sdist (its .git/modules/vendor/llama.cpp/HEAD).
LLAMA_CPP_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
TARGETS = ("llama-bench", "harness-llm-driver")
DRIVER_SOURCE_DIR = Path(__file__).resolve().with_name("driver")
PORTABLE_FLAGS = {
    "CMAKE_BUILD_TYPE": "Release",
    "GGML_NATIVE": "OFF",
    "BUILD_SHARED_LIBS": "OFF",
    "GGML_OPENMP": "OFF",
    "LLAMA_OPENSSL": "OFF",
    # The sdist's git history is shallow, so llama.cpp cannot count its build number.
    "LLAMA_BUILD_NUMBER": "0",
    "LLAMA_BUILD_COMMIT": LLAMA_CPP_COMMIT[:8],
    "HARNESS_LLAMA_COMMIT": LLAMA_CPP_COMMIT,
}
_SKIPPED_DIRS = ("models", "docs", "media", "tests", "benches")  # not needed to compile the targets

Progress = Callable[[str], None]


class LlamaBuildError(HarnessError):
    """llama.cpp could not be fetched or built; the message names the step and the log."""


class LlamaBuild(BaseModel):
    """What build.json records: enough to trace a measurement back to its binaries."""

    model_config = ConfigDict(extra="forbid")

    llama_cpp_python_version: str
    sdist_sha256: str
    llama_cpp_commit: str
    cmake_flags: dict[str, str]
    driver_sha256: str
    binaries: dict[str, str]  # target -> absolute path
    built_at: dt.datetime
    build_seconds: float
    host: str
    compiler: str | None = None

    @property
    def llama_bench(self) -> Path:
        return Path(self.binaries["llama-bench"])

    @property
    def driver(self) -> Path:
        return Path(self.binaries["harness-llm-driver"])


def llama_cache_dir() -> Path:
    env = os.environ.get("HARNESS_LLAMA_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "harness" / "llama.cpp" / LLAMA_CPP_PYTHON_VERSION


def driver_sha256(source_dir: Path = DRIVER_SOURCE_DIR) -> str:
    """One hash over the driver's sources (file names and contents), so an edit triggers a rebuild."""
    h = hashlib.sha256()
    for p in sorted(source_dir.iterdir()):
        if p.is_file() and p.suffix in (".cpp", ".h", ".txt"):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def load_build(cache: Path | None = None) -> LlamaBuild | None:
    """The recorded build if it matches the pinned version, flags and driver and its binaries exist."""
    path = (cache or llama_cache_dir()) / "build.json"
    try:
        build = LlamaBuild.model_validate_json(path.read_text())
    except (OSError, ValidationError, ValueError):
        return None
    if (
        build.llama_cpp_python_version != LLAMA_CPP_PYTHON_VERSION
        or build.cmake_flags != PORTABLE_FLAGS
        or build.driver_sha256 != driver_sha256()
        or not all(Path(p).is_file() and os.access(p, os.X_OK) for p in build.binaries.values())
        or set(build.binaries) != set(TARGETS)
    ):
        return None
    return build


def ensure_llama_build(*, progress: Progress | None = None, force: bool = False) -> LlamaBuild:
    """The cached build, built first if missing or stale (see the module docstring)."""
    cache = llama_cache_dir()
    if not force and (build := load_build(cache)):
        return build
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building: wait for it
        if not force and (build := load_build(cache)):
            return build
        return _build(cache, progress or (lambda _msg: None))


def _build(cache: Path, progress: Progress) -> LlamaBuild:
    t0 = time.monotonic()
    sdist = fetch_sdist(cache / "sdist", progress)
    src = cache / "src" / "llama.cpp"
    if not (src / "include" / "llama.h").is_file():
        progress(f"extracting llama.cpp from {sdist.name}")
        extract_llama_cpp(sdist, src)
    driver_dir = cache / "driver"
    _sync_driver_sources(driver_dir)
    compiled_driver = driver_sha256(driver_dir)  # what is compiled, even if the checkout changes meanwhile
    build_dir = cache / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    if (build_dir / "CMakeCache.txt").is_file():
        generator = []  # keep the generator the tree was configured with
    configure = ["cmake", "-S", str(driver_dir), "-B", str(build_dir), *generator,
                 f"-DLLAMA_CPP_SOURCE_DIR={src}", *(f"-D{k}={v}" for k, v in PORTABLE_FLAGS.items())]
    jobs = str(os.cpu_count() or 2)
    compile_ = ["cmake", "--build", str(build_dir), "--parallel", jobs, "--target", *TARGETS]
    log = cache / "build.log"
    with open(log, "w") as out:
        for step, cmd in (("configure", configure), ("compile", compile_)):
            progress(f"{step}: {' '.join(cmd)}")
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            try:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
            except FileNotFoundError as e:
                raise LlamaBuildError(f"llama.cpp build: {cmd[0]} not found (install cmake and a C++ compiler)") from e
            if rc != 0:
                raise LlamaBuildError(f"llama.cpp build: {step} failed (exit {rc}); see {log}:\n{_tail(log)}")
    bin_dir = cache / "bin"
    bin_dir.mkdir(exist_ok=True)
    binaries = {}
    for target in TARGETS:
        built = build_dir / "bin" / target
        if not built.is_file():
            raise LlamaBuildError(f"llama.cpp build: {built} missing after a successful build; see {log}")
        dest = bin_dir / target
        tmp = dest.with_suffix(".tmp")
        shutil.copy2(built, tmp)
        os.replace(tmp, dest)
        binaries[target] = str(dest)
    build = LlamaBuild(
        llama_cpp_python_version=LLAMA_CPP_PYTHON_VERSION,
        sdist_sha256=SDIST_SHA256,
        llama_cpp_commit=LLAMA_CPP_COMMIT,
        cmake_flags=dict(PORTABLE_FLAGS),
        driver_sha256=compiled_driver,
        binaries=binaries,
        built_at=dt.datetime.now(dt.timezone.utc),
        build_seconds=round(time.monotonic() - t0, 1),
        host=f"{platform.system()} {platform.machine()}",
        compiler=_cmake_cache_value(build_dir, "CMAKE_CXX_COMPILER"),
    )
    tmp = cache / "build.json.tmp"
    tmp.write_text(build.model_dump_json(indent=2))
    os.replace(tmp, cache / "build.json")
    progress(f"built {', '.join(TARGETS)} in {build.build_seconds:.0f} s into {bin_dir}")
    return build


def fetch_sdist(dest: Path, progress: Progress) -> Path:
    """The pinned sdist in `dest`, downloaded with pip if absent; its sha256 is checked either way.

    ``$HARNESS_LLAMA_SDIST`` may name an already downloaded copy (still checked)."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / SDIST_NAME
    given = os.environ.get("HARNESS_LLAMA_SDIST")
    if not path.is_file() and given:
        shutil.copy2(Path(given).expanduser(), path)
    if not path.is_file():
        progress(f"downloading llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} (source distribution, ~77 MB) with pip")
        cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(dest), "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not path.is_file():
            raise LlamaBuildError(
                f"pip could not download llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}: "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
    digest = sha256_of(path)
    if digest != SDIST_SHA256:
        path.unlink()
        raise LlamaBuildError(f"{SDIST_NAME}: sha256 {digest} is not the pinned {SDIST_SHA256}; deleted it")
    return path


def extract_llama_cpp(sdist: Path, dest: Path) -> None:
    """Unpack the sdist's vendor/llama.cpp into `dest`, leaving out what compiling does not need."""
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            if not m.name.startswith(prefix):
                continue
            rel = m.name[len(prefix):]
            if not rel or rel == ".git" or rel.split("/", 1)[0] in _SKIPPED_DIRS:
                continue
            m.name = rel
            members.append(m)
        if not members:
            raise LlamaBuildError(f"{sdist}: no {prefix} tree inside")
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp, members=members, **kwargs)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def _sync_driver_sources(dest: Path) -> None:
    # cmake's source dir must not move between checkouts, so the build uses a copy in the
    # cache; files are rewritten only when changed so their mtimes do not force rebuilds.
    dest.mkdir(parents=True, exist_ok=True)
    for p in DRIVER_SOURCE_DIR.iterdir():
        if p.is_file() and p.suffix in (".cpp", ".h", ".txt"):
            target = dest / p.name
            if not target.is_file() or target.read_bytes() != p.read_bytes():
                shutil.copy2(p, target)


def _cmake_cache_value(build_dir: Path, key: str) -> str | None:
    try:
        for line in (build_dir / "CMakeCache.txt").read_text(errors="replace").splitlines():
            if line.startswith(f"{key}:"):
                return line.split("=", 1)[1]
    except OSError:
        pass
    return None


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.llm.build [--force] [--json]``: build (or find) the cached binaries."""
    args = argv if argv is not None else sys.argv[1:]
    say = lambda m: print(f"llama.cpp: {m}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        build = ensure_llama_build(progress=say, force="--force" in args)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if "--json" in args:
        print(build.model_dump_json(indent=2))
    else:
        say(f"llama-cpp-python {build.llama_cpp_python_version} (llama.cpp {build.llama_cpp_commit[:8]}): "
            f"{', '.join(build.binaries.values())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
