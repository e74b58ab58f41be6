"""The power-monitor interface: start, stop, timestamped power samples, GPIO edges.

A monitor samples the DUT's supply on its own clock. `stop()` returns a
`MonitorTrace`: sample times (s, monitor clock), power (W) and the times of the
falling edges on the input wired to the DUT's timestamp pin. Energy between two
edges is `harness.analysis.energy.integrate_power` over the trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass
class MonitorTrace:
    t_s: np.ndarray
    power_w: np.ndarray
    edges_s: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rate_hz(self) -> float | None:
        if self.t_s.size < 2:
            return None
        return float((self.t_s.size - 1) / (self.t_s[-1] - self.t_s[0]))


def falling_edges(t_s: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Times where a 0/1 logic trace goes from 1 to 0 (the sample showing the 0)."""
    level = np.asarray(level).astype(bool)
    if level.size < 2:
        return np.empty(0)
    idx = np.flatnonzero(level[:-1] & ~level[1:]) + 1
    return np.asarray(t_s, dtype=np.float64)[idx]


class PowerMonitor(ABC):
    name: ClassVar[str]

    @abstractmethod
    def start(self) -> None:
        """Connect if needed, power the DUT and start acquiring."""

    @abstractmethod
    def stop(self) -> MonitorTrace:
        """Stop acquiring and return everything acquired since `start`."""

    def close(self) -> None:
        """Release the instrument."""

    def __enter__(self) -> PowerMonitor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
