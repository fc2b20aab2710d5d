"""Writers and relays under load: kill -9 of a writer and of the active relay, then a
writer joining the group (its partitions move to it).

Owns: the scenario's schedule and its own checks: after the run every consumer group's
stored offsets (Postgres, kafka_consumer_offsets) reach the end of its topic (lag back to
0), and the writer group has three members again, each holding partitions.
Rules (scale_run.scenario): 0 lost, 0 duplicated, no failed request.
"""

import time

import scale_stack
from helpers import stack_control
from helpers.tasks import wait_group_caught_up
from scale_run import BASELINE_S, DOWN_S, RATE, READ_HEAVY, SETTLE_S, pause, scenario


def writer_group_members():
    """[(member client id, number of partitions assigned)] of the writer group."""
    futs = scale_stack.admin().describe_consumer_groups([scale_stack.WRITER_GROUP], request_timeout=10)
    desc = futs[scale_stack.WRITER_GROUP].result(timeout=15)
    return [(m.client_id, len(m.assignment.topic_partitions) if m.assignment else 0) for m in desc.members]


def test_writer_and_relay_killed_and_a_writer_joins(api_url, pool):
    found = {}

    def drive(s):
        wd = s.open_window("stop writer-3 (it joins later)")
        stack_control.stop("writer-3")
        wd["inject"] = time.time()
        s.open_window("baseline")
        pause(BASELINE_S)
        s.kill("writer-1", down_s=DOWN_S, settle_s=SETTLE_S)
        relay = scale_stack.wait(scale_stack.active_relay, 30, "the relay holding the publishing lock")
        found["relay"] = relay
        s.kill(relay, down_s=DOWN_S, settle_s=SETTLE_S)
        wd = s.open_window("writer-3 joins")
        stack_control.start("writer-3")
        wd["inject"] = wd["back"] = time.time()
        # Until the group has rebalanced onto three members, each holding partitions.
        scale_stack.wait(lambda: (lambda m: len(m) == 3 and all(n > 0 for _, n in m))(writer_group_members()),
                         60, "three writers each holding partitions")
        pause(SETTLE_S)

    def checks(run):
        t0 = time.time()
        for group, topic in scale_stack.GROUPS:
            wait_group_caught_up(group, topic, timeout=120)
        return [], {"active relay killed": found.get("relay"),
                    "writer group after the join": writer_group_members(),
                    "seconds until every group's lag was 0 (after the count)": round(time.time() - t0, 1)}

    scenario("Writers and relay: kill -9, writer joins", pool, api_url, RATE, READ_HEAVY, drive, checks=checks)
