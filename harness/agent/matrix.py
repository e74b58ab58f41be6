"""The target matrix: which Pythons and runtimes the on-device code runs on.

The on-device code (`PIECES`: the agent, the ceilings probe, the Python telemetry
sampler) is pushed to boards that keep the Python their OS shipped: JetPack 4.6 — the
last release for the Jetson Nano and TX2 — has Python 3.6, JetPack 5 has 3.8, recent
Raspberry Pi OS and Ubuntu releases 3.11 to 3.13. So that code stays standard-library
only (plus the runtime and numpy) and runs on 3.6+, while the host package keeps its
own, newer floor (`requires-python` in pyproject.toml).

`TESTED` lists the environments the test suite (tests/targets) builds from real
interpreters and runs every piece under, through a real sshd, with a full
`harness run`: each entry is one cell row of the README's matrix table. A target
whose Python or runtime falls outside them is not refused, but `harness devices
check` and the run record say so (`assess`, `outside_matrix`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: the oldest Python the on-device code supports (JetPack 4.6: Jetson Nano, TX2)
OLDEST_PYTHON = (3, 6)

#: pip distribution name of each runtime library the agent can use
DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime", "onnxruntime": "onnxruntime"}
#: the model format each runtime library serves
FORMAT_OF = {"ai_edge_litert": "tflite", "tflite_runtime": "tflite", "onnxruntime": "onnx"}


@dataclass(frozen=True)
class Piece:
    """One file of on-device code and what it needs on the target beyond the standard library."""

    name: str
    file: str  # inside the harness package
    needs: str


PIECES = (
    Piece("agent", "agent/agent.py", "numpy and a runtime (ai_edge_litert or tflite_runtime; onnxruntime)"),
    Piece("ceilings", "agent/ceilings.py", "numpy (the compute sweep also a TFLite runtime)"),
    Piece("sampler", "telemetry/sampler_py.py", "nothing"),
)


@dataclass(frozen=True)
class TargetEnv:
    """One tested environment: a Python minor version and pinned runtime packages."""

    python: str  # "3.8"
    runtimes: dict = field(default_factory=dict)  # library -> exact version
    numpy: str = ""  # pip specifier, e.g. "<2"; empty: whatever the runtimes pull in
    shipped_by: str = ""  # who ships this Python on boards

    @property
    def name(self) -> str:
        libs = "-".join(f"{lib}{ver}" for lib, ver in self.runtimes.items())
        return f"py{self.python}-{libs}"

    def requirements(self) -> list[str]:
        reqs = [f"{DISTRIBUTIONS[lib]}=={ver}" for lib, ver in self.runtimes.items()]
        return reqs + ([f"numpy{self.numpy}"] if self.numpy else [])

    @property
    def tflite(self) -> str | None:
        """The TFLite library of this environment, if any."""
        return next((lib for lib in self.runtimes if FORMAT_OF[lib] == "tflite"), None)


# One TFLite library per environment: the agent takes ai_edge_litert when both import.
# On x86-64, tflite-runtime has no wheel for 3.6 (the 3.6 leg runs ONNX) nor past 3.11,
# and 2.11 is its last release for 3.7; onnxruntime 1.10 is the last for 3.6, 1.14 for 3.7,
# 1.19 for 3.8/3.9; ai-edge-litert starts at 3.9.
TESTED: tuple[TargetEnv, ...] = (
    TargetEnv("3.6", {"onnxruntime": "1.10.0"}, shipped_by="JetPack 4.6 (Jetson Nano, TX2), Ubuntu 18.04"),
    TargetEnv("3.7", {"tflite_runtime": "2.11.0", "onnxruntime": "1.14.1"}, shipped_by="Debian 10 (Raspberry Pi OS buster)"),
    TargetEnv("3.8", {"tflite_runtime": "2.14.0", "onnxruntime": "1.19.2"}, numpy="<2",
              shipped_by="JetPack 5 (Jetson Xavier, Orin), Ubuntu 20.04"),
    TargetEnv("3.9", {"ai_edge_litert": "2.1.0", "onnxruntime": "1.19.2"}, shipped_by="Debian 11 (Raspberry Pi OS bullseye)"),
    TargetEnv("3.10", {"tflite_runtime": "2.14.0", "onnxruntime": "1.23.2"}, numpy="<2",
              shipped_by="JetPack 6 (Jetson Orin), Ubuntu 22.04"),
    TargetEnv("3.11", {"ai_edge_litert": "2.3.0", "onnxruntime": "1.32.0"}, shipped_by="Debian 12 (Raspberry Pi OS bookworm)"),
    TargetEnv("3.11", {"tflite_runtime": "2.14.0"}, numpy="<2", shipped_by="Debian 12 (Raspberry Pi OS bookworm)"),
    TargetEnv("3.12", {"ai_edge_litert": "2.3.0", "onnxruntime": "1.32.0"}, shipped_by="Ubuntu 24.04"),
    TargetEnv("3.13", {"ai_edge_litert": "2.3.0", "onnxruntime": "1.32.0"}, shipped_by="Debian 13 (Raspberry Pi OS trixie)"),
)


_MAJOR_MINOR = re.compile(r"^\s*(\d+)\.(\d+)")


def _version(text: str | None) -> tuple[int, int] | None:
    """(major, minor) of a version string such as '3.8.18' or '2.14.0rc1'; None if unreadable."""
    m = _MAJOR_MINOR.match(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def tested_pythons() -> list[tuple[int, int]]:
    return sorted({_version(e.python) for e in TESTED})


def tested_versions(library: str, python: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """The (major, minor) versions of `library` tested (on `python`, when given)."""
    return sorted({_version(e.runtimes[library]) for e in TESTED
                   if library in e.runtimes and (python is None or _version(e.python) == python)})


def _fmt(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def outside_matrix(python: str | None, library: str | None = None, version: str | None = None) -> list[str]:
    """Why this target combination is outside the tested matrix (empty when inside).

    Inside: the Python's minor version is one the tests run, and the library was tested
    on that Python at a version no older than the oldest and no newer than the newest
    tested anywhere (the runtimes' own compatibility holds between tested releases).
    """
    py = _version(python)
    if py is None:
        return [f"Python version {python!r} unreadable: cannot check it against the target matrix"]
    pythons = tested_pythons()
    if py < OLDEST_PYTHON:
        return [f"Python {python} is older than {_fmt(OLDEST_PYTHON)}, the oldest the on-device code supports: "
                "the agent, ceilings probe and Python sampler cannot run there"]
    out = []
    if py not in pythons:
        out.append(f"Python {python} is outside the tested matrix (tested: {', '.join(map(_fmt, pythons))})")
    if library and library in DISTRIBUTIONS:
        v = _version(version)
        on_this = tested_versions(library, py)
        anywhere = tested_versions(library)
        if not on_this and py in pythons:
            out.append(f"{library} on Python {_fmt(py)} is outside the tested matrix (no test runs it there)")
        elif v is None:
            out.append(f"{library} version {version!r} unreadable: cannot check it against the target matrix")
        elif not anywhere[0] <= v <= anywhere[-1]:
            out.append(f"{library} {version} is outside the tested matrix "
                       f"(tested {_fmt(anywhere[0])} to {_fmt(anywhere[-1])})")
    return out


@dataclass
class Assessment:
    """What `harness devices check` says about a target's Python and runtimes."""

    python: str | None
    #: piece name -> "yes", or what it lacks
    pieces: dict[str, str]
    #: library -> version found on the target
    runtimes: dict[str, str]
    warnings: list[str]


def assess(python: str | None, found: dict[str, str]) -> Assessment:
    """Which pieces of on-device code `python` can run, given the modules it found
    (`TargetInfo.runtimes`: library or "numpy" -> version), and what is outside the matrix."""
    runtimes = {lib: ver for lib, ver in found.items() if lib in DISTRIBUTIONS}
    if python is None:
        why = "no: the target's Python does not run (set defaults.python in the profile)"
        return Assessment(None, {p.name: why for p in PIECES}, runtimes, [])
    warnings = outside_matrix(python)
    if _version(python) is not None and _version(python) < OLDEST_PYTHON:
        return Assessment(python, {p.name: f"no: needs Python {_fmt(OLDEST_PYTHON)}+" for p in PIECES}, runtimes, warnings)
    for lib, ver in runtimes.items():
        warnings += [w for w in outside_matrix(python, lib, ver) if w not in warnings]
    numpy = "numpy" in found
    tflite = [lib for lib in runtimes if FORMAT_OF[lib] == "tflite"]
    if not numpy:
        agent = "no: numpy is missing"
    elif not runtimes:
        agent = "no: no runtime (install ai-edge-litert or tflite-runtime, and/or onnxruntime)"
    else:
        # the agent takes the first TFLite library that imports, in this order
        served = [f"tflite via {tflite[0]}"] if tflite else []
        served += ["onnx via onnxruntime"] if "onnxruntime" in runtimes else []
        agent = "yes: " + ", ".join(served)
    if not numpy:
        ceilings = "no: numpy is missing"
    else:
        ceilings = "yes" if tflite else "partly: no TFLite runtime, so fp32 peak from numpy's sgemm and no int8 peak"
    pieces = {"agent": agent, "ceilings": ceilings, "sampler": "yes"}
    return Assessment(python, pieces, runtimes, warnings)


def matrix_table() -> str:
    """The README's matrix table (markdown), rendered from `TESTED`."""
    rows = ["| Python | shipped by | runtimes tested | agent | ceilings probe | Python sampler |",
            "|---|---|---|---|---|---|"]
    for e in TESTED:
        libs = ", ".join(f"`{DISTRIBUTIONS[lib]}` {ver}" for lib, ver in e.runtimes.items())
        if e.numpy:
            libs += f" (numpy{e.numpy})"
        ceil = "yes" if e.tflite else "bandwidth, fp32 via numpy (no TFLite)"
        rows.append(f"| {e.python} | {e.shipped_by} | {libs} | yes | {ceil} | yes |")
    return "\n".join(rows)
