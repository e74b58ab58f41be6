"""What every dashboard section gets: the gathered devices and runs, and a way to embed a figure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.gather import DeviceView, RunView
from harness.report.page import Markup, tag

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class ReportContext:
    devices: list[DeviceView]
    results: Path
    max_points: int
    #: records left out, one line each (unreadable, incomplete), listed on the page
    skipped: list[str] = field(default_factory=list)
    _figure_ids: set[str] = field(default_factory=set)

    @property
    def runs(self) -> list[RunView]:
        return [v for d in self.devices for v in d.runs]

    def figure(self, fig, kind: str, key: str, post_script: str | None = None) -> Markup:
        """A plotly figure as a div plus its script (plotly.js itself is inlined once, in the head).
        `post_script`: JavaScript run once the figure is drawn (``{plot_id}`` is its div id)."""
        # plotly writes the div id into the HTML and the script unescaped, and the key (a
        # device or run id) comes from a manifest: keep only [A-Za-z0-9_-], then make it unique
        base = f"fig-{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "_", key)
        div_id, n = base, 1
        while div_id in self._figure_ids:
            n += 1
            div_id = f"{base}-{n}"
        self._figure_ids.add(div_id)
        html = fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOTLY_CONFIG, div_id=div_id,
                           post_script=post_script)
        return tag("div", Markup(html), class_="figure")
