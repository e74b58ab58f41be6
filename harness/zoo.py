"""The model zoo: reference workloads listed in ``model_zoo/manifest.yaml``.

An entry id reads ``<arch>-<precision>-<format>`` (``mobilenet_v2_1.0_224-int8-tflite``);
``<arch>`` alone means its fp32 TFLite entry (or, for the random-weight GGUF LLMs, their
only one: ``random-llama-tiny-q4_0``). Small files are committed under
``model_zoo/models/``; the others are built on demand by ``harness zoo build ID`` into
the cache folder (``$HARNESS_ZOO_CACHE``, default ``~/.cache/harness/zoo``). Building runs
the entry's ``builder``: ``model_zoo/build.py`` needs the ``build`` extra (tensorflow-cpu);
``model_zoo/tiny_gguf.py`` (GGUF LLMs with random weights) only numpy and gguf. Using the
zoo needs neither. ``$HARNESS_ZOO_DIR`` points at another zoo folder (manifest + build script).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.digest import sha256_of
from harness.errors import ModelError, describe_validation_error, unknown_name

class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid")
    macs: float
    params: float
    reference: str


class ZooEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    arch: str
    task: str
    format: str
    precision: Literal["fp32", "int8", "f32", "f16", "q8_0", "q4_0"]  # GGUF: the main tensor type
    input_shape: list[int]
    input_dtype: str
    output_shape: list[int]
    output_dtype: str
    file: str
    storage: Literal["repo", "cache"]
    #: the script in model_zoo/ that builds an on-demand entry
    builder: Literal["build.py", "tiny_gguf.py"] = "build.py"
    size_bytes: int
    sha256: str
    macs: int
    params: int
    expected: Expected

    @property
    def path(self) -> Path:
        base = zoo_dir() if self.storage == "repo" else cache_dir()
        return base / self.file

    @property
    def built(self) -> bool:
        return self.path.is_file()


def zoo_dir() -> Path:
    """$HARNESS_ZOO_DIR, else the zoo shipped with harness (the checkout's or the wheel's)."""
    from harness.shipped import shipped_dir

    env = os.environ.get("HARNESS_ZOO_DIR")
    return Path(env).expanduser() if env else shipped_dir("model_zoo")


def cache_dir() -> Path:
    env = os.environ.get("HARNESS_ZOO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "harness" / "zoo"


@lru_cache(maxsize=4)
def _load_manifest(path: Path, mtime_ns: int) -> tuple[ZooEntry, ...]:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ModelError(f"{path}: manifest is not valid YAML ({e})") from e
    rows = (doc or {}).get("models")
    if not isinstance(rows, list):
        raise ModelError(f"{path}: manifest has no 'models' list")
    entries = []
    for i, row in enumerate(rows):
        try:
            entries.append(ZooEntry.model_validate(row))
        except ValidationError as e:
            raise ModelError(f"{path}: {describe_validation_error(e, prefix=f'models[{i}].')}") from None
    return tuple(entries)


def entries() -> list[ZooEntry]:
    """Every manifest entry, in manifest order."""
    path = zoo_dir() / "manifest.yaml"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as e:
        raise ModelError(f"{path}: zoo manifest not found") from e
    return list(_load_manifest(path, mtime))


def resolve(spec: str) -> ZooEntry | None:
    """The entry named by an id, or by an architecture alone (its fp32 TFLite entry)."""
    by_id = {e.id: e for e in entries()}
    return by_id.get(spec) or by_id.get(f"{spec}-fp32-tflite") or by_id.get(f"{spec}-gguf")


def _names() -> set[str]:
    """What a --model may name from the zoo: entry ids and architectures."""
    return {n for e in entries() for n in (e.id, e.arch)}


def get(spec: str) -> ZooEntry:
    entry = resolve(spec)
    if entry is None:
        raise ModelError(unknown_name("zoo model", spec, _names(), "see `harness zoo list`"))
    return entry


def is_path(spec: str) -> bool:
    """Whether a --model value names a file (rather than a zoo id)."""
    from harness.formats import registry

    return os.sep in spec or "/" in spec or spec.lower().endswith(registry.extensions()) or Path(spec).exists()


def model_file(spec: str, build: bool = False) -> Path:
    """The model file for a zoo id/arch or a path to a model file of a registered format.

    A zoo entry that is built on demand and not built yet raises `ModelError` telling to
    run ``harness zoo build ID`` (or is built now with ``build=True``)."""
    if not is_path(spec):
        entry = resolve(spec)
        if entry is None:
            raise ModelError(unknown_name("model", spec, _names(),
                                          "not a zoo id (see `harness zoo list`) and no such file"))
        if entry.built:
            return entry.path
        if entry.storage == "cache":
            if build:
                return build_entry(entry.id)
            raise ModelError(f"zoo model {entry.id} is built on demand and is not built yet: "
                             f"run `harness zoo build {entry.id}`")
        raise ModelError(f"zoo model {entry.id}: committed file {entry.path} is missing "
                         "(incomplete checkout?)")
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelError(f"{path}: not a file")
    from harness.formats import registry

    registry.detect(path)  # raises for a file of no registered format, or not what it claims
    return path


class BuildResult(BaseModel):
    id: str
    path: str
    sha256: str
    matches_manifest: bool
    built_now: bool


def build(spec: str, force: bool = False) -> BuildResult:
    """Build a zoo entry (or every entry of an architecture's fp32 TFLite) if needed."""
    entry = get(spec)
    built_now = False
    if entry.storage == "repo":
        if not entry.built:
            raise ModelError(f"zoo model {entry.id} is committed but {entry.path} is missing "
                             "(incomplete checkout?)")
    elif force or not entry.built:
        build_entry(entry.id)
        built_now = True
    digest = sha256_of(entry.path)
    return BuildResult(id=entry.id, path=str(entry.path), sha256=digest,
                       matches_manifest=digest == entry.sha256, built_now=built_now)


def build_entry(entry_id: str) -> Path:
    """Run ``model_zoo/build.py`` (or the entry's builder) for one entry into the cache folder;
    returns its path."""
    entry = get(entry_id)
    if entry.builder == "tiny_gguf.py":
        return _build_gguf(entry)
    if importlib.util.find_spec("tensorflow") is None:
        raise ModelError(f"building {entry.id} needs TensorFlow: pip install 'harness[build]'")
    script = zoo_dir() / "build.py"
    if not script.is_file():
        raise ModelError(f"zoo build script not found: {script}")
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    try:  # progress lines to our stderr (a big model takes minutes)
        progress = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        progress = subprocess.DEVNULL
    # Build into a scratch folder and move the file in whole: an interrupted build never
    # leaves a partial file that would read as built.
    with tempfile.TemporaryDirectory(prefix=".building-", dir=out) as scratch:
        proc = subprocess.run([sys.executable, str(script), entry.id, "--out", scratch],
                              stdout=progress, stderr=subprocess.PIPE, text=True)
        built = Path(scratch) / Path(entry.file).name
        if proc.returncode != 0 or not built.is_file():
            # the script's stderr is mostly TensorFlow chatter; its last lines say what failed
            tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-3:]
            raise ModelError(f"building {entry.id} failed (exit {proc.returncode}): " + " | ".join(tail))
        os.replace(built, entry.path)
    return entry.path


def _build_gguf(entry: ZooEntry) -> Path:
    """A random-weight GGUF LLM, written by ``model_zoo/tiny_gguf.py`` (numpy and gguf only: seconds)."""
    script = zoo_dir() / "tiny_gguf.py"
    if not script.is_file():
        raise ModelError(f"zoo build script not found: {script}")
    spec = importlib.util.spec_from_file_location("harness_zoo_tiny_gguf", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    try:
        return module.ensure(Path(entry.file).stem, entry.path.parent)
    except ValueError as e:
        raise ModelError(f"building {entry.id} failed: {e}") from None

