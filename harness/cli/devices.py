"""`harness devices list|show|validate|schema` (and `check`, in devices_check.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from harness import profiles
from harness.cli.app import app
from harness.cli._output import console, id_table, plain, print_json, print_table
from harness.errors import ProfileError

devices_app = typer.Typer(help="Device profiles: list, show, validate, check.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")

ProfilesOpt = Annotated[
    Optional[list[Path]],
    typer.Option("--profiles", help="Extra folder of profile YAML files (also $HARNESS_PROFILES)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@devices_app.command("list")
def list_devices(profiles_dir: ProfilesOpt = None, as_json: JsonOpt = False) -> None:
    """Every profile found, with its transport and runtimes."""
    found, errors = profiles.list_profiles(profiles_dir)
    if as_json:
        print_json(
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "transport": p.transport.kind,
                    "runtimes": p.runtimes,
                    "source": p.source,
                }
                for p in found
            ]
        )
    else:
        table = id_table("id", "name", "transport", "runtimes", "file", ids=("id",))
        for p in found:
            table.add_row(*plain(p.id, p.name, p.transport.kind, ", ".join(p.runtimes), p.source))
        print_table(table)
    for e in errors:
        typer.echo(f"warning: {e}", err=True)


@devices_app.command("show")
def show(device: str, profiles_dir: ProfilesOpt = None, as_json: JsonOpt = False) -> None:
    """One profile, fully resolved (defaults filled in)."""
    p = profiles.load_profile(device, profiles_dir)
    data = p.model_dump(mode="json")
    data["source"] = p.source
    if as_json:
        print_json(data)
    else:
        console.print_json(json.dumps(data))


@devices_app.command("validate")
def validate(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Profile files; default: every profile found.")] = None,
    profiles_dir: ProfilesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check profiles against the schema; exit non-zero if any is invalid."""
    results: list[dict] = []
    if paths:
        for path in paths:
            try:
                profiles.load_profile_file(path)
                results.append({"file": str(path), "ok": True, "error": None})
            except ProfileError as e:
                results.append({"file": str(path), "ok": False, "error": str(e)})
    else:
        found, errors = profiles.list_profiles(profiles_dir)
        results += [{"file": p.source, "ok": True, "error": None} for p in found]
        results += [{"file": None, "ok": False, "error": str(e)} for e in errors]
    if as_json:
        print_json(results)
    else:
        for r in results:
            typer.echo(f"ok     {r['file']}" if r["ok"] else f"error: {r['error']}", err=not r["ok"])
    if not all(r["ok"] for r in results):
        raise typer.Exit(2)


@devices_app.command("schema")
def schema() -> None:
    """The JSON schema of a profile file, for editors."""
    print_json(profiles.json_schema())

