"""What sensors a target has: one shell round trip, read back as a `sysfs.DumpView`.

The discovery script prints ``path<TAB>value`` for every thermal zone, cpufreq policy,
hwmon label/input, RAPL zone and battery file it can read under a root folder (``/``
on a real target, a fixture tree in tests), plus ``#cmd:<name>:<path>`` for the
tools it finds (tegrastats, vcgencmd, nvpmodel, and the agent's Python as ``python``) and
``#arch:<uname -m>``. Paths are printed without the root,
so the view speaks in the target's absolute paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.telemetry.sysfs import DumpView
from harness.transports.base import CommandTransport

DISCOVER_SH = r"""
R=$1; bat=$2; py=$3; shift 3
show() {
  for f in "$@"; do
    [ -f "$f" ] || continue
    while IFS= read -r l || [ -n "$l" ]; do echo "${f#"$R"}	$l"; done 2>/dev/null <"$f"
  done
}
show "$R"/sys/class/thermal/thermal_zone*/type "$R"/sys/class/thermal/thermal_zone*/temp
for k in scaling_cur_freq scaling_governor scaling_min_freq scaling_max_freq cpuinfo_max_freq; do
  show "$R"/sys/devices/system/cpu/cpu[0-9]*/cpufreq/$k
done
for d in "$@"; do
  show "$R$d"/*/hwmon/hwmon*/in*_label "$R$d"/*/hwmon/hwmon*/in*_input "$R$d"/*/hwmon/hwmon*/curr*_input
done
for k in name max_energy_range_uj energy_uj; do show "$R"/sys/class/powercap/intel-rapl*/$k; done
[ -n "$bat" ] && show "$R$bat"/current_now "$R$bat"/voltage_now "$R$bat"/status "$R$bat"/capacity "$R$bat"/temp
for c in tegrastats vcgencmd nvpmodel; do
  p=$(command -v "$c" 2>/dev/null) && echo "#cmd:$c:$p"
done
p=$(command -v "$py" 2>/dev/null) && echo "#cmd:python:$p"
echo "#arch:$(uname -m 2>/dev/null)"
exit 0
"""


@dataclass
class Discovery:
    root: str
    view: DumpView
    commands: dict[str, str] = field(default_factory=dict)
    #: `uname -m` of the target (picks the native sampler's build)
    arch: str | None = None

    def local_path(self, path: str) -> str:
        """The path to open on the target for a target-absolute sysfs path."""
        return self.root.rstrip("/") + path


def discover(
    transport: CommandTransport, root: str = "/", battery: str | None = None,
    hwmon_dirs: tuple[str, ...] = (), timeout_s: float = 30.0, python: str = "python3",
) -> Discovery:
    """`python`: the interpreter to look for (the agent's, `CommandTransport.agent_python`)."""
    argv = ["sh", "-c", DISCOVER_SH, "harness-discover", str(root).rstrip("/"), battery or "", python, *hwmon_dirs]
    res = transport.run(argv, timeout=timeout_s).check("sensor discovery")
    commands: dict[str, str] = {}
    dump_lines = []
    arch = None
    for line in res.stdout.splitlines():
        if line.startswith("#arch:"):
            arch = line[len("#arch:"):].strip() or None
        elif line.startswith("#cmd:"):
            _, name, path = line.split(":", 2)
            commands[name] = path
        else:
            dump_lines.append(line)
    view, _problems = DumpView.from_text("\n".join(dump_lines))
    return Discovery(str(root), view, commands, arch)
