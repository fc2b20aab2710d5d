"""The load ledger's stale rule (tests/faults/fault_load.Ledger.check_task), without a
stack: a GET below a version reported applied is stale everywhere; below a version only
read by an earlier GET it is stale with one API instance, and listed apart (went_back)
behind a load balancer, with the request ids that let the scale suite tell whether one
instance went back (stale) or two disagreed in the near-cache window docs/decisions.md
leaves open ("Reads that go back across instances")."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

from fault_load import Attempt, Ledger  # noqa: E402


def _ledger(binds):
    led = Ledger("t")
    led.read_floor_binds = binds
    led.raise_floor("task", 3, 10.0, True)   # version 3 reported applied at t=10
    led.raise_floor("task", 5, 20.0, False, "g5")  # version 5 returned by GET g5, done at t=20
    led.note_get("task", 5, 20.0, "g5")
    return led


def _get(led, version, sent, rid="r"):
    led.check_task(Attempt(rid, "w", "GET /api/v1/tasks/{id}", sent), "task", version, "GET")


def test_below_a_reported_version_is_stale_either_way():
    for binds in (True, False):
        led = _ledger(binds)
        _get(led, 2, 21.0)
        assert len(led.stale) == 1 and "version 2 after 3 was reported" in led.stale[0], (binds, led.stale)
        assert led.went_back == []


def test_below_a_read_version_depends_on_the_topology():
    one = _ledger(True)
    _get(one, 4, 21.0)
    assert len(one.stale) == 1 and one.went_back == []
    many = _ledger(False)
    _get(many, 4, 21.0)
    assert many.stale == [] and len(many.went_back) == 1
    went = many.went_back[0]
    assert "version 4 after 5 was read, 3 reported" in went.what
    assert went.request_id == "r" and went.above == ["g5"]  # the GET that returned 5


def test_every_earlier_get_above_is_named_not_only_the_first():
    """g5 (one instance) and g5b (another) both returned 5; only g5 raised the floor. A GET
    going back to 4 names both, so the suite compares it with its own instance's too."""
    led = _ledger(False)
    led.note_get("task", 5, 20.5, "g5b")
    led.note_get("task", 4, 19.0, "g4")  # below: not named
    _get(led, 4, 21.0)
    assert [w.above for w in led.went_back] == [["g5", "g5b"]]
    _get(led, 4, 20.2, "early")  # sent before g5b was done: only g5
    assert led.went_back[-1].above == ["g5"]


def test_a_read_sent_before_the_floor_binds_nothing():
    led = _ledger(True)
    _get(led, 4, 15.0)  # sent before the GET that returned 5 had completed
    _get(led, 5, 21.0)
    assert led.stale == [] and led.went_back == []


def test_the_scale_suite_tells_instances_apart_by_nginx_log(tmp_path, monkeypatch):
    """scale_run.split_went_back: another instance's version is the open window; the same
    instance's, or an instance the log cannot name, fails the scenario."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scale"))
    import json

    import scale_run
    from fault_load import WentBack

    (tmp_path / "logs").mkdir()
    served = {"a1": "127.0.0.1:18091", "b1": "127.0.0.1:18092", "a2": "127.0.0.1:18091",
              "r1": "127.0.0.1:18093, 127.0.0.1:18092"}  # r1: retried, answered by :18092
    with open(tmp_path / "logs" / "nginx-access.log", "w", encoding="utf-8") as f:
        for rid, up in served.items():
            # nginx's taskbus_json: no spaces after the separators
            f.write(json.dumps({"request_id": rid, "upstream": up, "status": 200}, separators=(",", ":")) + "\n")
        f.write('{"request_id":"partial","upstream":"127.0.0.1:18091"')  # being written: not read
    monkeypatch.setenv("TASKBUS_DATA_DIR", str(tmp_path))
    other = WentBack("other", "b1", ["a1"])
    same = WentBack("same", "a2", ["a1"])
    retried_same = WentBack("retried", "r1", ["b1"])
    unknown = WentBack("unknown", "zz", ["a1"])
    elsewhere, bad = scale_run.split_went_back([other, same, retried_same, unknown], log_timeout=0.5)
    assert elsewhere == [other]
    assert bad == [same, retried_same, unknown]
