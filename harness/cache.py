"""The user cache folder harness keeps its builds in: ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "harness"
