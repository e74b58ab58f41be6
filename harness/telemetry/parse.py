"""`harness telemetry parse`: one entry point over every telemetry parser.

Line-oriented formats (tegrastats, vcgencmd) are streamed from the file; an empty file is
an error naming it, not an empty table."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError, unknown_name
from harness.logs.text import open_lines
from harness.telemetry import battery, sysfs, tegrastats, vcgencmd
from harness.telemetry.channels import ParseResult

#: formats read from sysfs: a dump (``path<TAB>value`` lines) or a directory tree rooted like ``/``
SYSFS_FORMATS = ("thermal", "rapl", "hwmon", "sysfs")
FORMATS = ("tegrastats", "vcgencmd", "battery", *SYSFS_FORMATS)
#: formats parsed line by line straight from the file
STREAMED = {"tegrastats": tegrastats.parse, "vcgencmd": vcgencmd.parse}


def parse_text(fmt: str, text: str, source: str = "<text>", current_unit: battery.CurrentUnit = "auto") -> ParseResult:
    if fmt == "tegrastats":
        return tegrastats.parse(text, source)
    if fmt == "vcgencmd":
        return vcgencmd.parse(text, source)
    if fmt == "battery":
        return battery.parse(text, source, current_unit)
    if fmt in SYSFS_FORMATS:
        view, problems = sysfs.DumpView.from_text(text)
        return sysfs.parse_view(view, fmt, source, problems)
    raise HarnessError(unknown_name("telemetry format", fmt, FORMATS))


def parse_file(fmt: str, path: Path, current_unit: battery.CurrentUnit = "auto") -> ParseResult:
    """Parse a captured output file, or (thermal/rapl/hwmon/sysfs) a directory tree rooted like ``/``."""
    path = Path(path)
    if fmt not in FORMATS:
        raise HarnessError(unknown_name("telemetry format", fmt, FORMATS))
    if path.is_dir():
        if fmt not in SYSFS_FORMATS:
            raise HarnessError(f"{path}: is a directory; --format {fmt} reads a captured output file")
        return sysfs.parse_view(sysfs.DirView(path), fmt, str(path))
    if fmt in STREAMED:
        if not path.exists():
            raise HarnessError(f"{path}: no such file")
        result = STREAMED[fmt](open_lines(path), str(path))
        if not result.readings and not result.problems and not result.missing:
            raise HarnessError(f"{path}: the file is empty (no {fmt} output to read)")
        return result
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except OSError as e:
        raise HarnessError(f"{path}: cannot read: {e.strerror}") from None
    if not text.strip():
        raise HarnessError(f"{path}: the file is empty (no {fmt} output to read)")
    return parse_text(fmt, text, str(path), current_unit)
