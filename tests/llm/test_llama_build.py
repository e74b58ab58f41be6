"""The llama.cpp build cache: pins, sdist verification, extraction, staleness, and the real cached build."""

from __future__ import annotations

import datetime as dt
import io
import os
import stat
import tarfile

import pytest

from harness.llm import build as b


def test_pins_are_consistent():
    assert b.SDIST_NAME == f"llama_cpp_python-{b.LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    assert len(b.SDIST_SHA256) == 64 and len(b.LLAMA_CPP_COMMIT) == 40
    assert b.PORTABLE_FLAGS["GGML_NATIVE"] == "OFF" and b.PORTABLE_FLAGS["HARNESS_LLAMA_COMMIT"] == b.LLAMA_CPP_COMMIT


def test_driver_hash_follows_its_sources(tmp_path):
    for p in b.DRIVER_SOURCE_DIR.iterdir():
        if p.is_file():
            (tmp_path / p.name).write_bytes(p.read_bytes())
    assert b.driver_sha256(tmp_path) == b.driver_sha256()
    cpp = tmp_path / "harness_llm_driver.cpp"
    cpp.write_text(cpp.read_text() + "\n// changed\n")
    assert b.driver_sha256(tmp_path) != b.driver_sha256()


def test_a_wrong_sdist_is_refused_and_deleted(tmp_path, monkeypatch):
    fake = tmp_path / "given.tar.gz"
    fake.write_bytes(b"not the sdist")
    monkeypatch.setenv("HARNESS_LLAMA_SDIST", str(fake))
    with pytest.raises(b.LlamaBuildError, match=r"sha256 [0-9a-f]{64} is not the pinned"):
        b.fetch_sdist(tmp_path / "sdist", progress=lambda m: None)
    assert not (tmp_path / "sdist" / b.SDIST_NAME).exists() and fake.exists()


def make_sdist(path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_extract_takes_only_the_vendored_tree(tmp_path):
    prefix = f"llama_cpp_python-{b.LLAMA_CPP_PYTHON_VERSION}/"
    sdist = tmp_path / "s.tar.gz"
    make_sdist(sdist, {
        prefix + "llama_cpp/llama.py": b"python",
        prefix + "vendor/llama.cpp/include/llama.h": b"// header",
        prefix + "vendor/llama.cpp/models/ggml-vocab.gguf": b"big",
        prefix + "vendor/llama.cpp/.git": b"gitdir: ../../.git/modules/vendor/llama.cpp",
    })
    dest = tmp_path / "src" / "llama.cpp"
    b.extract_llama_cpp(sdist, dest)
    assert (dest / "include" / "llama.h").read_bytes() == b"// header"
    assert not (dest / "models").exists() and not (dest / ".git").exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["llama.cpp"]  # no .partial left behind


def test_extract_refuses_an_sdist_without_llama_cpp(tmp_path):
    sdist = tmp_path / "s.tar.gz"
    make_sdist(sdist, {"other-1.0/setup.py": b""})
    with pytest.raises(b.LlamaBuildError, match="no .*vendor/llama.cpp/ tree inside"):
        b.extract_llama_cpp(sdist, tmp_path / "out")


def fake_build(cache, **override) -> b.LlamaBuild:
    bins = {}
    for t in b.TARGETS:
        p = cache / "bin" / t
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
        bins[t] = str(p)
    fields = dict(llama_cpp_python_version=b.LLAMA_CPP_PYTHON_VERSION, sdist_sha256=b.SDIST_SHA256,
                  llama_cpp_commit=b.LLAMA_CPP_COMMIT, cmake_flags=dict(b.PORTABLE_FLAGS),
                  driver_sha256=b.driver_sha256(), binaries=bins, built_at=dt.datetime.now(dt.timezone.utc),
                  build_seconds=1.0, host="test") | override
    build = b.LlamaBuild(**fields)
    (cache / "build.json").write_text(build.model_dump_json())
    return build


def test_load_build_accepts_only_a_current_complete_build(tmp_path):
    assert b.load_build(tmp_path) is None
    good = fake_build(tmp_path)
    assert b.load_build(tmp_path) == good
    fake_build(tmp_path, cmake_flags=dict(b.PORTABLE_FLAGS) | {"GGML_NATIVE": "ON"})
    assert b.load_build(tmp_path) is None
    fake_build(tmp_path, driver_sha256="0" * 64)
    assert b.load_build(tmp_path) is None
    fake_build(tmp_path)
    os.unlink(tmp_path / "bin" / "llama-bench")
    assert b.load_build(tmp_path) is None
    (tmp_path / "build.json").write_text("{corrupt")
    assert b.load_build(tmp_path) is None


def test_ensure_uses_the_cache_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LLAMA_CACHE", str(tmp_path))
    good = fake_build(tmp_path)
    monkeypatch.setattr(b, "_build", lambda *a: pytest.fail("rebuilt a current cache"))
    assert b.ensure_llama_build() == good


@pytest.mark.timeout(3600)
def test_the_real_cached_build(llama_build):
    assert llama_build.llama_cpp_python_version == b.LLAMA_CPP_PYTHON_VERSION
    assert llama_build.cmake_flags == b.PORTABLE_FLAGS and llama_build.driver_sha256 == b.driver_sha256()
    for path in (llama_build.llama_bench, llama_build.driver):
        assert path.is_file() and os.access(path, os.X_OK) and path.parent == b.llama_cache_dir() / "bin"
    assert b.ensure_llama_build().built_at == llama_build.built_at  # served from the cache
