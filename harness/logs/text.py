"""What every log parser shares: lines read one at a time, bounded bookkeeping, one error type.

- `lines_of(source)` yields the lines of a text, a list of lines or an open file without
  copying the whole input (a 50 MB log is never split into a list), each without its
  ``\\n`` / ``\\r\\n``;
- `open_lines(path)` streams a file (undecodable bytes replaced), naming the path in the
  error when it cannot be read;
- `Kept` counts lines of one kind and keeps the first few verbatim, so a file of a
  million bad lines costs a counter, not a million strings;
- `LogFormatError`: the input is empty, or the figures that define the format are absent.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from harness.errors import HarnessError

#: how many lines of one kind (unrecognised, warnings…) are kept verbatim
KEEP_FIRST = 10

#: a decimal number as tools print it (C++ iostream, printf): 12, 1.5, .5, 1e-05, nan, inf
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)(?:\(ind\))?"


class LogFormatError(HarnessError):
    """The text is empty, or lacks the figures that define the format (the message says which)."""


class Kept(BaseModel):
    """A count of lines of one kind and the first `KEEP_FIRST` of them (``line N: text``)."""

    count: int = 0
    first: list[str] = Field(default_factory=list)

    def add(self, text: str, line_no: int | None = None) -> None:
        self.count += 1
        if len(self.first) < KEEP_FIRST:
            self.first.append(f"line {line_no}: {text}" if line_no is not None else text)

    def __bool__(self) -> bool:
        return self.count > 0


def lines_of(source: str | Iterable[str]) -> Iterator[str]:
    """The lines of a text (a `str`) or of any iterable of lines (a file, a list), without line ends."""
    if isinstance(source, str):
        source = io.StringIO(source, newline=None)
    for line in source:
        yield line.rstrip("\r\n")


def open_lines(path: Path) -> Iterator[str]:
    """Stream a file's lines (CRLF and CR handled, undecodable bytes replaced)."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8", errors="replace", newline=None)
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HarnessError(f"{path}: is a directory, not a log file") from None
    except OSError as e:
        raise HarnessError(f"{path}: cannot read: {e.strerror}") from None
    with fh:
        yield from lines_of(fh)


def number(text: str) -> float:
    """A number as the tools print it (``nan``, ``-nan(ind)`` and ``inf`` included)."""
    return float(text.replace("(ind)", ""))


def require_text(seen_text: bool, source: str) -> None:
    if not seen_text:
        raise LogFormatError(f"{source}: the file is empty (no text to read)")


def feed_lines(text_or_lines: str | Iterable[str], feed: Callable[[int, str], None], source: str) -> int:
    """Give every line (numbered from 1) to `feed`; the number of lines. An empty text is refused."""
    seen_text, n = False, 0
    for n, line in enumerate(lines_of(text_or_lines), start=1):
        seen_text = seen_text or not line.isspace() and bool(line)
        feed(n, line)
    require_text(seen_text, source)
    return n


def first_line_hint(kept: list[str]) -> str:
    """`` (first line: '…')`` for a refusal message, from the lines a parser kept."""
    return f" (first line: {kept[0]!r})" if kept else ""


_MS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def seconds(value: str, unit: str) -> float:
    """A duration in `unit` (s, sec, ms, us, ns) as seconds."""
    return number(value) * _MS[unit.lower().rstrip(".")]

