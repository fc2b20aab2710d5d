"""The load ledger's stale rule (tests/faults/fault_load.Ledger.check_task), without a
stack: a GET below a version reported applied is stale everywhere; below a version only
read by an earlier GET it is stale with one API instance, and listed apart (went_back)
behind a load balancer, where it is the near-cache window docs/decisions.md leaves open
("Reads that go back across instances")."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))

from fault_load import Attempt, Ledger  # noqa: E402


def _ledger(binds):
    led = Ledger("t")
    led.read_floor_binds = binds
    led.raise_floor("task", 3, 10.0, True)   # version 3 reported applied at t=10
    led.raise_floor("task", 5, 20.0, False)  # version 5 returned by a GET done at t=20
    return led


def _get(led, version, sent):
    led.check_task(Attempt("r", "w", "GET /api/v1/tasks/{id}", sent), "task", version, "GET")


def test_below_a_reported_version_is_stale_either_way():
    for binds in (True, False):
        led = _ledger(binds)
        _get(led, 2, 21.0)
        assert len(led.stale) == 1 and "version 2 after 5" in led.stale[0], (binds, led.stale)
        assert led.went_back == []


def test_below_a_read_version_depends_on_the_topology():
    one = _ledger(True)
    _get(one, 4, 21.0)
    assert len(one.stale) == 1 and one.went_back == []
    many = _ledger(False)
    _get(many, 4, 21.0)
    assert many.stale == [] and len(many.went_back) == 1
    assert "version 4 after 5 was read, 3 reported" in many.went_back[0]


def test_a_read_sent_before_the_floor_binds_nothing():
    led = _ledger(True)
    _get(led, 4, 15.0)  # sent before the GET that returned 5 had completed
    _get(led, 5, 21.0)
    assert led.stale == [] and led.went_back == []
