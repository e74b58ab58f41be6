"""The streamed-process template shared by the remote-shell transports (ssh, adb).

A command started through a remote shell comes back as a byte stream. Both transports
wrap the command so the shell first prints ``<tag><pid>`` (the pid leads the command's
process group), then ``exec``s it. `StreamedProcess` does the rest, once:

- incremental UTF-8 decoding (a character split across two chunks survives) and the
  split into lines, an unterminated last line included;
- the process-group marker: lines before it (a login script's chatter) are dropped, the
  pid after it is kept as `pgid`;
- either a queue of lines for `lines()`, ended by a sentinel, or (``keep_stdout``) the
  whole text for `CommandResult.stdout`;
- `terminate()`: kill the process group (SIGTERM, SIGKILL after the grace period) with
  the transport's kill command, then wait for the stream to end, else give it up.

A transport's subclass feeds it from its reader thread (`feed`, then `end_of_output`,
then `finish` once the exit status is known) and says how to kill a group
(`_kill_group`) and what to do when the kill cannot be sent or the stream never ends.
"""

from __future__ import annotations

import codecs
import queue
import threading
from abc import abstractmethod
from collections.abc import Iterator

from harness.errors import CommandTimeout, HarnessError, TransportError
from harness.transports.base import Process


class StreamedProcess(Process):
    #: how long `terminate` waits for the pgid marker of a command that just started
    pgid_wait_s: float = 0.0

    def __init__(self, argv: list[str], pgid_tag: str, keep_stdout: bool = False):
        self.argv = argv
        self.pgid: int | None = None
        #: set by the reader (or by `terminate`) when the command failed for a transport reason
        self.error: TransportError | None = None
        #: whether we sent the kill, and whether it took SIGKILL (the kill script's status 3)
        self.killed = False
        self.killed_hard = False
        self._tag = pgid_tag
        self._keep_stdout = keep_stdout
        self._kept: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self.pgid_known = threading.Event()
        self.done = threading.Event()

    # -- fed by the transport's reader thread -------------------------------------------

    def feed(self, data: bytes) -> None:
        self._pending += self._decoder.decode(data)
        *complete, self._pending = self._pending.split("\n")
        for line in complete:
            self._line(line, ended=True)

    def end_of_output(self) -> None:
        """The stream ended: flush an unterminated last line, release `lines()` and `start`."""
        self._pending += self._decoder.decode(b"", final=True)
        if self._pending:
            self._line(self._pending, ended=False)
        self._pending = ""
        self.pgid_known.set()  # never leave a starter waiting on a dead stream
        self._lines.put(None)

    def finish(self) -> None:
        """The command is over (exit status known, or given up): wake every waiter."""
        self.pgid_known.set()
        self._lines.put(None)
        self.done.set()

    def _line(self, line: str, ended: bool) -> None:
        if self.pgid is None:
            if line.startswith(self._tag):
                try:
                    self.pgid = int(line[len(self._tag):].strip())
                except ValueError:
                    pass
                self.pgid_known.set()
            return  # anything before the marker is the shell's, not the command's
        self._output(line, ended)

    def _output(self, line: str, ended: bool) -> None:
        if self._keep_stdout:
            self._kept.append(line + "\n" if ended else line)
        else:
            self._lines.put(line.rstrip("\r"))

    @property
    def stdout_text(self) -> str:
        """Everything the command printed (``keep_stdout``)."""
        return "".join(self._kept)

    # -- Process ----------------------------------------------------------------------------

    def lines(self) -> Iterator[str]:
        while True:
            line = self._lines.get()
            if line is None:
                break
            yield line
        self.done.wait()
        if self.error is not None:
            raise self.error

    def wait(self, timeout: float | None = None) -> int:
        if not self.done.wait(timeout):
            raise CommandTimeout(f"{self.argv[0]} did not exit within {timeout} s")
        if self.error is not None:
            raise self.error
        return self._exit_status()

    def terminate(self, grace_s: float = 5.0) -> None:
        if self.done.is_set():
            return
        self.pgid_known.wait(self.pgid_wait_s)
        if self.pgid is None or self.done.is_set():
            return
        self.killed = True  # before the kill lands: an exit watcher must not take it for a lost link
        try:
            self.killed_hard = self._kill_group(self.pgid, grace_s) == 3
        except HarnessError:
            self.killed = False
            self._kill_failed()
        if not self.done.wait(self._exit_wait_s(grace_s)):
            self._give_up()

    # -- what a transport supplies ----------------------------------------------------------

    @abstractmethod
    def _kill_group(self, pgid: int, grace_s: float) -> int | None:
        """Run the kill command (`base.kill_group_argv`) on the target; its exit status if known."""

    @abstractmethod
    def _exit_status(self) -> int:
        """The exit status once `done` (negative: killed by that signal)."""

    def _kill_failed(self) -> None:
        """The kill could not be sent (the link is gone)."""

    def _exit_wait_s(self, grace_s: float) -> float:
        return grace_s + 5.0

    def _give_up(self) -> None:
        """The stream did not end after the kill: stop waiting for it."""
        self.error = self.error or TransportError(f"no reply from the target after killing {self.argv[0]}")
        self.finish()
