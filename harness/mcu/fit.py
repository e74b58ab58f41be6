"""Fit check: can the model run on the board at all?

Compares what the model needs on a microcontroller (the zoo analysis' TensorFlow
Lite Micro figures: ``arena_bytes`` of RAM for tensors, ``flash_bytes`` for the
flatbuffer, see `harness.analysis.mcu_fit`) with the profile's ``sram_bytes`` and
``flash_bytes``. Firmware code, stack and I/O buffers come on top, so a model that
passes can still be tight; one that fails cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.profiles import DeviceProfile


class ModelDoesNotFit(HarnessError):
    """The model needs more RAM or flash than the board has."""


@dataclass
class FitReport:
    device: str
    model: str
    arena_bytes: int | None
    flash_bytes: int | None
    sram_bytes: int | None
    flash_capacity_bytes: int | None
    fits: bool | None  # None: not enough information to say
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def check_fit(profile: DeviceProfile, model_path: Path) -> FitReport:
    from harness.analysis.static import analyze

    hw = profile.hardware
    mcu = analyze(model_path).mcu
    report = FitReport(device=profile.id, model=Path(model_path).name,
                       arena_bytes=mcu.arena_bytes if mcu else None, flash_bytes=mcu.flash_bytes if mcu else None,
                       sram_bytes=hw.sram_bytes, flash_capacity_bytes=hw.flash_bytes, fits=None)
    if mcu is None:
        report.notes.append("no MCU figures for this model (not a fully int8 TFLite model)")
        return report
    if mcu.note:
        report.notes.append(mcu.note)
    checks = [("tensor arena", report.arena_bytes, "SRAM", hw.sram_bytes, "hardware.sram_bytes"),
              ("model flatbuffer", report.flash_bytes, "flash", hw.flash_bytes, "hardware.flash_bytes")]
    known = 0
    for what, need, where, have, field_name in checks:
        if need is None or have is None:
            report.notes.append(f"{what} vs {where}: unknown ({field_name} not in the profile)" if have is None
                                else f"{what}: size unknown")
            continue
        known += 1
        if need > have:
            report.problems.append(f"{what} needs {_kib(need)} but the board has {_kib(have)} of {where}")
    report.fits = False if report.problems else (True if known == len(checks) else None)
    return report


def require_fit(profile: DeviceProfile, model_path: Path) -> FitReport:
    """`check_fit`, raising `ModelDoesNotFit` with every reason when the model cannot fit."""
    report = check_fit(profile, model_path)
    if report.fits is False:
        raise ModelDoesNotFit(f"{report.model} does not fit {profile.id}: " + "; ".join(report.problems))
    return report
