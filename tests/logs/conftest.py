"""Log-parser tests: verbatim captures (captures/), one folder per tool."""

from __future__ import annotations

from pathlib import Path

CAPTURES = Path(__file__).resolve().parent / "captures"


def capture_path(tool: str, name: str) -> Path:
    return CAPTURES / tool / name


def every(tool: str) -> list[str]:
    return sorted(p.name for p in (CAPTURES / tool).iterdir() if not p.name.startswith("."))
