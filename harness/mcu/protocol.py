"""Host side of the MLPerf Tiny / EEMBC EnergyRunner serial protocol.

`DutClient` sends ``cmd%`` and collects the device's lines until one contains
``m-ready``, with a deadline on every command, and keeps a transcript of both
directions. It knows the protocol table (docs: /shared/reference/serial_protocol.md,
firmware/README.md), not any one firmware:

- lines that do not start with ``m-`` or ``e-`` are noise (boot chatter, a
  firmware's own log lines) and are kept in the transcript only;
- ``e-[...]`` is a device error: `DeviceErrorReply`;
- ``m-init-done`` after the handshake means the device reset: `DeviceReset`;
- a known line whose payload does not parse (``m-lap-us-12x``, a results list with
  a word in it) is a `MalformedLine`;
- no ``m-ready`` before the deadline is a `DeviceTimeout`; a port that dies
  raises the transport's `TransportError`.

Through an energy interface board, commands go out as ``dut <cmd>%`` and the
device's lines come back prefixed with ``[dut]: `` (`relay=True`); the board's own
lines are noise then.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from harness.errors import HarnessError, RunAborted
from harness.transports.base import LineTransport


class DeviceProtocolError(HarnessError):
    """The device broke the serial protocol, reported an error, reset or stopped answering."""

    exit_code = 3


class DeviceErrorReply(DeviceProtocolError):
    """The device answered ``e-[...]``."""


class DeviceReset(DeviceProtocolError):
    """The device printed ``m-init-done`` again: it rebooted mid-run."""


class MalformedLine(DeviceProtocolError):
    """A protocol line whose payload does not parse."""


class DeviceTimeout(DeviceProtocolError):
    """No ``m-ready`` before the deadline."""


#: µs timestamps are 32-bit and wrap every 2^32 µs (about 71.6 minutes)
LAP_WRAP = 1 << 32
#: at most this many data bytes per `db` line (62 hex digits; 26 through an interface board)
DB_CHUNK_DIRECT = 31
DB_CHUNK_RELAYED = 26

_NAME_RE = re.compile(r"^m-(name)-dut-\[([^]]+)]$")  # the reference host's pattern
_PROFILE_RE = re.compile(r"^m-profile-\[(.*)]$")
_MODEL_RE = re.compile(r"^m-model-\[(.*)]$")
_LAP_RE = re.compile(r"^m-lap-us-(\d+)$")
_RESULTS_RE = re.compile(r"^m-results-\[(.*)]$")
_EXPECT_RE = re.compile(r"^m-\[Expecting (\d+) bytes]$")
_COUNT_RE = re.compile(r"^m-(warmup-start|infer-start)-(\d+)$")
#: protocol tokens a device may print right after its own debug text ('…starting at 1526042425m-warmup-start-1')
_GLUED_RE = re.compile(r"m-(?:warmup-start|warmup-done|infer-start|infer-done|lap-us|results|ready|init-done)|e-\[")
_FLOAT_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^[-+]?(nan|inf)$", re.IGNORECASE)


@dataclass
class InferReply:
    """What one `infer N W%` returned."""

    iterations: int
    warmups: int
    laps_us: list[int]  # raw 32-bit values, in order (two in performance mode, none in energy mode)
    results: list[float] | None

    @property
    def elapsed_us(self) -> int | None:
        """Second lap minus first, modulo 2^32 (the timer may wrap inside a window)."""
        if len(self.laps_us) < 2:
            return None
        return (self.laps_us[1] - self.laps_us[0]) % LAP_WRAP


def protocol_line(raw: str, relay: bool = False) -> str | None:
    """The device's protocol line in `raw` (``m-…`` / ``e-…``), or None for noise.

    `relay`: the line came through an energy interface board, which prefixes the
    device's lines with ``[dut]: `` (its own lines are noise then). A protocol token
    glued after the device's own debug text is the protocol line from there on."""
    line = raw.strip()
    if relay:
        if not line.startswith("[dut]: "):
            return None
        line = line[len("[dut]: "):].strip()
    if line.startswith(("m-", "e-")):
        return line
    glued = _GLUED_RE.search(line)
    return line[glued.start():] if glued else None


