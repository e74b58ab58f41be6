"""`harness ab`: interleaved baseline/candidate runs on one device, re-run while unsure."""

from __future__ import annotations

import json

import pytest

from harness import ab as ab_mod
from harness import session
from harness.analysis.regression import AB_ALPHA, look_alpha
from harness.errors import HarnessError
from harness.store.store import RunStore
from tests.conftest import assert_one_line_error
from tests.regression.records import write

pytestmark = pytest.mark.timeout(600)
QUICK = ("--count", "15", "--no-telemetry", "--no-thermal-gate", "--idle", "0")


def test_ab_on_the_local_host_two_models(cli, tmp_path):
    """A model 100 times bigger is slower: interleaved runs on this host say so at the first look."""
    proc = cli("ab", "-d", "local", "--baseline", "kws01-int8-tflite", "--candidate",
               "mobilenet_v2_1.0_224-int8-tflite,threads=1", "--repeat", "3", *QUICK, "--tag", "pr=42", "--json")
    assert proc.returncode == 1, proc.stderr  # the candidate regressed
    out = json.loads(proc.stdout)
    (look,) = out["looks"]
    (m,) = look["measures"]
    assert m["verdict"]["verdict"] == "regressed" and m["verdict"]["ratio"] > 2
    assert (m["verdict"]["n_base"], m["verdict"]["n_new"]) == (3, 3)
    assert look["alpha"] == pytest.approx(look_alpha(1, 2, AB_ALPHA))  # default: at most one re-run
    assert any(d.startswith("model") for d in m["differs"])
    runs = sorted(RunStore(tmp_path / "results").manifests(), key=lambda r: r.started_at)
    assert [r.metadata["ab.arm"] for r in runs] == ["baseline", "candidate"] * 3  # ABAB…
    assert {r.metadata["ab.id"] for r in runs} == {out["ab_id"]}
    assert [r.metadata["ab.pair"] for r in runs] == ["0", "0", "1", "1", "2", "2"]
    assert all(r.metadata["pr"] == "42" and r.status == "ok" for r in runs)
    assert {r.config.threads for r in runs if r.metadata["ab.arm"] == "candidate"} == {1}
    assert out["arms"]["candidate"]["runs"] == [r.run_id for r in runs if r.metadata["ab.arm"] == "candidate"]


def test_arm_specs_and_their_errors(cli, tmp_path):
    assert ab_mod.parse_arm("kws01,threads=2,num_threads=3") == ({"model": "kws01", "threads": "2"}, {"num_threads": 3})
    assert ab_mod.parse_arm("model=a.tflite,runtime=tflite") == ({"model": "a.tflite", "runtime": "tflite"}, {})
    with pytest.raises(HarnessError, match="two models"):
        ab_mod.parse_arm("a,b")
    assert_one_line_error(cli("ab", "-d", "local", "--baseline", "threads=1", "--candidate", "threads=2"),
                          "which model")
    assert_one_line_error(cli("ab", "-d", "local", "-m", "kws01-int8-tflite", "--baseline", "threads=x",
                              "--candidate", "threads=2"), "threads='x' is not a number")
    assert_one_line_error(cli("ab", "-d", "local", "-m", "kws01-int8-tflite", "--baseline", "threads=1",
                              "--candidate", "profile=pixel8"), "different devices")
    assert_one_line_error(cli("ab", "-d", "local", "-m", "kws01-int8-tflite", "--baseline", "threads=1",
                              "--candidate", "threads=2", "--repeat", "1"), "--repeat must be at least 2")
    assert not (tmp_path / "results").exists()  # refused before any run


class _Scripted:
    """Stands in for the device: each arm's runs come out at the levels given, in order."""

    def __init__(self, levels: dict[str, list[float]]):
        self.levels = {k: list(v) for k, v in levels.items()}
        self.calls: list[str] = []

    def __call__(self, job, store, cancel=None, progress=None):
        arm = job.metadata["ab.arm"]
        self.calls.append(arm)
        level = self.levels[arm].pop(0)
        return write(store, model=job.model.name, level=level, night=None, seed=len(self.calls), sd=0.005,
                     n=40, metadata=job.metadata, threads=job.config.threads or 1)


def _arms(tmp_path):
    shared = session.RunOptions(stop_fields={"mode": "fixed", "count": 5}, telemetry=False, thermal_gate=False)
    a = ab_mod.plan_arm("baseline", "threads=1", "local", shared, "kws01-int8-tflite")
    b = ab_mod.plan_arm("candidate", "threads=2", "local", shared, "kws01-int8-tflite")
    return a, b


def test_an_unsure_verdict_is_measured_again_at_most_twice_with_alpha_spent(tmp_path, monkeypatch):
    # +6 % with run-to-run spread: not settled on 5 + 5, leaning towards a change
    base = [1.00, 1.05, 0.95, 1.02, 0.98] * 3
    cand = [1.06, 1.12, 1.00, 1.08, 1.04] * 3
    script = _Scripted({"baseline": [1e-3 * x for x in base], "candidate": [1e-3 * x for x in cand]})
    monkeypatch.setattr(session, "run_planned", script)
    a, b = _arms(tmp_path)
    out = ab_mod.run_ab(a, b, RunStore(tmp_path / "results"), repeat=5, reruns=2)
    assert [lk.look for lk in out.looks] == [1, 2, 3][: len(out.looks)]
    assert len(out.looks) >= 2, [c.verdict.verdict for c in out.looks[0].comparisons]
    first = out.looks[0].comparisons[0].verdict
    assert first.verdict == "unknown" and first.p_value <= 0.2
    assert [lk.alpha for lk in out.looks] == pytest.approx([look_alpha(i, 3, AB_ALPHA) for i in range(1, len(out.looks) + 1)])
    assert script.calls == ["baseline", "candidate"] * (5 * len(out.looks))
    assert out.final[0].differs == ["config.threads: 1 → 2"]
    assert sum(look_alpha(i, 3, AB_ALPHA) for i in (1, 2, 3)) == pytest.approx(AB_ALPHA)


def test_no_sign_of_a_change_is_not_measured_again(tmp_path, monkeypatch):
    same = [1.00, 1.05, 0.95, 1.02, 0.98]
    script = _Scripted({"baseline": [1e-3 * x for x in same], "candidate": [1e-3 * x for x in reversed(same)]})
    monkeypatch.setattr(session, "run_planned", script)
    a, b = _arms(tmp_path)
    out = ab_mod.run_ab(a, b, RunStore(tmp_path / "results"), repeat=5, reruns=2)
    (look,) = out.looks
    v = look.comparisons[0].verdict
    assert v.verdict in ("unknown", "same") and v.p_value > 0.2 and not out.regressed
    assert len(script.calls) == 10
