"""Transports: one interface over the local host, ssh, adb and serial targets.

`open_transport(profile)` returns an unopened transport for the profile's kind; use it
as a context manager. To add a transport: implement `CommandTransport` or
`LineTransport` (harness/transports/base.py) and register it under the
``harness.transports`` entry-point group (`harness.transports.registry`).
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.profiles import DeviceProfile
from harness.transports.base import CommandTransport, LineTransport, TargetInfo, Transport
from harness.transports.registry import transport_class


def open_transport(profile: DeviceProfile) -> Transport:
    return transport_class(profile.transport.kind)(profile)


def check_device(profile: DeviceProfile) -> TargetInfo:
    """Can the target be reached (and if not, why), and what is on it (`devices check`)."""
    transport = open_transport(profile)
    try:
        transport.open()
    except HarnessError as e:
        transport.close()
        return TargetInfo(reachable=False, reason=str(e))
    try:
        info = transport.info()  # command targets: system probe; serial: the protocol's hello
    except HarnessError as e:
        return TargetInfo(reachable=False, reason=f"connected, then: {e}")
    finally:
        transport.close()
    info.notes[:0] = getattr(transport, "notes", [])
    return info


__all__ = [
    "CommandTransport",
    "LineTransport",
    "TargetInfo",
    "Transport",
    "check_device",
    "open_transport",
    "transport_class",
]
