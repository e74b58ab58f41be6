"""Farm files and plans: parsing, the one-line errors, the matrix expansion, the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError
from harness.farm.inventory import device_resource, load_farm
from harness.farm.plan import load_plan
from tests.conftest import assert_one_line_error

REPO = Path(__file__).resolve().parents[2]


def _profile(folder: Path, device_id: str, kind: str = "local", **extra) -> Path:
    data = {"id": device_id, "name": device_id, "transport": {"kind": kind}, **extra}
    path = folder / f"{device_id}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def farm_dir(tmp_path) -> Path:
    for d in ("b1", "b2", "b3"):
        _profile(tmp_path, d)
    mcu = yaml.safe_load((REPO / "device_profiles" / "mps2-an386.yaml").read_text())
    mcu["id"] = "m1"
    (tmp_path / "m1.yaml").write_text(yaml.safe_dump(mcu))
    (tmp_path / "farm.yaml").write_text(yaml.safe_dump({
        "name": "lab",
        "classes": {"board": {"description": "boards"}, "mcu": {}},
        "hosts": {
            "lab-a": {"devices": [{"profile": "b1.yaml", "class": "board", "recovery": "ssh b1 'sudo reboot'"},
                                  {"profile": "b2.yaml", "class": "board"}]},
            "lab-b": {"devices": [{"profile": "b3.yaml", "class": "board"}, {"profile": "m1.yaml", "class": "mcu"}]},
        },
    }))
    return tmp_path


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_a_farm_file_maps_devices_to_hosts_and_classes(farm_dir):
    farm = load_farm(farm_dir / "farm.yaml")
    assert [d.id for d in farm.of_class("board")] == ["b1", "b2", "b3"]
    assert [d.id for d in farm.on_host("lab-b")] == ["b3", "m1"]
    b1 = farm.device("b1")
    assert b1.recovery == ("ssh", "b1", "sudo reboot")  # split like a shell, never run through one
    assert b1.resource == device_resource("b1") == "device:b1"
    assert farm.policy.quarantine_failures == 3 and farm.policy.quarantine_window == 10
    assert farm.policy.max_retries == 2 and farm.policy.recovery_checks == 3


@pytest.mark.parametrize(
    "change, needles",
    [
        (lambda d: d["hosts"]["lab-a"]["devices"][1].update({"class": "phone"}),
         ["hosts.lab-a.devices.1.class", "unknown class 'phone'"]),
        (lambda d: d["hosts"]["lab-b"]["devices"][0].update({"profile": "nope.yaml"}),
         ["hosts.lab-b.devices.0.profile", "no such profile file"]),
        (lambda d: d["hosts"]["lab-b"]["devices"].append({"profile": "b1.yaml", "class": "board"}),
         ["hosts.lab-b.devices.2.profile", "already attached to host 'lab-a'"]),
        (lambda d: d["hosts"]["lab-a"]["devices"][0].update({"recovery": "ssh 'unclosed"}),
         ["hosts.lab-a.devices.0.recovery", "cannot split"]),
        (lambda d: d.update({"hostz": {}}), ["hostz", "Extra inputs"]),
        (lambda d: d["hosts"].update({"bad host": {"devices": []}}), ["hosts.bad host"]),
    ],
)
def test_a_bad_farm_file_is_one_error_naming_the_field(farm_dir, change, needles):
    _edit(farm_dir / "farm.yaml", change)
    with pytest.raises(HarnessError) as e:
        load_farm(farm_dir / "farm.yaml")
    assert str(e.value).startswith(str(farm_dir / "farm.yaml"))
    for n in needles:
        assert n in str(e.value)


def test_invalid_yaml_names_the_line(farm_dir):
    (farm_dir / "farm.yaml").write_text("name: lab\nhosts: [\n")
    with pytest.raises(HarnessError, match=r"farm\.yaml:3:1: invalid YAML"):
        load_farm(farm_dir / "farm.yaml")


def _plan(farm_dir: Path, **data) -> Path:
    base = {"name": "nightly", "farm": "farm.yaml",
            "matrix": {"models": ["kws01-int8-tflite"], "classes": ["board"]}}
    base.update(data)
    path = farm_dir / "plan.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def test_the_matrix_expands_to_one_job_per_cell_planned_on_every_device(farm_dir):
    plan = load_plan(_plan(farm_dir, matrix={
        "models": ["kws01-int8-tflite", "mobilenet_v2_0.35_96-fp32-onnx"],
        "classes": ["board", "mcu"],
        "runtimes": ["tflite", "onnx"],
        "options": [{"threads": 1}, {"threads": 2}],
    }, tags={"suite": "zoo"}), tags={"nightly": "n7"})
    names = sorted(j.name for j in plan.jobs)
    # board: tflite model × tflite, onnx model × onnx, × 2 option sets; mcu: no tflite/onnx runtime
    assert names == sorted([
        "kws01-int8-tflite [tflite, threads=1]", "kws01-int8-tflite [tflite, threads=2]",
        "mobilenet_v2_0.35_96-fp32-onnx [onnx, threads=1]", "mobilenet_v2_0.35_96-fp32-onnx [onnx, threads=2]",
    ])
    for job in plan.jobs:
        assert sorted(job.planned) == ["b1", "b2", "b3"]  # any board may take it
        assert {r.config.threads for r in job.planned.values()} == {int(job.name[-2])}
    assert len({j.key for j in plan.jobs}) == 4
    # the cells that cannot run are listed, with why, not silently lost
    assert len(plan.not_applicable) == 6
    assert any("kws01-int8-tflite on board (onnx)" in x and "cannot run with runtime 'onnx'" in x
               for x in plan.not_applicable)
    assert any(x.startswith("kws01-int8-tflite on mcu (tflite)") and "no runtime 'tflite'" in x
               for x in plan.not_applicable)
    assert plan.tags == {"suite": "zoo", "nightly": "n7"}


def test_class_options_exclusions_and_the_canary(farm_dir):
    plan = load_plan(_plan(
        farm_dir,
        matrix={"models": ["kws01-int8-tflite", "ad01-int8-tflite"], "classes": ["board", "mcu"]},
        defaults={"stop": {"mode": "fixed", "count": 30}},
        class_options={"mcu": {"stop": {"mode": "tinyml"}, "options": {"windows": 3}}},
        exclude=[{"model": "ad01-int8-tflite", "class": "mcu"}],
        canary={"model": "kws01-int8-tflite"},
    ))
    canaries = [j for j in plan.jobs if j.canary]
    assert [(j.pinned, j.candidates()) for j in canaries] == [(d, [d]) for d in ("b1", "b2", "b3", "m1")]
    assert plan.jobs[: len(canaries)] == canaries  # canaries go first on each device
    jobs = {(j.model.name, j.device_class) for j in plan.jobs if not j.canary}
    assert jobs == {("kws01-int8-tflite", "board"), ("ad01-int8-tflite", "board"), ("kws01-int8-tflite", "mcu")}
    mcu_job = next(j for j in plan.jobs if j.device_class == "mcu" and not j.canary)
    run = mcu_job.planned["m1"]
    assert run.config.runtime == "tinyml" and run.config.options == {"windows": 3}
    board_job = next(j for j in plan.jobs if j.device_class == "board" and not j.canary)
    assert board_job.planned["b1"].config.stop.count == 30


@pytest.mark.parametrize(
    "data, needles",
    [
        ({"matrix": {"models": ["kws01-int8-tflite"], "classes": ["phone"]}}, ["matrix.classes", "phone"]),
        ({"matrix": {"models": ["no-such-model"], "classes": ["board"]}}, ["no-such-model"]),
        ({"matrix": {"models": ["kws01-int8-tflite"], "classes": ["board"], "runtimes": ["tensorrt"]}},
         ["matrix.runtimes", "tensorrt"]),
        ({"matrix": {"models": ["kws01-int8-tflite"], "classes": ["mcu"], "runtimes": ["onnx"]}},
         ["no job to run", "no runtime 'onnx'"]),
        ({"job_timeout_s": 0}, ["job_timeout_s"]),
        ({"matrix": {"models": ["kws01-int8-tflite"], "classes": ["board"],
                     "options": [{"cluster": "nope"}]}}, ["nope"]),
    ],
)
def test_a_bad_plan_fails_before_any_device_time(farm_dir, data, needles):
    with pytest.raises(HarnessError) as e:
        load_plan(_plan(farm_dir, **data))
    for n in needles:
        assert n in str(e.value)


def test_cli_validate_schema_and_errors(farm_dir, cli):
    plan = _plan(farm_dir)
    ok = cli("farm", "validate", str(farm_dir / "farm.yaml"), "--plan", str(plan), "--json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert {d["id"]: d["host"] for d in out["devices"]} == {"b1": "lab-a", "b2": "lab-a", "b3": "lab-b", "m1": "lab-b"}
    assert out["plans"] == [{"plan": "nightly", "jobs": 1, "not_applicable": []}]
    schema = json.loads(cli("farm", "schema").stdout)
    assert schema["title"] == "harness farm file" and "hosts" in schema["properties"]
    device = schema["$defs"]["FarmDevice"]["properties"]
    assert "class" in device and "recovery" in device  # the file's own spelling
    assert json.loads(cli("farm", "schema", "--plan").stdout)["title"] == "harness farm plan"
    _edit(farm_dir / "farm.yaml", lambda d: d["hosts"]["lab-a"]["devices"][0].update({"class": "x"}))
    assert_one_line_error(cli("farm", "validate", str(farm_dir / "farm.yaml")), "hosts.lab-a.devices.0.class")


def test_the_shipped_nightly_plan_and_farm_file_validate(tmp_path):
    """ci/nightly.yaml over ci/farm.yaml plans (the phones' benchmark_model path pointed at a
    file that exists here), and the workflow runs exactly that plan."""
    plan = yaml.safe_load((REPO / "ci" / "nightly.yaml").read_text())
    plan["farm"] = str(REPO / "ci" / "farm.yaml")
    stand_in = tmp_path / "benchmark_model"
    stand_in.write_text("#!/bin/sh\n")
    for opts in plan["class_options"].values():
        if "benchmark_binary" in opts.get("options", {}):
            opts["options"]["benchmark_binary"] = str(stand_in)
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump(plan))
    loaded = load_plan(tmp_path / "nightly.yaml")
    classes = {j.device_class for j in loaded.jobs}
    assert classes == set(loaded.farm.spec.classes)  # every class of the lab gets work
    assert {j.pinned for j in loaded.jobs if j.canary} == set(loaded.farm.devices)
    assert all("onnx" in x for x in loaded.not_applicable)
    workflow = yaml.safe_load((REPO / "ci" / "workflows" / "nightly-farm.yml").read_text())
    steps = "\n".join(s.get("run", "") for s in workflow["jobs"]["farm"]["steps"])
    assert "harness farm run ci/nightly.yaml" in steps and "--junit" in steps and "--report" in steps
    assert workflow["jobs"]["farm"]["runs-on"] == ["self-hosted", "device-farm"]
