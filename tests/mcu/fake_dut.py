"""A device written from the protocol table, served on a real TCP socket.

It is not our firmware: it follows /shared/reference/serial_protocol.md line by
line (commands end with '%', replies end with m-ready, `infer N W` prints warmup
and infer markers, two m-lap-us stamps and m-results), so the host runner is tested
against the documented wire format. The host reaches it as ``socket://127.0.0.1:PORT``
through pyserial, exactly like a QEMU UART.

`fault` makes it misbehave in one documented way: ``malformed_lap``,
``malformed_results``, ``error_on_infer``, ``reset_on_infer``, ``close_on_infer``
(the port dies), ``hang_on_infer`` (never answers), ``no_model`` (profile without
m-model), ``model:<id>`` (reports another model). ``tick_us=1000`` makes its timestamp
clock tick at 1 kHz (the slowest the protocol allows): stamps are whole milliseconds.
"""

from __future__ import annotations

import socket
import threading
import time

WRAP = 1 << 32


class FakeDut:
    def __init__(
        self,
        input_bytes: int = 40,
        n_results: int = 4,
        us_per_inference: int = 1500,
        start_us: int = 1000,
        fault: str | None = None,
        newline: str = "\r\n",
        noise: bool = True,
        dribble: bool = True,
        model: str = "kws01",
        fault_after_infers: int = 0,
        energy_board=None,
        seconds_per_inference: float = 0.0,
        relay: bool = False,
        tick_us: int = 1,
        wall_s_per_inference: float = 0.0,
    ):
        self.input_bytes = input_bytes
        self.n_results = n_results
        self.us_per_inference = us_per_inference
        self.clock_us = start_us
        self.fault = fault
        self.nl = newline
        self.noise = noise
        self.dribble = dribble  # send lines in small pieces, as a slow UART would
        self.model = model
        self.fault_after_infers = fault_after_infers
        # energy mode: timestamps are pulses on `energy_board` (a simulated monitor input),
        # and each inference really takes `seconds_per_inference` at the board's active power
        self.energy_board = energy_board
        self.seconds_per_inference = seconds_per_inference
        # behind an energy interface board: commands arrive as "dut <cmd>", the board
        # acknowledges with its own unprefixed lines, device lines get "[dut]: "
        self.relay = relay
        self.tick_us = tick_us
        self.wall_s_per_inference = wall_s_per_inference  # real time each inference takes
        self.commands: list[str] = []
        self.infers = 0
        self._db = bytearray()
        self._expected = 0
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        self.port = self._srv.getsockname()[1]
        self._conn: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        for s in (self._conn, self._srv):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self._thread.join(5)

    # -- wire --------------------------------------------------------------------------

    def _send(self, line: str, board: bool = False) -> None:
        if self.relay and not board:
            line = "[dut]: " + line
        data = (line + self.nl).encode()
        if self.dribble:
            for i in range(0, len(data), 5):
                self._conn.sendall(data[i:i + 5])
        else:
            self._conn.sendall(data)

    def _serve(self) -> None:
        try:
            self._run()
        except OSError:  # the host hung up: the device has nobody to talk to
            pass

    def _run(self) -> None:
        try:
            self._conn, _ = self._srv.accept()
        except OSError:
            return
        self._conn.settimeout(0.2)
        self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on dribbled lines
        time.sleep(0.05)  # boot time: a device starts printing a moment after power-up
        if self.noise:
            self._send("4 bytes lost due to alignment. To avoid this loss, please make sure the tensor_arena is 16 bytes aligned.")
        self._send("m-timestamp-mode-energy" if self.energy_board else "m-timestamp-mode-performance")
        self._send("m-init-done")
        self._send("m-ready")
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = self._conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"%" in buf:
                cmd, _, buf = buf.partition(b"%")
                text = cmd.decode(errors="replace").strip()[:80]  # commands are clamped at 80
                if self.relay:
                    if not text.startswith("dut "):
                        self._send(f"e-[unknown interface board command: {text}]", board=True)
                        continue
                    text = text[4:]
                    self._send(f"m-dut-passthrough({text})", board=True)
                    self._send("m-ready", board=True)
                self.commands.append(text)
                try:
                    if self._handle(text) == "stop":
                        return
                except OSError:
                    return

    # -- commands (from the protocol table) -----------------------------------------------

    def _handle(self, cmd: str) -> str | None:
        words = cmd.split()
        send = self._send
        if not words:
            send("m-ready")
            return None
        head = words[0]
        if head == "name":
            send("m-name-dut-[fake-dut]")
        elif head == "profile":
            send("m-profile-[ULPMark for tinyML Firmware V0.0.1]")
            if self.fault != "no_model":
                model = self.fault.split(":", 1)[1] if self.fault and self.fault.startswith("model:") else self.model
                send(f"m-model-[{model}]")
        elif head == "timestamp":
            self._timestamp()
        elif head == "db" and len(words) == 3 and words[1] == "load":
            n = int(words[2])
            if n <= 0 or n > self.input_bytes:
                send(f"e-[db load: buffer holds {self.input_bytes} bytes]")
            else:
                self._expected, self._db = n, bytearray()
                send(f"m-[Expecting {n} bytes]")
        elif head == "db" and len(words) == 2 and words[1] == "print":
            for i in range(0, len(self._db), 8):
                send("m-buffer-" + "-".join(f"{b:02x}" for b in self._db[i:i + 8]))
        elif head == "db" and len(words) == 2:
            digits = words[1]
            if len(digits) % 2:
                send("e-[Insufficent number of hex digits]")
            else:
                self._db += bytes.fromhex(digits)
                if len(self._db) == self._expected:
                    send("m-load-done")
        elif head == "infer":
            return self._infer(words)
        elif head == "results":
            send(self._results_line())
        elif head == "help":
            send("fake DUT: name profile timestamp db infer results help")
        else:
            send(f"e-[Unknown command: {head}]")
        send("m-ready")
        return None

    def _timestamp(self) -> None:
        if self.energy_board is not None:
            self.energy_board.pulse()  # energy mode: the timestamp is a pin edge, nothing printed
        else:
            self._send(f"m-lap-us-{self.clock_us // self.tick_us * self.tick_us % WRAP}")

    def _results_line(self, faulty: bool = False) -> str:
        vals = [((sum(self._db) + i * 37) % 1000) / 1000 for i in range(self.n_results)]
        if faulty and self.fault == "malformed_results":
            return "m-results-[0.100,0.2x0," + ",".join(f"{v:.3f}" for v in vals[2:]) + "]"
        return "m-results-[" + ",".join(f"{v:.3f}" for v in vals) + "]"

    def _infer(self, words: list[str]) -> str | None:
        n = int(words[1]) if len(words) > 1 else 1
        w = int(words[2]) if len(words) > 2 else 10
        send = self._send
        faulty = self.fault is not None and self.infers >= self.fault_after_infers
        self.infers += 1
        if faulty and self.fault == "error_on_infer":
            send("e-[Inference failed: arena too small]")
            send("m-ready")
            return None
        send(f"m-warmup-start-{w}")
        self.clock_us += w * self.us_per_inference
        send("m-warmup-done")
        send(f"m-infer-start-{n}")
        if faulty and self.fault == "reset_on_infer":
            send("m-timestamp-mode-performance")
            send("m-init-done")
            send("m-ready")
            return None
        if faulty and self.fault == "close_on_infer":
            self._conn.shutdown(socket.SHUT_RDWR)
            self._conn.close()
            return "stop"
        if faulty and self.fault == "hang_on_infer":
            return None
        self._timestamp()
        if self.noise:
            send("debug: running inferences")  # noise a host must ignore
        self.clock_us += n * self.us_per_inference
        if self.wall_s_per_inference:
            time.sleep(n * self.wall_s_per_inference)
        if self.energy_board is not None:
            self.energy_board.set_active(True)
            time.sleep(n * self.seconds_per_inference)
            self.energy_board.set_active(False)
        if faulty and self.fault == "malformed_lap":
            send(f"m-lap-us-{self.clock_us % WRAP}x")
        else:
            self._timestamp()
        send("m-infer-done")
        send(self._results_line(faulty))
        send("m-ready")
        return None


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
