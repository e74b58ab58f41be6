"""harness: benchmark compiled ML models on real devices.

Data flows profiles → transports → runners → record → analysis → report; each
sub-package is one of those layers. The public API is re-exported here.
"""

from __future__ import annotations

__version__ = "0.1.0"
