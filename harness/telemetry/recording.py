"""Telemetry around one run: the thermal gate, before/after conditions, the sampler
with idle baselines, and the thermal watchdog.

    tele = RunTelemetry(transport, profile, config, recorder)
    tele.before()          # cooldown gate, snapshot, sampler start, idle baseline
    try: run the workload (abort when tele.tripped is set)
    finally: tele.after()  # idle baseline, sampler stop → recorder, snapshot

Rows go into the recorder's telemetry table on the device clock; the marks
(``baseline_start_ns``, ``workload_start_ns``, ``workload_end_ns``,
``baseline_end_ns``) go into its timeline; what the sampler could not find is noted.
A sampler that fails to start costs the run its telemetry (with a warning), never
its latency record. Serial targets have no shell: their energy comes from an
external power monitor (harness.telemetry.monitors).
"""

from __future__ import annotations

import threading

from harness.errors import HarnessError
from harness.profiles import DeviceProfile
from harness.store.record import RunConfig
from harness.store.recorder import Recorder
from harness.telemetry.sampler import Sampler
from harness.telemetry.thermal import ThermalWatchdog, clocks_dropped, snapshot, wait_for_cooldown
from harness.transports.base import CommandTransport, Transport


class RunTelemetry:
    def __init__(
        self,
        transport: Transport,
        profile: DeviceProfile,
        config: RunConfig,
        recorder: Recorder,
        cancel: threading.Event | None = None,
    ):
        self.transport = transport
        #: the user's abort: the cooldown wait and the idle baselines give way to it
        self.cancel = cancel or threading.Event()
        self.profile = profile
        self.config = config
        self.rec = recorder
        self.sampler: Sampler | None = None
        self._sampling: Sampler | None = None
        self.watchdog: ThermalWatchdog | None = None
        #: set when the watchdog sees a zone above limits.max_temp_c
        self.tripped = threading.Event()
        self._shell = isinstance(transport, CommandTransport)
        #: the agent writes its pid here so the sampler can follow its RSS and CPU time
        self.pid_file = transport.path("run", "agent.pid") if self._shell else None

    @property
    def trip_reason(self) -> str | None:
        return self.watchdog.reason if self.watchdog else None

    def before(self) -> None:
        if not self._shell:
            return
        t, rec = self.transport, self.rec
        if self.config.thermal_gate:
            rec.stage = "cooldown"
            rec.conditions["cooldown"] = wait_for_cooldown(t, self.profile, cancel=self.cancel)
        rec.stage = "telemetry"
        rec.conditions["before"] = snapshot(t, self.profile)
        # one command, not two: over ssh or adb each is a round trip on every run
        t.run(["sh", "-c", 'mkdir -p "$1" && rm -f "$2"', "sh", t.path("run"), self.pid_file], timeout=30)
        if not self.config.telemetry:
            return
        sampler = Sampler(t, self.profile, pid_file=self.pid_file)
        self.watchdog = ThermalWatchdog.for_profile(self.profile)
        if self.watchdog:
            sampler.listeners.append(self._watch)
        sampler.listeners.append(self._journal)
        self._sampling = sampler
        try:
            sampler.start()
            sampler.wait_samples(1)
        except HarnessError as e:
            rec.warnings.append(f"telemetry unavailable: {e}")
            try:
                sampler.stop()
            except HarnessError:
                pass
            return
        self.sampler = sampler
        rec.timeline["baseline_start_ns"] = sampler.mark("baseline_start_ns")
        self.cancel.wait(self.config.baseline_s)
        rec.timeline["workload_start_ns"] = sampler.mark("workload_start_ns")

    def _journal(self, row) -> None:
        """Each row as it comes, for the run's journal (a killed harness keeps it)."""
        t_ns = int(self._sampling.clock.to_monotonic(row.t_ns)) if self._sampling is not None else row.t_ns
        self.rec.add_live_telemetry(t_ns, row.channel, row.value, row.unit)

    def _watch(self, row) -> None:
        self.watchdog(row)
        if self.watchdog.tripped.is_set():
            self.tripped.set()

    def after(self) -> None:
        if not self._shell:
            return
        rec, sampler = self.rec, self.sampler
        if sampler is not None:
            self.sampler = None
            try:
                rec.timeline["workload_end_ns"] = sampler.mark("workload_end_ns")
                if not (self.tripped.is_set() or self.cancel.is_set()):
                    self.cancel.wait(self.config.baseline_s)
                rec.timeline["baseline_end_ns"] = sampler.mark("baseline_end_ns")
            finally:  # whatever broke above, keep every row the sampler delivered
                rows = sampler.stop()
                for row in rows:
                    rec.add_telemetry(row.t_ns, row.channel, row.value, row.unit)
                rec.conditions["telemetry"] = sampler.details()
                rec.warnings.extend(sampler.notes)  # e.g. the stream ended early: energy may be partial
                rec.add_raw("telemetry_sampler", sampler.raw_lines[:200])
                for channel in sampler.absent:
                    rec.notes.append(f"telemetry: configured channel absent on the target: {channel}")
        try:
            rec.conditions["after"] = snapshot(self.transport, self.profile)
        except HarnessError as e:  # the link may be gone after a failure: keep what we have
            rec.notes.append(f"no after-run snapshot: {e}")
            return
        dropped = clocks_dropped(rec.conditions.get("before", {}), rec.conditions["after"])
        if dropped:
            rec.conditions["clocks_dropped"] = dropped
