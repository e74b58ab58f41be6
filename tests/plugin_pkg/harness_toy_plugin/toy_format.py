"""The toy model format: a text file starting with ``TOYMODEL``, then ``precision=<p>``
and ``work_ms=<milliseconds per inference>`` lines. It has no static analysis, so runs of
it have no roofline (and nothing is said about that)."""

from __future__ import annotations

from pathlib import Path

from harness.formats.base import ModelFormat


class ToyFormat(ModelFormat):
    name = "toy"
    extensions = (".toy",)
    magic = ((0, b"TOYMODEL"),)
    description = "toy model (tests): TOYMODEL header, then key=value lines"

    def precision(self, path: Path) -> str:
        return read_fields(path).get("precision", "unknown")


def read_fields(path: Path) -> dict[str, str]:
    lines = Path(path).read_text().splitlines()[1:]
    return dict(line.split("=", 1) for line in lines if "=" in line)
