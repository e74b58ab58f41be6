"""Fast path for tools that print the same line with new numbers (tegrastats): learn a line's
shape once from the parser itself, then read later lines of that shape with one regex match.

A shape is the line with its numbers made regex groups (digits inside names such as
``NVDLA0`` or ``VIN_SYS_5V0`` stay literal, as do signed numbers such as ``-256C``). The
parser stays the only authority on what a line means: `LineShapes.learn` parses the line and
two copies whose numbers are replaced by distinct sentinels (ascending, then descending), and
works out, for each output channel, which number it comes from and how (scaled by one of a
few factors, or the largest of a run of numbers: a GPU's clock over its GPCs), or that it is
read from text the shape keeps literal. The shape is used only when that explanation
reproduces the parser's output on all three lines exactly, and when the line left nothing
unrecognised (such lines are counted by the parser, so they keep taking the parser's path).
Anything else keeps the slow path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: a number as a separate token: not part of a name (``GR3D``, ``soc2``), not signed
NUMBER = r"(?<![\w.\-])\d{1,9}(?:\.\d{1,9})?(?!\d)"
#: how a channel's value may follow from the number it was read from
_SCALES: tuple[tuple[str, float], ...] = (("*", 1.0), ("/", 100.0), ("/", 1000.0), ("*", 1e6), ("*", 1048576.0),
                                          ("*", 1024.0))
# the key a line's shapes are filed under: its text without digits or decimal points (a shape
# learnt where a number had decimals also reads it without: tegrastats prints 42C and 41.968C)
_NO_DIGITS = str.maketrans("", "", "0123456789.")
#: distinct line skeletons remembered (a device prints a handful)
KEEP_SHAPES = 256
#: after this many shapes learnt, learning stops unless the learnt shapes read most lines
#: (a file whose every line has a new shape must not pay for learning on every line)
LEARN_TRIAL = 16

#: what the parser gives for one line: channel → (value, unit) in order, or None when the line is
#: not one it reads or left something unrecognised
LineValues = dict[str, tuple[float, str]]
ParseOne = Callable[[str], "LineValues | None"]


@dataclass
class Shape:
    regex: re.Pattern
    channels: tuple[str, ...]
    units: tuple[str, ...]
    #: per channel: (kind, group indices, scale op, factor); kind 'one', 'max' or 'const' (the value
    #: is the factor)
    plan: tuple[tuple[str, tuple[int, ...], str, float], ...]
    usable: bool = True

    def __post_init__(self) -> None:
        self.values = _compile(self.plan)


def _compile(plan: tuple[tuple[str, tuple[int, ...], str, float], ...]) -> Callable[[tuple[str, ...]], list[float]]:
    """The plan as one list expression over the match's groups. Built from integers and float
    reprs only (no text from the input), like the code `dataclasses` generates: one call per
    line instead of a Python-level step per channel."""
    terms = []
    for kind, idx, op, factor in plan:
        if kind == "const":
            terms.append(repr(float(factor)))
            continue
        x = f"f[{idx[0]}]" if kind == "one" else "max(" + ", ".join(f"f[{i}]" for i in idx) + ")"
        terms.append(x if (op, factor) == ("*", 1.0) else f"{x} {op} {float(factor)!r}")
    body = f"lambda f: [{', '.join(terms)}]"
    as_floats = eval(body, {"max": max})  # noqa: S307
    return lambda groups: as_floats(list(map(float, groups)))


def _sentinel_line(parts: list[str], numbers: list[str], order: list[int]) -> tuple[str, list[str]]:
    """The line with number k replaced by a distinct value (integers stay integers)."""
    texts = []
    for k, rank in enumerate(order):
        base = 1_000_003 + 7_919 * rank
        texts.append(f"{base}.{rank + 11}" if "." in numbers[k] else str(base))
    line = parts[0] + "".join(t + p for t, p in zip(texts, parts[1:]))
    return line, texts


def _explain(value: float, texts: list[str]) -> list[tuple[int, str, float]]:
    """Every (number index, op, factor) that turns one number into `value` exactly."""
    found = []
    for k, t in enumerate(texts):
        x = float(t)
        for op, factor in _SCALES:
            if (x * factor if op == "*" else x / factor) == value:
                found.append((k, op, factor))
    return found


class LineShapes:
    def __init__(self, parse_one: ParseOne, literal_before: str = "") -> None:
        """`literal_before`: a regex lookbehind body; numbers right after it stay literal (values
        whose meaning depends on the number itself, like a placeholder temperature)."""
        self._parse = parse_one
        self._number = re.compile((f"(?<!{literal_before})" if literal_before else "") + NUMBER)
        #: the line without digits → the shapes learnt for it (a few: digits in names, decimals)
        self._shapes: dict[str, list[Shape]] = {}
        self._last: Shape | None = None
        self._hits = self._learnt = 0

    def read(self, line: str) -> tuple[Shape, list[float]] | None:
        """(shape, values) when a learnt usable shape matches `line`; None: take the parser's path."""
        last = self._last
        if last is not None and (m := last.regex.fullmatch(line)) is not None:
            self._hits += 1
            return last, last.values(m.groups())
        for shape in self._shapes.get(line.translate(_NO_DIGITS), ()):
            m = shape.regex.fullmatch(line)
            if m is not None:
                if not shape.usable:
                    return None
                self._hits += 1
                self._last = shape
                return shape, shape.values(m.groups())
        return None

    def learn(self, line: str) -> None:
        """Learn the shape of a line the fast path did not match (or remember it is unusable)."""
        key = line.translate(_NO_DIGITS)
        known = self._shapes.get(key, ())
        if (self._learnt >= LEARN_TRIAL and self._hits < 8 * self._learnt) or len(known) >= 8 or any(
                s.regex.fullmatch(line) for s in known):
            return  # learning does not pay here, or the line's shape is known to be unusable
        self._learnt += 1
        numbers = [m.group() for m in self._number.finditer(line)]
        parts = self._number.split(line)
        pattern = re.escape(parts[0]) + "".join(
            (r"(\d{1,9}(?:\.\d{1,9})?)" if "." in n else r"(\d{1,9})") + re.escape(p)
            for n, p in zip(numbers, parts[1:]))
        shape = self._build(line, parts, numbers, re.compile(pattern))
        if len(self._shapes) < KEEP_SHAPES:
            self._shapes.setdefault(key, []).append(shape)

    def _build(self, line: str, parts: list[str], numbers: list[str], regex: re.Pattern) -> Shape:
        unusable = Shape(regex, (), (), (), usable=False)
        got = self._parse(line)
        n = len(numbers)
        up_line, up = _sentinel_line(parts, numbers, list(range(n)))
        down_line, down = _sentinel_line(parts, numbers, list(range(n - 1, -1, -1)))
        got_up, got_down = self._parse(up_line), self._parse(down_line)
        if got is None or got_up is None or got_down is None or not (list(got) == list(got_up) == list(got_down)):
            return unusable
        plan = []
        for channel in got:
            a, b = _explain(got_up[channel][0], up), _explain(got_down[channel][0], down)
            if not a and not b and got[channel][0] == got_up[channel][0] == got_down[channel][0]:
                plan.append(("const", (), "*", got[channel][0]))  # read from text the shape keeps literal
                continue
            if len(a) != 1 or len(b) != 1 or a[0][1:] != b[0][1:]:
                return unusable  # a figure that is not one number scaled
            (ka, op, factor), (kb, _, _) = a[0], b[0]
            if ka == kb:
                plan.append(("one", (ka,), op, factor))
                continue
            # the largest of several numbers: up picked the last of them, down the first; which of
            # those between take part is asked one by one (each made the largest of all)
            lo, hi = min(ka, kb), max(ka, kb)
            members = [lo]
            for j in range(lo + 1, hi):
                raised = list(up)
                raised[j] = "9999991.5" if "." in up[j] else "9999991"
                got_j = self._parse(parts[0] + "".join(t + p for t, p in zip(raised, parts[1:])))
                if got_j is None or channel not in got_j:
                    return unusable
                if _explain(got_j[channel][0], raised) == [(j, op, factor)]:
                    members.append(j)
            plan.append(("max", (*members, hi), op, factor))
        shape = Shape(regex, tuple(got), tuple(u for _, u in got.values()), tuple(plan))
        for text, expected in ((line, got), (up_line, got_up), (down_line, got_down)):
            m = regex.fullmatch(text)
            if m is None or shape.values(m.groups()) != [v for v, _ in expected.values()]:
                return unusable
        return shape
