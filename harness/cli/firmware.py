"""`harness firmware build|gen-model|fit`: the MCU reference firmware and what fits where."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import app
from harness.cli._output import console, print_json

firmware_app = typer.Typer(help="Reference MCU firmware (protocol, int8 kernels, QEMU board) and fit checks.",
                           no_args_is_help=True)
app.add_typer(firmware_app, name="firmware")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _model_path(spec: str) -> Path:
    from harness.models import resolve_model

    return resolve_model(spec)[1]


@firmware_app.command("gen-model")
def gen_model(
    model: Annotated[str, typer.Argument(help="Zoo id or .tflite file (fully int8).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="C header to write.")],
    as_json: JsonOpt = False,
) -> None:
    """Lower an int8 TFLite model to the firmware's C header (layer table + weights)."""
    from harness.mcu.header import write_header
    from harness.mcu.lower import program_from_tflite

    program = program_from_tflite(_model_path(model))
    write_header(program, output)
    summary = {"header": str(output), "model_id": program.model_id, "layers": len(program.layers),
               "macs": program.macs, "arena_bytes": program.arena_bytes, "constant_bytes": program.constant_bytes,
               "input_bytes": program.input_bytes, "outputs": program.output_count}
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {output}: {program.model_id}, {len(program.layers)} layers, {program.macs:,} MACs, "
                      f"arena {program.arena_bytes:,} B, constants {program.constant_bytes:,} B")


@firmware_app.command("build")
def build(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Zoo id or .tflite (default: synthetic).")] = None,
    energy: Annotated[bool, typer.Option(help="Energy-mode build (timestamps are GPIO pulses).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the reference firmware (mps2-an386 board port) for a model."""
    from harness.mcu.build import build_firmware

    result = build_firmware(_model_path(model) if model else None, energy=energy)
    if as_json:
        print_json(result.details())
    else:
        console.print(f"{result.elf}: {result.model_id}, {'energy' if energy else 'performance'} mode, "
                      f"flash {result.flash_bytes:,} B, RAM {result.ram_bytes:,} B")


@firmware_app.command("fit")
def fit(
    device: Annotated[str, typer.Option("--device", "-d", help="Profile id or YAML path.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Zoo id or .tflite file.")],
    as_json: JsonOpt = False,
) -> None:
    """Does the model's TFLite Micro arena and flatbuffer fit the board's SRAM and flash?"""
    from harness.mcu.fit import ModelDoesNotFit, check_fit
    from harness.profiles import load_profile

    profile = load_profile(device)
    report = check_fit(profile, _model_path(model))
    if as_json:
        print_json(report.as_dict())
    else:
        verdict = {True: "fits", False: "does NOT fit", None: "cannot tell"}[report.fits]
        console.print(f"{report.model} on {report.device}: {verdict}")
        for line in report.problems + report.notes:
            console.print(f"  {line}")
    if report.fits is False:
        raise ModelDoesNotFit(f"{report.model} does not fit {profile.id}: " + "; ".join(report.problems))
