"""Device profiles: schema, loader, CLI, and the errors users see."""

from __future__ import annotations

import json

import pytest

from harness import profiles
from harness.errors import ProfileError
from tests.conftest import assert_one_line_error

GOOD = """
id: bench-board
name: Bench board
transport: {kind: ssh, host: 10.0.0.7, user: pi}
hardware:
  soc: BCM2712
  cpu_clusters: [{name: big, core: Cortex-A76, cpus: [0, 1, 2, 3]}]
  memory_bandwidth_bytes_per_s: 17.1e9
  sources: {memory_bandwidth_bytes_per_s: "LPDDR4X-4267 x32"}
defaults: {cluster: big, threads: 4}
"""


def test_every_builtin_profile_is_valid():
    found, errors = profiles.list_profiles()
    assert not errors, [str(e) for e in errors]
    assert "local" in {p.id for p in found}


def test_loads_by_path_and_by_id_from_extra_folder(tmp_path, monkeypatch):
    (tmp_path / "whatever.yaml").write_text(GOOD)
    p = profiles.load_profile(tmp_path / "whatever.yaml")
    assert p.id == "bench-board" and p.transport.kind == "ssh" and p.transport.port == 22
    assert p.hardware.cluster("big").affinity_mask == "f"
    assert profiles.load_profile("bench-board", [tmp_path]).source == str(tmp_path / "whatever.yaml")
    monkeypatch.setenv(profiles.ENV_VAR, str(tmp_path))
    assert profiles.load_profile("bench-board").name == "Bench board"


def test_errors_name_file_field_and_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("host: 10.0.0.7", "host: 10.0.0.7, port: twenty-two"))
    with pytest.raises(ProfileError, match=r"bad\.yaml: transport\.ssh\.port: Input should be a valid integer"):
        profiles.load_profile(bad)
    bad.write_text(GOOD.replace("sources: {memory_bandwidth_bytes_per_s: \"LPDDR4X-4267 x32\"}", "sources: {}"))
    with pytest.raises(ProfileError, match=r"bad\.yaml: hardware: no source note in 'sources' for: memory_bandwidth"):
        profiles.load_profile(bad)
    bad.write_text("id: x\nname: [unclosed\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml:3:1: invalid YAML"):
        profiles.load_profile(bad)
    bad.write_text(GOOD.replace("defaults: {cluster: big", "defaults: {cluster: LITTLE"))
    with pytest.raises(ProfileError, match=r"defaults\.cluster 'LITTLE' is not in hardware\.cpu_clusters"):
        profiles.load_profile(bad)
    with pytest.raises(ProfileError, match=r"unknown device 'nope'.*known: .*local"):
        profiles.load_profile("nope")


def test_cli_validate_and_unknown_device(cli, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text(GOOD.replace("kind: ssh", "kind: telnet"))
    proc = cli("devices", "validate", str(bad))
    assert proc.returncode == 2
    assert "broken.yaml: transport" in proc.stderr and "telnet" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("devices", "validate", "--json")
    assert proc.returncode == 0, proc.stderr
    assert all(r["ok"] for r in json.loads(proc.stdout))
    assert_one_line_error(cli("devices", "show", "no-such-device"), "unknown device 'no-such-device'")


def test_cli_list_show_schema(cli, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "b.yaml").write_text(GOOD)
    listed = json.loads(cli("devices", "list", "--json", "--profiles", str(tmp_path / "p")).stdout)
    assert {"local", "bench-board"} <= {d["id"] for d in listed}
    shown = json.loads(cli("devices", "show", str(tmp_path / "p" / "b.yaml"), "--json").stdout)
    assert shown["transport"]["host_key_policy"] == "strict"
    schema = json.loads(cli("devices", "schema").stdout)
    assert "transport" in schema["properties"] and schema["title"] == "harness device profile"
