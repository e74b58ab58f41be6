"""Telemetry: what the target's sensors say while a model runs.

Everything here produces rows ``(t_ns, channel, value, unit)``: ``t_ns`` on the
device's CLOCK_MONOTONIC (the clock the agent stamps inferences with, Python's
``time.monotonic_ns()``), ``value`` a float in SI units. Conversion to SI happens in
the parsers, nowhere else.

Channels (``kind/name``) and units:

=========================  ======  ==========================================================
channel                    unit    source
=========================  ======  ==========================================================
``thermal/<zone type>``    C       thermal_zoneN/temp (m°C), tegrastats ``name@45.5C``
                                   (names lower-cased), vcgencmd ``measure_temp`` → ``soc``
``freq/cpu<N>``            Hz      cpufreq ``scaling_cur_freq`` (kHz), tegrastats ``CPU [..]``
``freq/<unit>``            Hz      tegrastats ``GR3D_FREQ`` → ``gpu`` (+ ``gpu_gpc<N>``), ``EMC_FREQ``
                                   → ``emc``; vcgencmd ``measure_clock`` → ``arm`` …
``load/<unit>``            1       tegrastats utilisation (0..1)
``power/<rail>``           W       tegrastats rails, INA3221 (V×I), Pi 5 PMIC (V×I),
                                   ``power/battery`` (power the battery delivers)
``power_avg/<rail>``       W       tegrastats running average (not used for energy)
``power_peak/<rail>``      W       tegrastats peak (JetPack 7; not used for energy)
``voltage/<rail>``         V       INA3221 ``in*_input`` (mV), PMIC, battery ``voltage_now`` (µV)
``current/<rail>``         A       INA3221 ``curr*_input`` (mA), PMIC, battery ``current_now``
                                   (µA; sign: positive = charging, calibrated)
``energy/<zone>``          J       RAPL ``energy_uj``, unwrapped, cumulative since the first
                                   sample (``package-0``, ``package-0.core``, ``psys`` …)
``throttled/<bit>``        1       vcgencmd ``get_throttled`` bits (1 = set)
``level/battery``          1       battery capacity (0..1)
``thermal/battery_gauge``  C       fuel-gauge temperature (tenths of °C)
``mem/<what>``             bytes   tegrastats RAM/SWAP use
``rss/agent``              bytes   VmRSS of the agent process (/proc/<pid>/status)
``cpu_time/agent``         s       utime+stime of the agent (/proc/<pid>/stat, clock ticks)
=========================  ======  ==========================================================

A channel the profile asks for but the target does not have is reported as
*absent* (`Sampler.absent`, parse results' ``missing``), never recorded as zero.
A sensor that reports "off" (tegrastats ``-256C``) gives no row for that sample.

Modules: `tegrastats`, `vcgencmd`, `battery`, `sysfs` (thermal, cpufreq, hwmon, RAPL,
power_supply over a directory tree or a text dump), `procfs` (agent CPU time/RSS),
`discovery` (what a target has, in one round trip), `sampler` (the one streaming
sampler on the target: ``sampler.sh`` / ``sampler_py.py``), `clock` (how shell stamps
are put on CLOCK_MONOTONIC), `thermal` (cooldown gate, watchdog, snapshot), `parse`
(``harness telemetry parse``). Energy and the run summary: `harness.analysis.energy`;
the Perfetto export: `harness.report.trace`.

A session uses them like this::

    wait_for_cooldown(transport, profile)                 # thermal gate (CooldownTimeout)
    conditions["before"] = snapshot(transport, profile)
    sampler = Sampler(transport, profile, pid_file=...)   # pid file: agent rss/cpu_time
    dog = ThermalWatchdog.for_profile(profile)            # None without limits.max_temp_c
    if dog: sampler.listeners.append(dog)
    sampler.start(); sampler.wait_samples(1)
    timeline["baseline_start_ns"] = sampler.mark("baseline_start_ns"); time.sleep(idle_s)
    timeline["workload_start_ns"] = sampler.mark("workload_start_ns")
    ... run (the agent marks steady_start_ns/steady_end_ns; abort when dog.tripped is set) ...
    timeline["workload_end_ns"] = sampler.mark("workload_end_ns"); time.sleep(idle_s)
    timeline["baseline_end_ns"] = sampler.mark("baseline_end_ns"); rows = sampler.stop()
    summary = summarize_timeline(rows, timeline, iterations)   # energy, power, temp, throttled
"""

from harness.telemetry.channels import ParseResult, Problem, Reading, TelemetryRow

__all__ = ["ParseResult", "Problem", "Reading", "TelemetryRow"]
