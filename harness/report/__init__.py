"""Reports: the HTML dashboard (`dashboard.build_report`) and trace export (`trace`).

The dashboard: `gather` reads the runs once, each module of `sections` renders one part
of the page from that (`sections.SECTIONS` lists them in order), `figures` builds the
plotly figures and `page` the escaped HTML (sortable, filterable tables).

The defaults live here, in a module that imports nothing heavy, so the CLI can show
them without loading plotly.
"""

from pathlib import Path

DEFAULT_OUT = Path("reports") / "index.html"
# Points per plotted series: about one per horizontal pixel of a full-width plot. plotly.js
# alone is 4.8 MB, so each telemetry run adds ~10 kB per channel at this setting.
DEFAULT_MAX_POINTS = 1200
