"""The on-device agent: one self-contained file pushed to Linux-class targets.

`AGENT_PATH` is the file to push. The host imports its statistics (`median_ci`,
`BlockMedians`, `spread_interval`, `median_se`, `should_stop`) from it so host and
device apply one rule. `matrix` (host side) declares the Pythons and runtimes the
on-device code is tested on.
"""

from pathlib import Path

AGENT_PATH = Path(__file__).with_name("agent.py")
