"""Helpers for sampler tests: fixture trees copied to a temp folder, a local target, fake tools.

The fake `tegrastats` and `vcgencmd` stand in for tools that only exist on Jetson and
Raspberry Pi boards; they print the verbatim captures (the real wire format).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.profiles import DeviceProfile
from harness.transports.local import LocalTransport

FIXTURES = Path(__file__).parent / "fixtures"


def tree(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / "sysfs" / name, root)
    return root


def make_profile(tmp_path: Path, sensors: dict, limits: dict | None = None) -> DeviceProfile:
    return DeviceProfile(
        id="fixture", name="fixture", transport={"kind": "local", "workdir": str(tmp_path / "wd")},
        sensors=sensors, limits=limits or {},
    )


def transport(prof: DeviceProfile) -> LocalTransport:
    return LocalTransport(prof).open()


def write(root: Path, path: str, value) -> None:
    """Replace a sensor file atomically (a reader never sees it half written)."""
    target = root / path.lstrip("/")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, target)


def fake_tools(tmp_path: Path) -> Path:
    """A bin folder with `tegrastats` and `vcgencmd` replaying the captures."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tegra = FIXTURES / "tegrastats/agx_orin_64gb_r36.4.4_jp6_3lines.txt"
    (bin_dir / "tegrastats").write_text(
        "#!/bin/sh\n# usage: tegrastats --interval MS\n"
        'ms=${2:-1000}; s=$((ms / 1000)).$(( (ms % 1000) / 100 ))\n'
        f'while :; do while IFS= read -r l; do echo "$l"; sleep "$s"; done < "{tegra}"; done\n'
    )
    vc = FIXTURES / "vcgencmd"
    (bin_dir / "vcgencmd").write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f'  measure_temp) head -n 1 "{vc}/pi5_temp_throttled_clock_idle.txt" ;;\n'
        f'  get_throttled) head -n 1 "{vc}/pi3bplus_throttled_0x50005_volts_temp.txt" ;;\n'
        f'  measure_clock) tail -n 1 "{vc}/pi5_temp_throttled_clock_idle.txt" ;;\n'
        f'  pmic_read_adc) cat "{vc}/pi5_pmic_read_adc_full_jfikar.txt" ;;\n'
        '  *) echo "error=1 error_msg=\\"Command not registered\\""; exit 1 ;;\n'
        "esac\n"
    )
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir
