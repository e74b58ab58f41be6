"""harness: benchmark compiled ML models on real devices.

Data flows profiles → transports → runners → record → analysis → report; each
sub-package is one of those layers. The public API is re-exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The public API, imported on first use so `import harness` (and the CLI) stays fast.
_EXPORTS = {
    "load_profile": "harness.profiles",
    "DeviceProfile": "harness.profiles",
    "RunOptions": "harness.session",
    "plan_runs": "harness.session",
    "execute": "harness.session",
    "RunStore": "harness.store.store",
    "load_runs": "harness.store.store",
    "load_samples": "harness.store.store",
    "analyze": "harness.analysis.static",
    "build_report": "harness.report.dashboard",
    "HarnessError": "harness.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
