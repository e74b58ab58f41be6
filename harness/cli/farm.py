"""`harness farm ...`: the nightly device farm on Ray (see harness/farm)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from harness.cli.app import app
from harness.cli._output import console, err_console, plain, print_json
from harness.cli.stopping import cancel_on_signals

farm_app = typer.Typer(help="The device farm: inventory, lab hosts, plans, health, reservations.",
                       no_args_is_help=True)
app.add_typer(farm_app, name="farm")

FarmOpt = Annotated[
    Optional[Path], typer.Option("--farm", help="Farm file (default $HARNESS_FARM, else ./farm.yaml).")
]
ResultsOpt = Annotated[
    Optional[Path], typer.Option("--results", help="Results folder (default ./results or $HARNESS_RESULTS).")
]
ProfilesOpt = Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _farm_path(path: Path | None) -> Path:
    return path or Path(os.environ.get("HARNESS_FARM", "farm.yaml"))


def _tags(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--tag")
        out[key.strip()] = value
    return out


def _when(t: float | None) -> str:
    return "-" if t is None else dt.datetime.fromtimestamp(t).isoformat(sep=" ", timespec="seconds")


@farm_app.command("validate")
def validate(
    farm: Annotated[Path, typer.Argument(help="Farm file.")],
    plan: Annotated[Optional[list[Path]], typer.Option("--plan", help="Plan files to check against it.")] = None,
    profiles: ProfilesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a farm file (every device profile loads) and, with --plan, plans against it."""
    from harness.farm.inventory import load_farm
    from harness.farm.plan import load_plan

    f = load_farm(farm, profiles)
    plans = [load_plan(p, farm_path=farm, profile_dirs=profiles) for p in plan or []]
    if as_json:
        print_json({
            "farm": f.name,
            "devices": [{"id": d.id, "host": d.host, "class": d.device_class, "transport": d.profile.transport.kind,
                         "recovery": list(d.recovery) if d.recovery else None} for d in f.devices.values()],
            "plans": [{"plan": p.name, "jobs": len(p.jobs), "not_applicable": p.not_applicable} for p in plans],
        })
        return
    table = Table("device", "host", "class", "transport", "recovery", title=f"farm {f.name}: ok")
    for d in f.devices.values():
        table.add_row(*plain(d.id, d.host, d.device_class, d.profile.transport.kind,
                             " ".join(d.recovery) if d.recovery else None))
    console.print(table)
    for p in plans:
        console.print(f"plan {p.name}: ok, {len(p.jobs)} jobs ({len(p.not_applicable)} matrix cells not applicable)")


@farm_app.command("schema")
def schema(plan: Annotated[bool, typer.Option("--plan", help="The plan file's schema instead.")] = False) -> None:
    """The JSON schema of a farm file (or a plan file), for editors."""
    from harness.farm import inventory
    from harness.farm import plan as plan_mod

    print_json(plan_mod.json_schema() if plan else inventory.json_schema())


@farm_app.command("host")
def host(
    address: Annotated[Optional[str], typer.Option(help="The head node, HOST:PORT. Omit with --head.")] = None,
    head: Annotated[bool, typer.Option(help="Start the cluster's head node here.")] = False,
    port: Annotated[int, typer.Option(help="--head: the port other hosts join on.")] = 6379,
    farm: FarmOpt = None,
    name: Annotated[Optional[str], typer.Option("--host", help="Which farm host this is (default: by hostname).")] = None,
    node_ip: Annotated[Optional[str], typer.Option(help="This node's IP address as others reach it.")] = None,
    temp_dir: Annotated[Optional[str], typer.Option(help="Ray's folder for sockets and logs.")] = None,
    profiles: ProfilesOpt = None,
) -> None:
    """Join the farm's Ray cluster as a lab host, advertising this host's devices; runs until stopped."""
    from harness.errors import HarnessError
    from harness.farm.cluster import host_command, this_host
    from harness.farm.inventory import load_farm

    if bool(address) == head:
        raise HarnessError("give --address HEAD:PORT to join a cluster, or --head to start one")
    f = load_farm(_farm_path(farm), profiles)
    me = this_host(f, name)
    argv = host_command(f, me, address, port, node_ip, temp_dir)
    devices = ", ".join(d.id for d in f.on_host(me)) or "no devices"
    err_console.print(f"farm host {me}: {devices}; {'head on port ' + str(port) if head else 'joining ' + address}")
    sys.stderr.flush()
    os.execv(sys.executable, argv)


