"""adb-shell's packet reader, made safe for many concurrent streams on one connection.

adb-shell 0.4 reads packets for every stream of a device under one transport lock, and
parks packets of other streams in a store. Three of its habits lost pushes for 60 s:

- A packet of the reader's own stream that it was not waiting for was thrown away. A
  device may answer a WRTE before it acknowledges it (each direction of a stream is
  flow-controlled on its own), so a sync reply that overtook its OKAY was lost, and the
  push waited out its whole read timeout for a reply that had already come.
- The reader held the transport lock for its whole wait (up to the read timeout), so no
  other stream could even acknowledge its data meanwhile: a device streaming a
  sampler's output stood still while a push waited.
- A CLSE for a stream with nothing queued yet was dropped, so the stream's owner never
  learned that it had closed.

`StreamPackets` keeps every packet, in order, per stream; `StreamReader.read` takes the
first packet of the stream that it asks for, waits for packets without the transport lock
(`PacketLink.wait_packet`) and holds it only to take one whole packet off the link, and
fails at once when the device closed the stream it waits on.
"""

from __future__ import annotations

import time
from collections import deque

from adb_shell import constants as adb_const
from adb_shell import exceptions as adb_exc
from adb_shell.adb_device import _AdbIOManager
from adb_shell.hidden_helpers import _AdbTransactionInfo

_CLSE = adb_const.CLSE


class StreamClosed(adb_exc.AdbConnectionError):
    """The device closed the stream a request was waiting on."""


class StreamPackets:
    """Packets read for streams that were not reading at the time, per (arg0, arg1), in order."""

    def __init__(self):
        self._queues: dict[tuple[int, int], deque] = {}

    def put(self, arg0: int, arg1: int, cmd: bytes, data: bytes) -> None:
        self._queues.setdefault((arg0, arg1), deque()).append((cmd, data))

    def take(self, info: _AdbTransactionInfo, expected, allow_zeros: bool):
        """The first stored packet of `info`'s stream whose command is expected; raise
        `StreamClosed` if the stream's next unread packet says it closed."""
        for (arg0, arg1), queue in list(self._queues.items()):
            if not info.args_match(arg0, arg1, allow_zeros):
                continue
            for i, (cmd, data) in enumerate(queue):
                if cmd in expected:
                    del queue[i]
                    if cmd == _CLSE:
                        self._queues.pop((arg0, arg1), None)  # nothing after a close matters
                    elif not queue:
                        self._queues.pop((arg0, arg1), None)
                    return cmd, arg0, arg1, data
                if cmd == _CLSE:
                    raise StreamClosed(f"the device closed stream {info.local_id} while it waited for "
                                       f"{'/'.join(c.decode() for c in expected)}")
        return None

    def has(self, info: _AdbTransactionInfo, expected, allow_zeros: bool) -> bool:
        """Whether `take` would return (or raise) for `info`'s stream."""
        return any(cmd in expected or cmd == _CLSE
                   for (a0, a1), queue in self._queues.items() if info.args_match(a0, a1, allow_zeros)
                   for cmd, _ in queue)

    def clear_all(self) -> None:
        self._queues.clear()


class StreamReader(_AdbIOManager):
    """adb-shell's `_AdbIOManager` with a `read` that never drops or blocks a stream."""

    def __init__(self, transport):
        super().__init__(transport)
        self._packet_store = StreamPackets()

    def read(self, expected_cmds, adb_info, allow_zeros=False):
        deadline = time.monotonic() + (adb_info.read_timeout_s or 0)
        link = self._transport

        def stored():
            with self._store_lock:
                return self._packet_store.has(adb_info, expected_cmds, allow_zeros)

        while True:
            with self._store_lock:
                hit = self._packet_store.take(adb_info, expected_cmds, allow_zeros)
            if hit:
                return hit
            left = deadline - time.monotonic()
            # wait without the transport lock: other streams read (and acknowledge) meanwhile
            if link.wait_packet(max(0.0, left), or_until=stored):
                with self._transport_lock:
                    if link.wait_packet(0):  # whole packets only: this read never blocks
                        cmd, arg0, arg1, data = self._read_packet_from_device(adb_info)
                        with self._store_lock:
                            self._packet_store.put(arg0, arg1, cmd, data)
                        link.wake()  # the packet may be another stream's
                continue
            raise adb_exc.AdbTimeoutError(
                f"no {'/'.join(c.decode() for c in expected_cmds)} within {adb_info.read_timeout_s:g} s"
            )


def install(device) -> None:
    """Give an `AdbDevice` this reader (before it connects)."""
    device._io_manager = StreamReader(device._io_manager._transport)