def infer_count(line: str) -> tuple[str, int] | None:
    """``m-warmup-start-W`` → ("warmup-start", W), ``m-infer-start-N`` → ("infer-start", N)."""
    m = _COUNT_RE.match(line)
    return (m.group(1), int(m.group(2))) if m else None


def parse_lap(line: str) -> int:
    m = _LAP_RE.match(line)
    if not m:
        raise MalformedLine(f"malformed timestamp line {line!r} (expected m-lap-us-<decimal µs>)")
    value = int(m.group(1))
    if value >= LAP_WRAP:
        raise MalformedLine(f"timestamp {value} in {line!r} does not fit the protocol's 32-bit µs counter")
    return value


def parse_results(line: str) -> list[float]:
    m = _RESULTS_RE.match(line)
    if not m:
        raise MalformedLine(f"malformed results line {line!r} (expected m-results-[v,v,...])")
    body = m.group(1).strip()
    if not body:
        return []
    values = [v.strip() for v in body.split(",")]
    bad = [v for v in values if not _FLOAT_RE.match(v)]
    if bad:
        raise MalformedLine(f"malformed results line {line!r}: {bad[0]!r} is not a number")
    return [float(v) for v in values]


class DutClient:
    def __init__(
        self,
        transport: LineTransport,
        transcript: list[str],
        line_timeout_s: float = 5.0,
        infer_timeout_s: float = 30.0,
        cancel: threading.Event | None = None,
        relay: bool = False,
    ):
        self.t = transport
        self.transcript = transcript
        self.line_timeout_s = line_timeout_s
        self.infer_timeout_s = infer_timeout_s
        self.cancel = cancel or threading.Event()
        self.relay = relay
        self.handshake_done = False
        self._t0 = time.monotonic()
        #: the input buffer's contents after the last complete `db` load
        self._loaded: bytes | None = None

    # -- transcript ---------------------------------------------------------------------

    def _log(self, direction: str, text: str) -> None:
        self.transcript.append(f"{time.monotonic() - self._t0:10.3f} {direction} {text}")

    # -- line level ---------------------------------------------------------------------

    def _next_line(self, timeout_s: float) -> str | None:
        """The next protocol line (transcribed; noise and relay prefixes handled), or None."""
        raw = self.t.read_line(timeout_s)
        if raw is None:
            return None
        self._log("<", raw)
        return protocol_line(raw, self.relay)

    def drain_boot(self, wait_s: float) -> list[str]:
        """Read what the device prints on its own for up to `wait_s` (its boot banner when
        we connected as it started); stop early after the banner's m-ready."""
        seen: list[str] = []
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            line = self._next_line(min(left, 0.2))
            if line is None:
                continue
            seen.append(line)
            if "m-ready" in line and any("m-init-done" in s for s in seen):
                break
        return seen

    def command(self, cmd: str, timeout_s: float | None = None) -> list[str]:
        """Send ``cmd%``; return the device's protocol lines before m-ready."""
        if len(cmd) > 80:
            raise DeviceProtocolError(f"command {cmd[:30]!r}… is {len(cmd)} characters; the protocol allows 80")
        wire = f"dut {cmd}%" if self.relay else f"{cmd}%"
        self._log(">", wire)
        self.t.write(wire.encode("ascii"))
        timeout_s = self.line_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while True:
            if self.cancel.is_set():
                raise RunAborted(f"cancelled while waiting for the reply to {cmd!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                tail = "; ".join(lines[-3:]) or "nothing"
                raise DeviceTimeout(f"no m-ready from the device within {timeout_s:g} s after '{cmd}%' (got: {tail})")
            line = self._next_line(min(left, 0.25))
            if line is None:
                continue
            if line.startswith("e-"):
                raise DeviceErrorReply(f"device error after '{cmd}%': {line}")
            if "m-init-done" in line and self.handshake_done:
                raise DeviceReset(f"device reset while running '{cmd}%' (it printed m-init-done again)")
            if "m-ready" in line:
                return lines
            lines.append(line)

    # -- commands -------------------------------------------------------------------------

    def name(self) -> str:
        for line in self.command("name"):
            m = _NAME_RE.match(line)
            if m:
                return m.group(2)
            if line.startswith("m-name"):
                raise MalformedLine(f"malformed name line {line!r} (expected m-name-dut-[<name>])")
        raise MalformedLine("no m-name-dut-[...] line in the reply to 'name%'")

    def profile(self) -> tuple[str, str | None]:
        """(firmware profile, model id or None)."""
        firmware, model = None, None
        for line in self.command("profile"):
            if (m := _PROFILE_RE.match(line)) is not None:
                firmware = m.group(1)
            elif (m := _MODEL_RE.match(line)) is not None:
                model = m.group(1)
            elif line.startswith(("m-profile", "m-model")):
                raise MalformedLine(f"malformed profile line {line!r}")
        if firmware is None:
            raise MalformedLine("no m-profile-[...] line in the reply to 'profile%'")
        return firmware, model

    def load(self, data: bytes) -> None:
        """`db load N`, then `db HEX` lines of at most 31 (relayed: 26) bytes."""
        n = len(data)
        reply = self.command(f"db load {n}")
        announced = [int(m.group(1)) for line in reply if (m := _EXPECT_RE.match(line))]
        if announced != [n]:
            raise MalformedLine(f"expected 'm-[Expecting {n} bytes]' after 'db load {n}%', got {reply}")
        chunk = DB_CHUNK_RELAYED if self.relay else DB_CHUNK_DIRECT
        for i in range(0, n, chunk):
            reply = self.command(f"db {data[i:i + chunk].hex()}")
            last = i + chunk >= n
            done = any("m-load-done" in line for line in reply)
            if done != last:
                where = "before the last byte" if done else f"after all {n} bytes"
                raise DeviceProtocolError(f"device reported m-load-done {where}" if done
                                          else f"no m-load-done {where}")
        self._loaded = bytes(data)

    def forget_input(self) -> None:
        """The device's input buffer no longer holds what was loaded (after a `db load` probe)."""
        self._loaded = None

    def ensure_loaded(self, data: bytes) -> None:
        """`load`, unless the input buffer already holds these bytes (every `db` line is a round trip)."""
        if data != self._loaded:
            self.load(data)

    def infer(self, iterations: int, warmups: int, expect_laps: bool, timeout_s: float) -> InferReply:
        """`infer N W` with W always explicit (the device's default is 10)."""
        lines = self.command(f"infer {iterations} {warmups}", timeout_s)
        counts = dict(c for line in lines if (c := infer_count(line)))
        if counts.get("infer-start") != iterations:
            raise MalformedLine(f"'infer {iterations} {warmups}%' answered without m-infer-start-{iterations}: {lines}")
        if counts.get("warmup-start", warmups) != warmups:
            raise MalformedLine(f"asked for {warmups} warmups, device announced m-warmup-start-{counts['warmup-start']}")
        if "m-infer-done" not in lines:
            raise MalformedLine(f"no m-infer-done in the reply to 'infer {iterations} {warmups}%'")
        start = next(i for i, line in enumerate(lines) if line.startswith("m-infer-start"))
        laps = [parse_lap(line) for line in lines[start:] if line.startswith("m-lap-us")]
        if expect_laps and len(laps) != 2:
            raise MalformedLine(f"expected 2 m-lap-us lines around the inferences, got {len(laps)}: {lines}")
        results = None
        for line in lines:
            if line.startswith("m-results"):
                results = parse_results(line)
        return InferReply(iterations=iterations, warmups=warmups, laps_us=laps, results=results)