@farm_app.command("run")
def run(
    plan: Annotated[Path, typer.Argument(help="Plan file (models × classes × runtimes × options).")],
    address: Annotated[Optional[str], typer.Option(help="Ray cluster HOST:PORT; default: a local Ray with this host's devices.")] = None,
    farm: Annotated[Optional[Path], typer.Option("--farm", help="Farm file (default: the plan's `farm`).")] = None,
    name: Annotated[Optional[str], typer.Option("--host", help="Without --address: which farm host this is.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="KEY=VALUE into every record's metadata (nightly=..., build=...).")] = None,
    results: ResultsOpt = None,
    junit: Annotated[Optional[Path], typer.Option(help="Write JUnit XML here.")] = None,
    summary: Annotated[Optional[Path], typer.Option(help="Write the markdown summary here (also appended to $GITHUB_STEP_SUMMARY).")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Write the HTML report here (harness report).")] = None,
    copy_records: Annotated[Optional[Path], typer.Option(help="Also copy this run's records into this folder (a results store of its own, for CI artifacts).")] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Judge the night against history and pinned baselines "
                                       "(harness gate): a confirmed regression exits 1; unknown verdicts are "
                                       "measured again, at most twice.")] = False,
    profiles: ProfilesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a plan on the farm. Exit 0: all passed; 1: a job failed (or a regression); 3: infrastructure only."""
    from harness.farm.ci import junit_xml, markdown_summary
    from harness.farm.plan import load_plan
    from harness.farm.records import export_runs
    from harness.farm.scheduler import run_plan
    from harness.store.atomic import write_atomic
    from harness.store.store import RunStore

    tags = _tags(tag)
    p = load_plan(plan, tags, farm, profiles)
    store = RunStore(results)
    cancel = cancel_on_signals()

    def on_event(what: str, info: dict) -> None:
        if as_json:
            return
        if what == "job":
            err_console.print(f"{info['status']:>8}  {info['job'].name} ({info['job'].device_class})"
                              + (f": {info['reason']}" if info.get("reason") and info["status"] != "passed" else ""),
                              markup=False, highlight=False)
        elif what == "device" and info["state"] not in ("starting", "ready"):
            err_console.print(f"  device {info['device']}: {info['state']} {info.get('reason') or ''}",
                              markup=False, highlight=False)

    from harness.farm.gate import StoreGate

    result = run_plan(p, store, address, name, tags=tags, cancel=cancel, on_event=on_event,
                      gate=StoreGate() if gate else None)
    if junit:
        write_atomic(junit, junit_xml(result).decode())
    text = markdown_summary(result)
    if summary:
        write_atomic(summary, text)
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a") as fh:
            fh.write(text + "\n")
    if copy_records:
        export_runs(store, result.run_ids(), copy_records)
    if report and result.run_ids():  # tonight's records only
        import tempfile

        from harness.report.dashboard import build_report

        with tempfile.TemporaryDirectory(prefix="harness-farm-report-") as tmp:
            build_report(export_runs(store, result.run_ids(), Path(tmp)), report,
                         title=f"harness farm: {p.name} ({result.night})")
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(text, markup=False, highlight=False)
    sys.exit(result.exit_code)


@farm_app.command("reserve")
def reserve(
    device: Annotated[str, typer.Argument(help="Farm device id.")],
    duration: Annotated[str, typer.Option("--for", help="How long: 2h, 90m, 1h30m.")] = "1h",
    owner: Annotated[Optional[str], typer.Option(help="Who holds it (default user@host).")] = None,
    note: Annotated[Optional[str], typer.Option(help="Why, for `farm status`.")] = None,
    farm: FarmOpt = None,
    results: ResultsOpt = None,
    profiles: ProfilesOpt = None,
) -> None:
    """Hold a device for a person: nightly jobs wait; released on exit (Ctrl-C) or when the time is up."""
    from harness.farm.inventory import load_farm
    from harness.farm.registry import Registry
    from harness.farm.sharing import default_owner, hold, parse_duration

    ttl = parse_duration(duration)
    f = load_farm(_farm_path(farm), profiles)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def on_state(what: str, info: dict) -> None:
        if what == "reserved":
            err_console.print(f"reserved {device} for {info['owner']} until {_when(info['expires'])}", markup=False)
        elif what == "waiting":
            err_console.print(f"waiting for the running job to end: {info['job']}", markup=False)
        elif what == "acquired":
            console.print(f"{device} is yours until {_when(info['expires'])}; Ctrl-C releases it", markup=False)

    why = hold(Registry(results), f, device, ttl, owner or default_owner(), note, stop, on_state)
    err_console.print(f"{device}: reservation {why}")


@farm_app.command("release")
def release(device: str, results: ResultsOpt = None) -> None:
    """End a reservation now (whoever holds it)."""
    from harness.farm.registry import Registry

    gone = Registry(results).release(device)
    console.print(f"{device}: {'released' if gone else 'was not reserved'}")


@farm_app.command("mark")
def mark(
    device: str,
    state: Annotated[str, typer.Argument(help="good | maintenance | retired | unknown")],
    reason: Annotated[Optional[str], typer.Option(help="Why (shown by `farm status`).")] = None,
    farm: FarmOpt = None,
    results: ResultsOpt = None,
    profiles: ProfilesOpt = None,
) -> None:
    """Set a device's health by hand (take it out for maintenance, retire it, put it back)."""
    from harness.errors import HarnessError
    from harness.farm.inventory import load_farm
    from harness.farm.registry import MANUAL_STATES, Registry

    load_farm(_farm_path(farm), profiles).device(device)
    if state not in MANUAL_STATES:
        raise HarnessError(f"state {state!r}: a person sets one of {', '.join(MANUAL_STATES)}")
    Registry(results).set_state(device, state, reason or f"set by {os.environ.get('USER', 'a person')}")
    console.print(f"{device}: {state}")


@farm_app.command("status")
def status(farm: FarmOpt = None, results: ResultsOpt = None, profiles: ProfilesOpt = None,
           as_json: JsonOpt = False) -> None:
    """Devices (health, current job, reservation), the running plan and its queue."""
    from harness.farm.inventory import load_farm
    from harness.farm.registry import Registry
    from harness.farm.sharing import status as farm_status

    info = farm_status(load_farm(_farm_path(farm), profiles), Registry(results))
    if as_json:
        print_json(info)
        return
    run_info = info["run"]
    title = (f"farm {info['farm']}: running {run_info['plan']} (pid {run_info['pid']} on {run_info['host']}), "
             f"{run_info['queued']} queued, {run_info['running']} running, {run_info['done']} done"
             if run_info else f"farm {info['farm']}: no plan running")
    table = Table("device", "class", "host", "health", "job", "reserved", title=title)
    for d in info["devices"]:
        health = d["state"] + (" (degraded)" if d["degraded"] else "")
        if d["reason"]:
            health += f": {d['reason']}"
        reserved = f"{d['reserved_by']} until {_when(d['reserved_until'])}" if d["reserved_by"] else None
        table.add_row(*plain(d["id"], d["class"], d["host"], health, d["job"], reserved))
    console.print(table)
