"""Every command README.md shows works as written.

Each `harness …` command of the README's shell blocks is parsed by the real command tree
(its subcommands, options and values exist) and the devices and zoo models it names are
known. The ones that need no device beyond this host's files run for real, in README
order, in a folder holding stand-ins for the README's placeholders (a profile for
`my_board.yaml`, a benchmark_model log of `mobilenet.tflite` for `old_log.txt`, a tegrastats
capture for `capture.txt`, a trtexec capture for `trtexec.log`, a simulated nightly table for `history.csv`, the committed v1 records as `results/`, one of their run ids for
`RUN_ID`); and the Python snippet runs against that results folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer import _click as click
from typer.core import TyperGroup

from harness import zoo

pytestmark = pytest.mark.timeout(600)

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
TESTS = REPO / "tests"
RUN = "20261203T101311-local-kws01-int8-tflite-7b085f"  # a committed v1 record (tests/records)

#: the README's placeholders, and what stands in for them here
PLACEHOLDERS = {
    "RUN_ID": RUN,
    "20240601T1203": RUN[:15],
    "my_board.yaml": "my_board.yaml",
    "my_model.onnx": "my_model.onnx",
    "old_log.txt": "old_log.txt",
    "mobilenet.tflite": "mobilenet.tflite",
    "capture.txt": "capture.txt",
    "trtexec.log": "trtexec.log",
    "history.csv": "history.csv",
}
#: commands that need this host's files only: they run for real
OFFLINE = {(), ("devices", "list"), ("devices", "show"), ("devices", "validate"), ("devices", "schema"),
           ("runtimes",), ("zoo", "list"), ("results", "list"), ("results", "show"), ("report",), ("trace",),
           ("ingest",), ("telemetry", "parse"), ("regress",)}
#: commands that reach a device, measure for minutes or start a Ray cluster: parsed and checked only
ON_DEVICE = {("devices", "check"), ("ceilings",), ("run",), ("farm", "validate"), ("farm", "run"),
             ("farm", "host"), ("farm", "status"), ("farm", "reserve"), ("ab",)}
#: commands that need nights of tagged runs or a pinned key, which the committed records are not:
#: parsed and checked here, run for real in tests/regression
NEEDS_NIGHTS = {("compare",), ("baseline", "set"), ("gate",)}


def shell_commands(text: str) -> list[tuple[list[str], str | None]]:
    """(argv after `harness`, stdout redirect target) of each harness command in the text's
    ```bash blocks, `&&`/`;` chains split, comments dropped."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.wordchars += ":,@%+"  # HOST:6379, k=v,w … are words, as the shell reads them
            words = list(lexer)
            command: list[str] = []
            for word in [*words, ";"]:
                if word in (";", "&&", "||", "|"):
                    if command and Path(command[0]).name == "harness":
                        redirect = command[command.index(">") + 1] if ">" in command else None
                        argv = command[1:command.index(">")] if ">" in command else command[1:]
                        found.append((argv, redirect))
                    command = []
                else:
                    command.append(word)
    return found


COMMANDS = shell_commands(README.read_text())


def parse(argv: list[str]):
    """(command path, parsed params) of `harness ARGV`: parsed, not run (only eager options act)."""
    from harness.cli import app

    cmd, ctx, name, path = typer.main.get_command(app), None, "harness", []
    while True:
        try:
            ctx = cmd.make_context(name, list(argv), parent=ctx)
        except typer.Exit:  # an eager option such as --version
            return tuple(path), {}
        if not isinstance(cmd, TyperGroup):
            return tuple(path), ctx.params
        name, cmd, argv = cmd.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        path.append(name)


def _substituted(argv: list[str]) -> list[str]:
    return [PLACEHOLDERS.get(a, a) for a in argv]


def _id(case) -> str:
    return " ".join(case[0])[:60]


def test_the_readme_shows_commands():
    paths = {parse(_substituted(argv))[0] for argv, _ in COMMANDS}
    assert {(), ("run",), ("results", "show"), ("ingest",)} <= paths
    # every command shown is classified: run here, or parsed only (a new one must be placed)
    assert paths <= OFFLINE | ON_DEVICE | NEEDS_NIGHTS, paths - OFFLINE - ON_DEVICE - NEEDS_NIGHTS


@pytest.mark.parametrize("case", COMMANDS, ids=_id)
def test_every_readme_command_parses_and_names_known_ids(case, monkeypatch):
    from harness.profiles import load_profile

    monkeypatch.chdir(REPO)
    argv, _ = case
    path, params = parse(_substituted(argv))  # a mistyped command, option or value raises here
    # (a farm names the devices of its inventory, not profiles)
    devices = [] if path[:1] == ("farm",) else params.get("device") or params.get("devices") or []
    for device in [devices] if isinstance(devices, str) else devices:
        load_profile(device)  # an unknown id raises, naming the closest ones
    if path and path[0] in ("run", "ceilings"):
        for model in params.get("model") or []:
            assert model in PLACEHOLDERS or zoo.resolve(model) is not None, model


INLINE = sorted(set(re.findall(r"`(harness [^`]*)`", README.read_text())))


@pytest.mark.parametrize("text", INLINE)
def test_commands_named_in_the_prose_exist(text):
    """`harness zoo analyze MODEL [--json]` in a sentence: the command exists, with those options."""
    from harness.cli import app

    cmd = typer.main.get_command(app)
    words = text.replace("[", " ").replace("]", " ").split()[1:]
    for word in words:
        if not isinstance(cmd, TyperGroup) or word.startswith("-"):
            break
        if word.isupper():  # a placeholder: `harness COMMAND --help`
            return
        assert word in cmd.commands, f"{text}: no command {word!r} (has {sorted(cmd.commands)})"
        cmd = cmd.commands[word]
    options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    assert {w for w in words if w.startswith("-")} <= options, text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with the README's placeholders in it, and the committed records as results/."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(TESTS / "records" / "v1_results", work / "results")
    shutil.copy(REPO / "device_profiles" / "rpi5.yaml", work / "my_board.yaml")
    shutil.copy(zoo.model_file("mobilenet_v2_0.35_96-fp32-onnx"), work / "my_model.onnx")
    shutil.copy(zoo.model_file("mobilenet_v2_0.35_96-int8-tflite"), work / "mobilenet.tflite")
    shutil.copy(TESTS / "telemetry" / "fixtures" / "tegrastats" / "agx_orin_64gb_r36.4.4_jp6_3lines.txt",
                work / "capture.txt")
    shutil.copy(TESTS / "logs" / "captures" / "trtexec" / "trt8.0.1_jetson_nano_tegra_x1_exportTimes_enqueue_bound_warning.txt",
                work / "trtexec.log")
    # benchmark_model's log of that model, as the tool prints it (the adb emulator's stand-in runs it with LiteRT)
    proc = subprocess.run([sys.executable, str(TESTS / "adb_emulator" / "benchmark_model.py"),
                           f"--graph={work / 'mobilenet.tflite'}", "--num_runs=10", "--min_secs=0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (work / "old_log.txt").write_text(proc.stderr)
    # a nightly history of two keys, one with a 15 % step at night 40 (the simulator of tests/regression)
    from tests.regression.sim import nightly

    pd.concat([nightly("kws01@rpi5", step=0.15, seed=1), nightly("vww01@rpi5", seed=2)]).to_csv(
        work / "history.csv", index=False)
    return work


@pytest.mark.slow
def test_the_offline_commands_run_as_written(workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    ran = []
    for argv, redirect in COMMANDS:
        args = _substituted(argv)
        path = parse(args)[0]
        if path not in OFFLINE:
            continue
        proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=300)
        shown = " ".join(argv)
        assert proc.returncode == 0, f"harness {shown}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "error:" not in proc.stderr and "Traceback" not in proc.stderr, (shown, proc.stderr)
        if "--json" in args:
            assert json.loads(proc.stdout), shown
        if redirect:
            (workdir / redirect).write_text(proc.stdout)
            assert json.loads(proc.stdout), shown
        ran.append((path, args, proc))
    by_path = {p: (args, proc) for p, args, proc in ran}
    assert set(by_path) == OFFLINE, OFFLINE - set(by_path)
    assert by_path[()][1].stdout.startswith("harness ")
    # `results show PREFIX` found the run the prefix names; the summary names it whole
    assert RUN in by_path[("results", "show")][1].stdout
    assert (workdir / "reports" / "index.html").is_file()
    assert json.loads((workdir / "run.json").read_text())
    # the log is of the model it is told (the same file): recorded, no mismatch warning
    (ingested,) = [d for d in (workdir / "results").iterdir() if "-pixel8-mobilenet-" in d.name]
    assert (ingested / "manifest.json").is_file()
    # both keys are judged, and the 15 % step is found where it happened
    found = {k["key"]: [c["night"] for c in k["change_points"]] for k in json.loads(by_path[("regress",)][1].stdout)["keys"]}
    assert set(found) == {"kws01@rpi5", "vww01@rpi5"} and [abs(n - 40) <= 1 for n in found["kws01@rpi5"]] == [True]
    assert "--model" not in by_path[("ingest",)][1].stdout  # no "the log ran model …, but --model is …"
    assert json.loads((ingested / "manifest.json").read_text())["model"]["sha256"]  # checked against the file


def test_the_python_snippet_runs(workdir):
    (snippet,) = re.findall(r"```python\n(import harness\n.*?)```", README.read_text(), re.S)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    code = snippet + "\nprint(len(runs), len(samples) >= 0, int(harness.analyze('kws01-int8-tflite').macs) > 0)\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    n_runs, _, macs_positive = proc.stdout.split()[-3:]
    assert int(n_runs) >= 5 and macs_positive == "True"
