"""The dashboard's sections, in page order.

A section is an anchor id, a title (the navigation and its heading) and a function from
the `ReportContext` (every device and run, gathered once) to the HTML under the heading.
To add one: write a module here with a ``render(ctx) -> list[Markup]`` and list it in
`SECTIONS`; the navigation and the heading follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.report.context import ReportContext
from harness.report.page import Markup
from harness.report.sections import failed, history, latency, llm, operators, provenance, roofline, summary, timelines


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    render: Callable[[ReportContext], list[Markup]]


SECTIONS: list[Section] = [
    Section("summary", "Summary", summary.render),
    Section("history", "History", history.render),
    Section("failed", "Failed and aborted runs", failed.render),
    Section("roofline", "Roofline", roofline.render),
    Section("llm", "LLMs", llm.render),
    Section("operators", "Operators", operators.render),
    Section("latency", "Latency distributions", latency.render),
    Section("timelines", "Telemetry timelines", timelines.render),
    Section("provenance", "Provenance", provenance.render),
]
