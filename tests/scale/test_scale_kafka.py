"""Kafka under a steady stream of creates: kill -9 one broker, later a second one briefly
(only one of three left: fewer than min.insync.replicas=2 in sync, so writes answer 503),
bring both back.

Owns: the scenario's schedule and its own check (every partition's ISR full again).
Rules (scale_run.scenario): every 202 applied exactly once, every applied command's
event on task-events, no failed request (503/429/409 are refusals, not failures: the
API said nothing was queued, and keyed creates are retried); the offered rate
(TASKBUS_SCALE_KAFKA_RATE, 1000/s) is a target, the rate reached is shown.
"""

import time

import scale_stack
from helpers import stack_control
from scale_run import BASELINE_S, CREATES, DOWN_S, KAFKA_RATE, SETTLE_S, pause, scenario

ONE_BROKER_DOWN_S = 10.0  # load on two brokers: min.insync 2 still met, writes accepted


def test_kafka_brokers_killed_under_steady_creates(api_url, pool):
    times = {}

    def drive(s):
        s.open_window("baseline")
        pause(BASELINE_S)
        wd = s.open_window("kill -9 kafka-2")
        stack_control.kill("kafka-2")
        wd["inject"] = time.time()
        pause(ONE_BROKER_DOWN_S)
        wd = s.open_window("kill -9 kafka-3 too (1 of 3 up)")
        stack_control.kill("kafka-3")
        wd["inject"] = time.time()
        pause(DOWN_S)
        stack_control.start("kafka-3")
        wd["back"] = time.time()
        pause(SETTLE_S)
        wd = s.open_window("start kafka-2")
        stack_control.start("kafka-2")
        wd["inject"] = wd["back"] = t0 = time.time()
        scale_stack.wait_isr_full(240)
        times["isr_full_s"] = round(time.time() - t0, 1)
        pause(SETTLE_S)

    def checks(run):
        return [], {"seconds from kafka-2's start to every ISR full": times.get("isr_full_s")}

    scenario("Kafka: brokers killed", pool, api_url, KAFKA_RATE, CREATES, drive, checks=checks)
