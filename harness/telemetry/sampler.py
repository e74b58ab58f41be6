"""The one streaming telemetry sampler per run, on the target.

    sampler = Sampler(transport, profile, rate_hz=20).start()
    ... sampler.mark("baseline_start_ns") ... run the workload ...
    rows = sampler.stop()          # [(t_ns, channel, value, unit)], t_ns on CLOCK_MONOTONIC
    sampler.absent                 # configured channels the target does not have
    sampler.clock_details()        # how stamps were put on the agent's clock

Steps: `discovery.discover` reads what sensors the target has (one round trip); the
profile's ``sensors`` become a list of files (thermal zones by type, cpufreq by CPU,
INA3221 rails by label, RAPL zones, battery files) plus optional tegrastats/vcgencmd
streams; the sampler (``sampler.sh`` under ``sh``, or ``sampler_py.py`` under the
target's Python, `CommandTransport.agent_python`) reads them every period and prints one line per sample; a reader thread
turns lines into rows as they arrive (listeners such as the thermal watchdog see them
live); `stop` maps stamps onto CLOCK_MONOTONIC (see `clock`), calibrates the battery
current's sign and unit over the whole run, and unwraps RAPL counters.

Modes: ``native`` (a static C program built on the host for the target's architecture,
`harness.telemetry.native`: exact monotonic stamps and the lowest cost, well under 1 %
of a core at 100 Hz), ``python`` (exact monotonic stamps; needs the agent's Python on
the target: the profile's ``defaults.python``, else python3), ``shell`` (works
everywhere, Android included; a fork per sample under dash), ``auto`` (native when it
builds for the target and starts there, else python when the target has it, else
shell). The record's ``conditions.telemetry`` says which mode ran, at what rate, and
the share of a core it used; above 2 % a warning says it may perturb the latency. The
sysfs root is a parameter (default ``/``) so tests run the real script against fixture
trees.

Baseline windows: `mark(name)` returns the device-clock time of the newest sample
the host has received (at most one period plus transport latency behind) and keeps
it in `marks`; the session puts them in the record's ``timeline``
(``baseline_start_ns``, ``baseline_end_ns``; the agent supplies the workload marks).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from harness.errors import HarnessError
from harness.profiles import DeviceProfile
from harness.telemetry import battery, tegrastats, vcgencmd
from harness.telemetry.channels import Problem, Reading, TelemetryRow
from harness.telemetry.clock import PROBE, ClockMap, parse_probe, stamp_ns
from harness.telemetry.discovery import Discovery, discover
from harness.telemetry.procfs import cpu_time_s, rss_bytes
from harness.telemetry.sysfs import cpufreqs, hwmon_channels, rapl_zones, thermal_c, thermal_zones, unwrap_energy
from harness.transports.base import CommandTransport, Process

Mode = Literal["auto", "native", "shell", "python"]
Listener = Callable[[TelemetryRow], None]

#: tegrastats cannot go much faster than this (ms); vcgencmd forks per call, so it is slow
TEGRASTATS_MIN_MS = 100
VCGENCMD_PERIOD_S = 0.5
PMIC_PERIOD_S = 2.0
#: the sampler's output lines kept verbatim (the record stores this many)
MAX_RAW_LINES = 200
#: share of one core above which the sampler's own cost is reported as a warning
CPU_SHARE_WARNING = 0.02


def _script(name: str) -> str:
    return resources.files("harness.telemetry").joinpath(name).read_text()


@dataclass
class Channel:
    kind: str  # thermal | freq | hwmon_v | hwmon_i | rapl | bat_i | bat_v | bat_status
    channel: str
    path: str  # target path as opened (root prefix included)
    max_range_uj: int | None = None


class Sampler:
    def __init__(
        self,
        transport: CommandTransport,
        profile: DeviceProfile,
        rate_hz: float | None = None,
        root: str = "/",
        pid_file: str | None = None,
        mode: Mode = "auto",
        everything: bool | None = None,
        max_duration_s: float = 6 * 3600,
        battery_current_unit: battery.CurrentUnit = "auto",
        shell: str = "sh",  # e.g. "busybox sh"; split into words
    ):
        self.transport = transport
        self.profile = profile
        self.rate_hz = float(rate_hz or profile.sensors.rate_hz)
        if not 0 < self.rate_hz <= 2000:
            raise HarnessError(f"sampler rate must be in (0, 2000] Hz, not {self.rate_hz}")
        self.root = root
        self.pid_file = pid_file
        self.mode = mode
        s = profile.sensors
        nothing_configured = not (s.thermal_zones or s.cpufreq_cpus or s.battery or s.hwmon_rails or s.rapl
                                  or s.tegrastats or s.vcgencmd or s.pmic_read_adc)
        #: sample whatever the target exposes (the local host with an empty profile)
        self.everything = (profile.transport.kind == "local" and nothing_configured) if everything is None else everything
        self.max_duration_s = max_duration_s
        self.battery_current_unit = battery_current_unit
        self.shell = shell
        self.channels: list[Channel] = []
        self.absent: list[str] = []
        self.marks: dict[str, int] = {}
        self.raw_lines: list[str] = []  # the first MAX_RAW_LINES output lines
        #: what went wrong around the sampler without costing the rows (a probe at stop, ...)
        self.notes: list[str] = []
        #: how the sampler ran, for the record's notes (a fallback from the native mode, ...)
        self.notes_info: list[str] = []
        self.listeners: list[Listener] = []
        self.discovery: Discovery | None = None
        self.clock = ClockMap("monotonic")
        self.header: dict[str, str] = {}
        self.exit_reason: str | None = None
        #: the mode that ran: native | python | shell (filled by start())
        self.used_mode: str | None = None
        self._native: str | None = None  # the native binary's path on the target
        self._proc: Process | None = None
        self._reader: threading.Thread | None = None
        self._header_seen = threading.Event()
        self._lock = threading.Lock()
        self._latest_src_ns: int | None = None
        self._first_src_ns: int | None = None
        self._n_samples = 0
        self._started_at: float | None = None
        self._cpu_at_start: tuple[float, float] | None = None  # (host monotonic s, sampler CPU s)
        #: the sampler's own CPU use on the target (filled by stop())
        self.own_cpu_s: float | None = None
        self.own_cpu_fraction: float | None = None
        self.battery_calibration: dict[str, str] | None = None
        self._rows: list[TelemetryRow] = []  # source-clock stamps until stop()
        self._bat: list[tuple[int, battery.BatterySample]] = []
        self._rapl: dict[str, list[tuple[int, int | None]]] = {}
        self._vc: dict[int, list[str]] = {}
        self._tegra = False
        self._vc_on = False
        self._pmic = False

    # -- plan --------------------------------------------------------------------------

    def plan(self) -> list[Channel]:
        """Resolve the profile's sensors against what the target has (fills `absent`)."""
        s = self.profile.sensors
        d = self.discovery = discover(self.transport, self.root, s.battery, tuple({r.driver_dir for r in s.hwmon_rails}),
                                      python=self.transport.agent_python())
        view, chans, absent = d.view, [], []

        zones = thermal_zones(view)
        wanted = ["*"] if self.everything and not s.thermal_zones else s.thermal_zones
        if "*" in wanted:
            chans += [Channel("thermal", z.channel, d.local_path(z.temp_path)) for z in zones if z.temp_c is not None]
        else:
            for name in wanted:
                match = [z for z in zones if z.type == name and z.temp_c is not None]
                if match:
                    chans += [Channel("thermal", z.channel, d.local_path(z.temp_path)) for z in match]
                else:
                    absent.append(f"thermal/{name}")

        cpus = {c.cpu: c for c in cpufreqs(view)}
        wanted_cpus = sorted(cpus) if self.everything and not s.cpufreq_cpus else s.cpufreq_cpus
        for n in wanted_cpus:
            if n in cpus and cpus[n].cur_hz is not None:
                chans.append(Channel("freq", f"freq/cpu{n}", d.local_path(cpus[n].cur_path)))
            else:
                absent.append(f"freq/cpu{n}")

        for rail in s.hwmon_rails:
            found = hwmon_channels(view, rail.driver_dir).get(rail.label)
            if found and found.voltage_path and found.voltage_v is not None:
                chans.append(Channel("hwmon_v", f"voltage/{rail.label}", d.local_path(found.voltage_path)))
            else:
                absent.append(f"voltage/{rail.label}")
            if found and found.current_path and found.current_a is not None:
                chans.append(Channel("hwmon_i", f"current/{rail.label}", d.local_path(found.current_path)))
            else:
                absent.append(f"current/{rail.label}")

        if s.rapl or self.everything:
            zones_r = [z for z in rapl_zones(view) if z.energy_uj is not None]
            chans += [Channel("rapl", f"energy/{z.name}", d.local_path(z.energy_path), z.max_range_uj) for z in zones_r]
            if not zones_r and s.rapl:
                absent.append("energy/rapl")  # none, or energy_uj not readable (often root-only)

        if s.battery:
            base = s.battery.rstrip("/")
            for kind, f, ch in (("bat_i", "current_now", "current/battery"), ("bat_v", "voltage_now", "voltage/battery"),
                                ("bat_status", "status", None)):
                if view.read(f"{base}/{f}") is not None:
                    chans.append(Channel(kind, ch or "status/battery", d.local_path(f"{base}/{f}")))
                elif ch:
                    absent.append(ch)

        self._tegra = s.tegrastats and "tegrastats" in d.commands
        self._vc_on = s.vcgencmd and "vcgencmd" in d.commands
        self._pmic = s.pmic_read_adc and "vcgencmd" in d.commands
        for wanted_tool, have, name in ((s.tegrastats, self._tegra, "tegrastats"), (s.vcgencmd, self._vc_on, "vcgencmd"),
                                        (s.pmic_read_adc, self._pmic, "pmic_read_adc")):
            if wanted_tool and not have:
                absent.append(f"{name} (command not found)")
        self.channels, self.absent = chans, absent
        return chans

    # -- lifecycle ---------------------------------------------------------------------

    def _argv(self, mode: str) -> list[str]:
        args = [
            str(max(1, round(1e6 / self.rate_hz))),
            str(int(self.max_duration_s)),
            self.pid_file or "-",
            getattr(self.transport, "workdir", None) or "-",
            str(max(TEGRASTATS_MIN_MS, round(1000 / self.rate_hz))) if self._tegra else "0",
            str(VCGENCMD_PERIOD_S) if self._vc_on else "0",
            str(PMIC_PERIOD_S) if self._pmic else "0",
            *[c.path for c in self.channels],
        ]
        if mode == "native":
            return [self._native, *args]
        if mode == "python":
            return [self.transport.agent_python(), "-c", _script("sampler_py.py"), *args]
        return [*shlex.split(self.shell), "-c", _script("sampler.sh"), "harness-sampler", *args]

    def _native_binary(self) -> str:
        """Build (cached), push and try the native sampler on the target; its remote path."""
        from harness.telemetry.native import NativeUnavailable, binary_for

        arch = self.discovery.arch if self.discovery else None
        if not arch:
            raise NativeUnavailable("the target did not say its architecture (uname -m)")
        local = binary_for(arch)
        remote = self.transport.path("telemetry", f"{local.parent.name}-{local.name}")
        self.transport.push(local, remote)
        self.transport.run(["chmod", "755", remote], timeout=30)
        res = self.transport.run([remote, "1000", "0", "-", "-", "0", "0", "0"], timeout=30)
        if not res.stdout.startswith("H\t"):
            raise NativeUnavailable(f"the native sampler for {arch} does not run on the target "
                                    f"(status {res.returncode}: {(res.stderr or res.stdout).strip()[-200:]})")
        return remote

    def _choose_mode(self) -> str:
        if self.mode in ("auto", "native"):
            from harness.telemetry.native import NativeUnavailable

            try:
                self._native = self._native_binary()
                return "native"
            except (NativeUnavailable, HarnessError) as e:
                if self.mode == "native":
                    raise HarnessError(f"{self.transport.describe()}: sampler mode 'native': {e}") from None
                self.notes_info.append(f"native sampler unavailable, fell back: {e}")
        if self.mode == "python" and not self._has_python():
            raise HarnessError(f"{self.transport.describe()}: sampler mode 'python' needs "
                               f"{self.transport.agent_python()} on the target")
        if self.mode == "shell":
            return "shell"
        return "python" if self.mode == "python" or self._has_python() else "shell"

    def _has_python(self) -> bool:
        return "python" in (self.discovery.commands if self.discovery else {})

    def _probe(self) -> None:
        if self.clock.source == "monotonic" or not self._has_python():
            return
        res = self.transport.run([self.transport.agent_python(), "-c", PROBE], timeout=30)
        point = parse_probe(res.stdout) if res.ok else None
        if point:
            self.clock.points.append(point)

    def start(self, timeout_s: float = 30.0) -> Sampler:
        if self._proc is not None:
            raise HarnessError("sampler already started")
        self.plan()
        if self.workdir_needed():
            self.transport.run(["mkdir", "-p", self.transport.workdir], timeout=30)
        self.used_mode = self._choose_mode()
        self._proc = self.transport.start(self._argv(self.used_mode))
        self._reader = threading.Thread(target=self._read, name="telemetry-sampler", daemon=True)
        self._reader.start()
        if self._header_seen.wait(timeout_s):
            self._started_at = time.monotonic()
            try:
                cpu0 = self._own_cpu_s()
                if cpu0 is not None:
                    self._cpu_at_start = (time.monotonic(), cpu0)
            except HarnessError:
                pass  # the share then includes the start-up
        else:
            err = self._proc.stderr.strip()[-300:] if self._proc else ""
            self._proc.terminate(grace_s=2)
            raise HarnessError(f"telemetry sampler did not start within {timeout_s} s: {err or 'no output'}")
        self._probe()
        return self

    def workdir_needed(self) -> bool:
        return bool(getattr(self.transport, "workdir", None))

    def mark(self, name: str) -> int:
        """Device-clock ns of the newest sample received; kept in `marks[name]`."""
        with self._lock:
            src = self._latest_src_ns
        if src is None:
            raise HarnessError("sampler has no sample yet: cannot mark the timeline")
        t = int(self.clock.to_monotonic(src))
        self.marks[name] = t
        return t

    def wait_samples(self, n: int = 1, timeout_s: float = 10.0) -> None:
        """Block until at least `n` samples have arrived."""
        deadline = time.monotonic() + timeout_s
        while self.samples_received < n:
            if time.monotonic() > deadline:
                raise HarnessError(f"telemetry sampler sent {self.samples_received} samples in {timeout_s} s")
            time.sleep(0.01)

    @property
    def samples_received(self) -> int:
        with self._lock:
            return self._n_samples

    def stop(self) -> list[TelemetryRow]:
        """Stop the sampler; every row with its stamp on CLOCK_MONOTONIC (when the target can tell)."""
        if self._proc is None:
            raise HarnessError("sampler was not started")
        # the rows are already on the host: a target that stops answering (link dropped)
        # costs the clock probe and the cost figure, never the rows
        try:
            for what, step in (("clock probe", self._probe), ("own-cost measurement", self._measure_own_cost)):
                try:
                    step()
                except HarnessError as e:
                    self.notes.append(f"telemetry sampler: {what} failed at stop: {e}")
        finally:
            try:
                self._proc.terminate(grace_s=3)
            except HarnessError as e:
                self.notes.append(f"telemetry sampler: stopping it failed: {e}")
            if self._reader:
                self._reader.join(timeout=10)
        return self._finish()

    def _own_cpu_s(self) -> float | None:
        """CPU seconds the sampler used so far (itself + reaped children such as `sleep`), from its /proc stat."""
        pid = self.header.get("pid", "")
        if not pid.isdigit():
            return None
        res = self.transport.run(["cat", f"/proc/{pid}/stat"], timeout=30)
        return cpu_time_s(res.stdout, children=True) if res.ok else None

    def _measure_own_cost(self) -> None:
        """The sampler's CPU share while sampling: CPU seconds between start() and stop() per wall
        second (its interpreter's start-up, counted in `own_cpu_s`, is left out of the share)."""
        if self._started_at is None:
            return
        cpu = self._own_cpu_s()
        if cpu is None:
            return
        self.own_cpu_s = cpu
        since, cpu0 = self._cpu_at_start if self._cpu_at_start else (self._started_at, 0.0)
        wall = time.monotonic() - since
        self.own_cpu_fraction = (cpu - cpu0) / wall if wall > 0 else None
        if self.own_cpu_fraction is not None and self.own_cpu_fraction > CPU_SHARE_WARNING:
            self.notes.append(
                f"telemetry sampler ({self.used_mode} mode, {self.rate_hz:g} Hz) used {self.own_cpu_fraction:.1%} "
                f"of a core (over {CPU_SHARE_WARNING:.0%}): it may perturb the latency it records")

    # -- parsing ---------------------------------------------------------------------

    def _emit(self, src_ns: int, channel: str, value: float, unit: str) -> None:
        row = TelemetryRow(src_ns, channel, value, unit)
        self._rows.append(row)
        for fn in self.listeners:
            fn(row)

    def _read(self) -> None:
        assert self._proc is not None
        try:
            for line in self._proc.lines():
                self.feed(line)
        except HarnessError as e:  # the link dropped: the rows so far stay
            self.notes.append(f"telemetry sampler: output stream ended: {e}")

    def feed(self, line: str) -> None:
        """One output line of the on-target sampler (the first MAX_RAW_LINES kept verbatim in `raw_lines`)."""
        if len(self.raw_lines) < MAX_RAW_LINES:
            self.raw_lines.append(line)
        try:
            self._line(line)
        except (ValueError, IndexError, KeyError, HarnessError):
            pass  # a torn or odd line: kept in raw_lines, never fatal

    def _line(self, line: str) -> None:
        tag, _, rest = line.partition("\t")
        if tag == "H":
            self.header = dict(f.split("=", 1) for f in rest.split("\t") if "=" in f)
            self.clock = ClockMap(self.header.get("clock", "monotonic"))
            self._header_seen.set()
            return
        if tag == "E":
            self.exit_reason = rest
            return
        stamp, _, payload = rest.partition("\t")
        src = stamp_ns(stamp)
        if src is None:
            return
        if tag == "S":
            self._sample(src, payload.split("\t") if self.channels else [])
        elif tag == "A":
            f = payload.split("\t")
            self._emit(src, "cpu_time/agent", cpu_time_s(f[1]), "s")
            if len(f) >= 4 and f[2] != "-":
                self._emit(src, "rss/agent", rss_bytes(f[2], f[3]), "bytes")
        elif tag == "T":
            got = tegrastats.parse_line(payload)
            if not isinstance(got, Problem):
                for ch, (v, unit) in got.values.items():
                    self._emit(src, ch, v, unit)
        elif tag == "V":
            self._vc.setdefault(src, []).append(payload)
            for done in [s for s in self._vc if s < src]:  # a batch is complete once a newer one starts
                self._vcgencmd(done, self._vc.pop(done))

    def _vcgencmd(self, src: int, lines: list[str]) -> None:
        for r in vcgencmd.parse("\n".join(lines)).readings:
            for ch, (v, unit) in r.values.items():
                self._emit(src, ch, v, unit)

    def _sample(self, src: int, values: list[str]) -> None:
        volts: dict[str, float] = {}
        amps: dict[str, float] = {}
        bat = battery.BatterySample()
        for ch, text in zip(self.channels, values):
            num = int(text) if text.lstrip("-").isdigit() and len(text) < 19 else None
            if ch.kind == "bat_status":
                bat.status = None if text == "-" else text
            elif ch.kind == "rapl":
                self._rapl.setdefault(ch.channel, []).append((src, num))
            elif num is None:
                continue  # unreadable this time: no row, never a zero
            elif ch.kind == "thermal":
                self._emit(src, ch.channel, thermal_c(num), "C")
            elif ch.kind == "freq":
                self._emit(src, ch.channel, num * 1000.0, "Hz")
            elif ch.kind == "hwmon_v":
                volts[ch.channel.split("/", 1)[1]] = num / 1000
                self._emit(src, ch.channel, num / 1000, "V")
            elif ch.kind == "hwmon_i":
                amps[ch.channel.split("/", 1)[1]] = num / 1000
                self._emit(src, ch.channel, num / 1000, "A")
            elif ch.kind == "bat_i":
                bat.current_raw = num
            elif ch.kind == "bat_v":
                bat.voltage_raw = num
        for rail in sorted(volts.keys() & amps.keys()):
            self._emit(src, f"power/{rail}", volts[rail] * amps[rail], "W")
        if bat.current_raw is not None or bat.voltage_raw is not None:
            self._bat.append((src, bat))
        with self._lock:
            if self._first_src_ns is None:
                self._first_src_ns = src
            self._latest_src_ns = src
            self._n_samples += 1

    @property
    def achieved_rate_hz(self) -> float | None:
        """Samples per second between the first and the last sample (device clock)."""
        with self._lock:
            n, a, b = self._n_samples, self._first_src_ns, self._latest_src_ns
        return (n - 1) / ((b - a) / 1e9) if n > 1 and b > a else None

    def _finish(self) -> list[TelemetryRow]:
        for src, lines in sorted(self._vc.items()):
            self._vcgencmd(src, lines)
        self._vc.clear()
        rows = list(self._rows)
        if self._bat:
            cal = battery.calibrate([b for _, b in self._bat], self.battery_current_unit)
            self.battery_calibration = cal.notes
            for src, b in self._bat:
                r = Reading()
                battery.convert(b, cal, r)
                rows += [TelemetryRow(src, ch, v, u) for ch, (v, u) in r.values.items()]
        ranges = {c.channel: c.max_range_uj for c in self.channels if c.kind == "rapl"}
        for channel, seq in self._rapl.items():
            joules = unwrap_energy([v for _, v in seq], ranges.get(channel))
            rows += [TelemetryRow(src, channel, j, "J") for (src, _), j in zip(seq, joules) if j is not None]
        mono = self.clock.to_monotonic([r.t_ns for r in rows]) if rows else []
        out = [TelemetryRow(int(t), r.channel, r.value, r.unit) for t, r in zip(mono, rows)]
        out.sort(key=lambda r: r.t_ns)
        return out

    def clock_details(self) -> dict:
        d = self.clock.details()
        d["wait"] = self.header.get("wait")
        return d

    def details(self) -> dict:
        """For the record: what was sampled, how, and what was absent."""
        return {
            "mode": self.used_mode,
            "rate_hz": self.rate_hz,
            "samples": self.samples_received,
            "achieved_rate_hz": self.achieved_rate_hz,
            "channels": [c.channel for c in self.channels if c.kind != "bat_status"],
            "absent": list(self.absent),
            "clock": self.clock_details(),
            "battery": self.battery_calibration,
            "exit": self.exit_reason,
            "own_cpu_s": self.own_cpu_s,
            "own_cpu_fraction": self.own_cpu_fraction,
            "notes": list(self.notes) + list(self.notes_info),
        }
