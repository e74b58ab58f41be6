"""`harness run`: measure models on devices (the cross product), one record per run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from harness.cli.app import app
from harness.cli._output import err_console, print_json
from harness.cli.progress import RunProgress, print_result_table
from harness.cli.run_view import brief
from harness.cli.stopping import cancel_on_signals
from harness.profiles import runtime_names


def parse_pairs(items: list[str], flag: str) -> dict[str, str]:
    """KEY=VALUE strings (``--tag``) as a dict; a malformed one is one error line."""
    from harness.errors import HarnessError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


STOP_MODES = ("adaptive", "fixed", "mlperf")

TagOpt = Annotated[
    Optional[list[str]],
    typer.Option("--tag", help="Metadata KEY=VALUE recorded with every run (build id, nightly id…); repeatable."),
]


@app.command("run")
def run(
    device: Annotated[list[str], typer.Option("--device", "-d", help="Profile id or YAML path; repeatable.")],
    model: Annotated[list[str], typer.Option("--model", "-m", help="Zoo id or model file; repeatable.")],
    runtime: Annotated[Optional[str], typer.Option(
        help=f"{' | '.join(runtime_names())} (default: the device's for the model's format; `harness runtimes`)")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Inference threads.")] = None,
    cluster: Annotated[Optional[str], typer.Option(help="Pin to this CPU cluster of the profile (taskset).")] = None,
    stop: Annotated[Optional[str], typer.Option(
        help="adaptive | fixed | mlperf (default: the runner's own: adaptive for the agent, fixed for "
             "benchmark_model; fixed when --count/--time is given).")] = None,
    ci_target: Annotated[Optional[float], typer.Option(help="adaptive: CI half-width relative to the median [0.01].")] = None,
    min_iters: Annotated[Optional[int], typer.Option(help="adaptive: minimum steady-state iterations [10].")] = None,
    min_time: Annotated[Optional[float], typer.Option(help="adaptive: minimum steady-state seconds [1].")] = None,
    max_time: Annotated[Optional[float], typer.Option(help="Cap on steady-state seconds [60].")] = None,
    count: Annotated[Optional[int], typer.Option(help="fixed: iterations.")] = None,
    time_s: Annotated[Optional[float], typer.Option("--time", help="fixed: seconds.")] = None,
    warmup_min: Annotated[Optional[int], typer.Option(help="Minimum warmup iterations [3].")] = None,
    processes: Annotated[Optional[str], typer.Option(help="Agent worker processes: N, or auto (adaptive default: "
                         "3 or more until the rerun interval meets --ci-target, within a tenth of the MLPerf time); "
                         "fixed/mlperf default 1.")] = None,
    inputs: Annotated[Optional[Path], typer.Option(help=".npy/.npz inputs (default: seeded random).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random inputs.")] = 0,
    delegate: Annotated[Optional[str], typer.Option(
        help="Delegate, for runners that apply one (benchmark_model: gpu | nnapi | xnnpack | cpu); refused otherwise.")] = None,
    benchmark_binary: Annotated[Optional[Path], typer.Option(help="benchmark_model binary for Android.")] = None,
    op_profile: Annotated[int, typer.Option(help="Per-op profiling iterations after the run (0: off).")] = 0,
    relaxed_windows: Annotated[bool, typer.Option(help="tinyml: allow windows under 10 s (quick runs).")] = False,
    option: Annotated[
        Optional[list[str]],
        typer.Option("--option", "-o", help="Runner option KEY=VALUE, repeatable (e.g. -o mode=accuracy -o windows=3)."),
    ] = None,
    tag: TagOpt = None,
    telemetry: Annotated[bool, typer.Option(help="Sample the device's sensors during the run.")] = True,
    thermal_gate: Annotated[bool, typer.Option(help="Wait for the cooldown temperature first.")] = True,
    baseline: Annotated[float, typer.Option(help="Idle telemetry seconds before and after the workload.")] = 2.0,
    results: Annotated[Optional[Path], typer.Option(help="Results folder (default ./results or $HARNESS_RESULTS).")] = None,
    profiles: Annotated[Optional[list[Path]], typer.Option("--profiles", help="Extra profile folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per run (an array).")] = False,
) -> None:
    """Measure every --model on every --device and record each run."""
    from harness import session  # the measuring stack loads only for this command
    from harness.errors import HarnessError, did_you_mean
    from harness.store.store import RunStore

    if stop not in (None, *STOP_MODES):
        raise typer.BadParameter(f"{stop!r} is not one of {', '.join(STOP_MODES)}{did_you_mean(stop, STOP_MODES)}",
                                 param_hint="--stop")
    options: dict = _parse_options(option or [])
    # dedicated flags: mapped onto the option of the runners that have it
    flag_options: dict = {}
    if benchmark_binary:
        flag_options["benchmark_binary"] = ("--benchmark-binary", str(benchmark_binary))
    if op_profile:
        flag_options["op_profile"] = ("--op-profile", op_profile)
    if relaxed_windows:
        flag_options["relaxed"] = ("--relaxed-windows", True)
    stop_fields = {k: v for k, v in dict(ci_target=ci_target, min_iters=min_iters, min_time_s=min_time,
                                         max_time_s=max_time, count=count, time_s=time_s,
                                         warmup_min=warmup_min,
                                         processes=None if processes == "auto" else processes).items()
                   if v is not None}
    adaptive_only = {"ci_target", "min_iters", "min_time_s"} & set(stop_fields)
    mode = stop or ("fixed" if count is not None or time_s is not None else "adaptive" if adaptive_only else None)
    if mode not in (None, "fixed") and (count is not None or time_s is not None):
        raise HarnessError(f"--count and --time apply to --stop fixed, not --stop {mode}")
    if mode is not None:
        stop_fields["mode"] = mode
    opts = session.RunOptions(
        runtime=runtime,
        threads=threads,
        cluster=cluster,
        delegate=delegate,
        inputs=str(inputs) if inputs else None,
        seed=seed,
        stop_fields=stop_fields,
        telemetry=telemetry,
        thermal_gate=thermal_gate,
        baseline_s=baseline,
        options=options,
        flag_options=flag_options,
        metadata=parse_pairs(tag or [], "--tag"),
    )
    cancel = cancel_on_signals()
    jobs = session.plan_runs(device, model, opts, profiles)
    for note in jobs.notes:
        err_console.print(f"note: {note}", markup=False)
    store = RunStore(results)

    show_progress = not as_json and err_console.is_terminal
    stopped = None
    with RunProgress(len(jobs), enabled=show_progress) as progress:
        try:
            manifests = session.execute(jobs, store, cancel, progress_for=progress.for_job, on_result=progress.done)
        except session.SessionStopped as e:  # the results folder refused a record: report the rest
            manifests, stopped = e.completed, e

    if as_json:
        print_json([brief(m) for m in manifests])
    elif manifests or stopped is None:
        print_result_table(manifests, store.root)
    if stopped is not None:
        raise stopped
    if cancel.is_set():
        sys.exit(130)
    if any(m.status != "ok" for m in manifests):
        sys.exit(1)


def _parse_options(items: list[str]) -> dict:
    """KEY=VALUE pairs; values are read as YAML scalars (3 → int, true → bool, 0.5 → float)."""
    import yaml

    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        try:
            out[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out
