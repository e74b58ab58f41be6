"""Where firmware builds go: the checkout's firmware/build, but never inside an installed
copy of the sources (a wheel's, inside the harness package): those build in the user cache,
in a folder per version of the sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.mcu import build as fw

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]


def _copy_sources(dest: Path) -> Path:
    shutil.copytree(REPO / "firmware", dest, ignore=shutil.ignore_patterns("build"))
    return dest


def _files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_a_checkout_builds_in_its_own_build_folder(tmp_path):
    assert fw.default_build_root(REPO / "firmware") == REPO / "firmware" / "build"
    src = _copy_sources(tmp_path / "my_firmware")  # $HARNESS_FIRMWARE_DIR at sources of one's own
    assert fw.default_build_root(src) == src / "build"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi")
def test_an_installed_copy_builds_in_the_user_cache(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "harness"
    src = _copy_sources(package / "_shipped" / "firmware")
    monkeypatch.setattr(fw, "installed_package_dir", lambda: package)
    monkeypatch.setenv("HARNESS_FIRMWARE_DIR", str(src))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = _files(src)

    result = fw.build_firmware()

    root = tmp_path / "cache" / "harness" / "firmware" / fw.sources_digest(src)
    assert result.elf == root / "synthetic" / "firmware.elf" and result.elf.is_file()
    assert result.flash_bytes > 0
    assert _files(src) == before  # nothing written into the installed package
    assert fw.build_firmware().elf == result.elf  # and reused


def test_the_cache_folder_follows_the_sources(tmp_path):
    a = _copy_sources(tmp_path / "a")
    b = _copy_sources(tmp_path / "b")
    assert fw.sources_digest(a) == fw.sources_digest(b)  # same sources, wherever installed
    (b / "build").mkdir()
    (b / "build" / "stale.o").write_bytes(b"\0")
    assert fw.sources_digest(a) == fw.sources_digest(b)  # build outputs are not sources
    with open(b / "protocol" / "ee_protocol.c", "a") as f:
        f.write("\n/* another version */\n")
    assert fw.sources_digest(a) != fw.sources_digest(b)
