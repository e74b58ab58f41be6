"""Health rules, the registry in the store, reservations and the canary's robust z."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy.stats import norm

from harness.errors import HarnessError
from harness.farm.health import apply_outcome, robust_z
from harness.farm.inventory import HealthPolicy
from harness.farm.registry import Registry
from harness.farm.sharing import hold, parse_duration
from tests.conftest import assert_one_line_error

POLICY = HealthPolicy()


def _apply(reg: Registry, device: str, *outcomes: str) -> list[str]:
    return [apply_outcome(reg, device, o, POLICY, detail=f"#{i}") for i, o in enumerate(outcomes)]


def test_transient_failures_make_a_device_suspect_then_quarantined(tmp_path):
    reg = Registry(tmp_path)
    assert reg.health("b1").state == "unknown"  # never seen
    states = _apply(reg, "b1", "ok", "transient", "ok", "transient", "ok", "transient")
    assert states == ["good", "suspect", "good", "suspect", "good", "quarantined"]
    assert reg.health("b1").reason.startswith("3 transient failures in its last 6 jobs")
    # quarantined stays so whatever jobs report, until recovery or a person
    assert _apply(reg, "b1", "ok") == ["quarantined"]


def test_only_the_last_ten_jobs_count(tmp_path):
    reg = Registry(tmp_path)
    _apply(reg, "b1", "transient", "transient", *["ok"] * 8)
    assert reg.health("b1").state == "good"
    # a third failure: 3 in the last 11 jobs, but the first is out of the window of 10
    assert _apply(reg, "b1", "transient") == ["suspect"]
    assert reg.recent_outcomes("b1", 10).count("transient") == 2
    # the second old failure leaves the window as this one enters: still 2
    assert _apply(reg, "b1", "transient") == ["suspect"]
    assert _apply(reg, "b1", "transient") == ["quarantined"]  # 3 in the last 10


def test_node_loss_and_model_failures_are_not_device_faults(tmp_path):
    reg = Registry(tmp_path)
    states = _apply(reg, "b1", "ok", "node_lost", "node_lost", "node_lost", "permanent", "permanent")
    assert states == ["good", "unknown", "unknown", "unknown", "good", "good"]


def test_a_failed_liveness_check_quarantines_at_once(tmp_path):
    reg = Registry(tmp_path)
    assert _apply(reg, "b1", "ok", "check_failed") == ["good", "quarantined"]
    assert "liveness check failed" in reg.health("b1").reason


def test_a_person_s_maintenance_is_left_alone_and_health_is_remembered(tmp_path):
    reg = Registry(tmp_path)
    reg.set_state("b1", "maintenance", "new SD card")
    assert _apply(reg, "b1", "ok", "transient") == ["maintenance", "maintenance"]
    again = Registry(tmp_path)  # a restarted farm
    assert again.health("b1").state == "maintenance" and again.health("b1").reason == "new SD card"
    with pytest.raises(HarnessError, match="unknown health state"):
        reg.set_state("b1", "broken")


def test_robust_z_against_a_device_s_own_history():
    rng = np.random.default_rng(1)
    history = list(1e-3 * (1 + 0.01 * rng.standard_normal(14)))
    med = float(np.median(history))
    sigma = float(np.median(np.abs(np.asarray(history) - med))) / norm.ppf(0.75)  # MAD as a normal's σ
    assert robust_z(med, history) == pytest.approx(0.0)
    assert robust_z(med + 5 * sigma, history) == pytest.approx(5.0, rel=1e-6)
    assert robust_z(med * 1.2, history) > 3.5  # a 20 % slower night is far out
    # identical nights (a quantised timer): the MAD floor keeps z finite, small for a 1-tick change
    flat = [1e-3] * 7
    assert abs(robust_z(1e-3 * 1.0005, flat)) < 1
    assert robust_z(2e-3, flat) > 100


def test_reservations_expire_and_belong_to_their_owner(tmp_path):
    reg = Registry(tmp_path)
    reg.reserve("b1", "ana@lab", 0.5, "debugging")
    with pytest.raises(HarnessError, match="already reserved by ana@lab"):
        reg.reserve("b1", "bo@lab", 60)
    assert list(reg.reservations()) == ["b1"]
    time.sleep(0.6)
    assert reg.reservations() == {}  # the TTL needs nobody to clean up
    reg.reserve("b1", "bo@lab", 60)
    assert not reg.release("b1", "ana@lab") and reg.release("b1", "bo@lab")


def test_a_reservation_waits_for_the_running_job_then_holds_until_released(tmp_path, farm_of_one):
    reg = Registry(tmp_path)
    reg.driver_started("nightly")
    reg.set_live("local", "kws01 [tflite]")  # the nightly is running a job on it
    events: list[str] = []
    stop = threading.Event()
    t = threading.Thread(target=lambda: events.append(
        hold(reg, farm_of_one, "local", 60, "ana@lab", stop=stop, poll_s=0.05,
             on_state=lambda what, info: events.append(what))))
    t.start()
    time.sleep(0.5)
    assert events[0] == "reserved" and "acquired" not in events and "waiting" in events
    assert "local" in reg.reservations()  # no new nightly job starts meanwhile
    reg.set_live("local", None)  # the job ends
    deadline = time.monotonic() + 5
    while "acquired" not in events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "acquired" in events
    stop.set()  # Ctrl-C
    t.join(5)
    assert events[-1] == "released" and reg.reservations() == {}


def test_hold_ends_at_the_ttl(tmp_path, farm_of_one):
    reg = Registry(tmp_path)
    assert hold(reg, farm_of_one, "local", 0.3, "ana@lab", poll_s=0.05) == "expired"
    assert reg.reservations() == {}
    with pytest.raises(HarnessError, match="unknown farm device 'nope'"):
        hold(reg, farm_of_one, "nope", 1, "ana@lab")


@pytest.mark.parametrize("text, seconds", [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("0.5h", 1800)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2 days", "h", "0m"])
def test_bad_durations(text):
    with pytest.raises(HarnessError, match="--for"):
        parse_duration(text)


def test_cli_mark_reserve_release_status(tmp_path, cli):
    import json

    import yaml

    (tmp_path / "farm.yaml").write_text(yaml.safe_dump({
        "name": "solo", "classes": {"host": {}}, "hosts": {"here": {"devices": [{"profile": "local", "class": "host"}]}},
    }))
    env = {"HARNESS_FARM": str(tmp_path / "farm.yaml")}
    assert cli("farm", "mark", "local", "maintenance", "--reason", "new fan", env=env).returncode == 0
    proc = cli("farm", "reserve", "local", "--for", "1s", "--owner", "ana@lab", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "reserved local for ana@lab" in proc.stderr and "reservation expired" in proc.stderr
    status = json.loads(cli("farm", "status", "--json", env=env).stdout)
    (device,) = status["devices"]
    assert (device["state"], device["reason"], device["reserved_by"]) == ("maintenance", "new fan", None)
    table = cli("farm", "status", env=env).stdout
    assert "no plan running" in table and "maintenance: new fan" in table
    Registry(tmp_path / "results").reserve("local", "bo@lab", 600)
    assert "released" in cli("farm", "release", "local", env=env).stdout
    assert_one_line_error(cli("farm", "mark", "local", "quarantined", env=env), "a person sets one of")
    assert_one_line_error(cli("farm", "reserve", "nope", "--for", "1h", env=env), "unknown farm device 'nope'")
    assert_one_line_error(cli("farm", "reserve", "local", "--for", "soon", env=env), "--for 'soon'")
    assert_one_line_error(cli("farm", "status", "--farm", "missing.yaml"), "missing.yaml: no such farm file")
