"""A normal install works: the sdist and the wheel built from it carry the device profiles,
the zoo models and the firmware, and harness installed from that wheel into a fresh venv
outside the repository lists its devices, runs a zoo model and builds the firmware.

Dependencies come from a wheelhouse in the user cache (``~/.cache/harness/wheelhouse``),
filled once through pip's ordinary configuration and then installed with ``--no-index``,
so the big wheels (onnxruntime, pyarrow, …) are not fetched again on every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from harness.cache import cache_root
from harness.shipped import SHIPPED_DIRS, shipped_dir

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness" / "wheelhouse"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(argv: list, cwd: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    # nothing from this checkout or the test session may leak into the installed harness
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HARNESS_")}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`python -m build`: the sdist, then the wheel built from that sdist (as PyPI users get it)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out)
    return out


def _install(python: Path, wheel: Path, cwd: Path) -> None:
    offline = [python, "-m", "pip", "install", "-q", "--no-index", "--find-links", WHEELHOUSE, wheel]
    if _run(offline, cwd, check=False).returncode == 0:
        return
    # first time (or the dependencies moved on): fill the wheelhouse through pip's usual indexes and cache
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "pip", "wheel", "-q", "--wheel-dir", WHEELHOUSE, wheel], cwd, timeout=1800)
    for stale in WHEELHOUSE.glob("harness-*.whl"):  # the wheel under test is always given by path
        stale.unlink()
    _run(offline, cwd)


def test_sdist_and_wheel_carry_the_data_folders(dist):
    sdist = next(dist.glob("harness-*.tar.gz"))
    wheel = next(dist.glob("harness-*.whl"))
    with tarfile.open(sdist) as t:
        in_sdist = {"/".join(n.split("/")[1:]) for n in t.getnames()}
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("device_profiles/local.yaml", "model_zoo/manifest.yaml", "model_zoo/build.py",
                "model_zoo/models/kws01-int8.tflite", "model_zoo/models/mobilenet_v2_0.35_96-fp32.onnx",
                "firmware/Makefile", "firmware/protocol/ee_protocol.c", "firmware/boards/mps2-an386/mps2_an386.ld"):
        assert rel in in_sdist, rel
        assert f"harness/_shipped/{rel}" in in_wheel, rel
    # every tracked file of the data folders ships, and nothing built or cached does
    tracked = subprocess.run(["git", "ls-files", *SHIPPED_DIRS], cwd=REPO, capture_output=True, text=True).stdout.split()
    if tracked:  # a source tree without git (an unpacked sdist) has nothing to compare with
        assert {f"harness/_shipped/{f}" for f in tracked} <= in_wheel
    assert not [n for n in in_wheel | in_sdist if "__pycache__" in n or n.endswith((".pyc", ".o", ".elf"))]
    assert not [n for n in in_wheel if n.startswith("harness/_shipped/firmware/build/")]


def test_wheel_in_a_fresh_venv_outside_the_repo(dist, tmp_path):
    wheel = next(dist.glob("harness-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _install(python, wheel, tmp_path)
    work = tmp_path / "work"
    work.mkdir()

    where = _run([python, "-c", "import harness.shipped as s; print(s.shipped_dir('model_zoo'))"], work).stdout.strip()
    assert Path(where).is_relative_to(env_dir) and (Path(where) / "manifest.yaml").is_file()

    devices = json.loads(_run([env_dir / "bin" / "harness", "devices", "list", "--json"], work).stdout)
    ids = {d["id"] for d in devices}
    assert {"local", "rpi5", "pixel8", "mps2-an386"} <= ids
    assert all(Path(d["source"]).is_relative_to(env_dir) for d in devices)

    zoo = json.loads(_run([env_dir / "bin" / "harness", "zoo", "list", "--json"], work).stdout)
    cache = Path.home() / ".cache" / "harness" / "zoo"  # entries built on demand (the GGUF LLMs other tests built)
    committed = {e["id"]: Path(e["path"]) for e in zoo if e.get("built") and not Path(e["path"]).is_relative_to(cache)}
    assert {"kws01-int8-tflite", "mobilenet_v2_0.35_96-fp32-onnx"} <= set(committed)
    assert all(p.is_relative_to(env_dir) for p in committed.values())

    run = _run([env_dir / "bin" / "harness", "run", "-d", "local", "-m", "kws01-int8-tflite", "-m",
                "mobilenet_v2_0.35_96-fp32-onnx", "--stop", "fixed", "--count", "20", "--no-thermal-gate",
                "--no-telemetry", "--json"], work)
    records = json.loads(run.stdout)
    assert [r["status"] for r in records] == ["ok", "ok"], run.stderr
    assert all(r["latency"]["n"] == 20 for r in records)
    assert (work / "results").is_dir()

    # the firmware sources are the wheel's; the build goes to the user cache, never into the package
    fw = json.loads(_run([env_dir / "bin" / "harness", "firmware", "build", "--json"], work).stdout)
    assert Path(fw["firmware"]).is_relative_to(cache_root() / "firmware") and Path(fw["firmware"]).is_file()
    assert not list(env_dir.rglob("firmware.elf"))


def test_editable_install_reads_the_checkout(tmp_path):
    """The test venv's own (editable) harness, run outside the repo, finds the checkout's folders."""
    out = _run([sys.executable, "-c", "import json, harness.shipped as s; "
                "print(json.dumps({n: str(s.shipped_dir(n)) for n in s.SHIPPED_DIRS}))"], tmp_path).stdout
    assert json.loads(out) == {n: str(REPO / n) for n in SHIPPED_DIRS}
    assert shipped_dir("device_profiles") == REPO / "device_profiles"
    with pytest.raises(ValueError, match="not a shipped folder"):
        shipped_dir("results")
