"""`harness devices check ID [--json]`: is the target reachable, and what is on it."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from harness import profiles
from harness.cli._output import console, print_json
from harness.cli.devices import JsonOpt, ProfilesOpt, devices_app
from harness.errors import TransportError


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e9:.1f} GB"


@devices_app.command("check")
def check(
    device: Annotated[str, typer.Argument(help="Profile id or YAML path.")],
    profiles_dir: ProfilesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Connect to a device: reachable or not (and why), OS, arch, Python, runtimes, free space,
    which on-device code its Python can run, and what is outside the tested target matrix."""
    from harness.agent.matrix import assess
    from harness.transports import check_device

    profile = profiles.load_profile(device, profiles_dir)
    info = check_device(profile)
    on_device = assess(info.python, info.runtimes) if info.reachable else None
    if as_json:
        print_json({"device": profile.id, "transport": profile.transport.kind, **dataclasses.asdict(info),
                    "on_device": dataclasses.asdict(on_device) if on_device else None})
    else:
        table = Table(show_header=False, title=f"{profile.id} ({profile.transport.kind})")
        table.add_row("reachable", "yes" if info.reachable else f"NO: {info.reason}")
        if info.reachable:
            table.add_row("os", info.os or "?")
            table.add_row("arch", info.arch or "?")
            if info.board:
                table.add_row("board", info.board)
            table.add_row("python", info.python or "not found")
            table.add_row("runtimes", ", ".join(f"{k} {v}" for k, v in info.runtimes.items()) or "none")
            table.add_row("tools", ", ".join(sorted(info.tools)) or "none")
            table.add_row("work folder", f"{info.workdir} ({_size(info.free_bytes)} free)")
            for piece, can in on_device.pieces.items():
                table.add_row(f"runs {piece}", can)
            for warning in on_device.warnings:
                table.add_row("WARNING", warning)
        for note in info.notes:
            table.add_row("note", note)
        console.print(table)
    if not info.reachable:
        raise typer.Exit(TransportError.exit_code)

