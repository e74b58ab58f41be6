"""Read the report's tables back from its HTML (standard library parser): id -> rows of cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Cell:
    text: str
    attrs: dict[str, str | None] = field(default_factory=dict)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


@dataclass
class Table:
    id: str | None
    headers: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)

    def column(self, name: str) -> list[Cell]:
        i = self.headers.index(name)
        return [row[i] for row in self.rows]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self._stack: list[Table] = []
        self._cell: Cell | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._stack.append(Table(a.get("id")))
        elif not self._stack:
            return
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self._stack[-1].rows.append([])
        elif tag in ("td", "th"):
            self._cell = Cell("", a)

    def handle_endtag(self, tag):
        if tag == "table" and self._stack:
            self.tables.append(self._stack.pop())
        elif tag in ("td", "th") and self._cell is not None and self._stack:
            self._cell.text = " ".join(self._cell.text.split())
            if tag == "th":
                self._stack[-1].headers.append(self._cell.text)
            else:
                self._stack[-1].rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.text += data


def read_tables(html: str) -> list[Table]:
    parser = _Parser()
    parser.feed(html)
    return parser.tables


def table_by_id(html: str, table_id: str) -> Table:
    return next(t for t in read_tables(html) if t.id == table_id)
