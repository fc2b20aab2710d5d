"""The daemons' work metrics on their own /metrics (docs/decisions.md, "Daemon metrics";
README "Daemon metrics"), scraped from the real stack and parsed with prometheus_client's
parser, and checked by `promtool check metrics`.

Each test does real work through the API and waits (with a deadline, polling) until the
daemon that did it counts it: a create applied counts a writer batch and its records; a
report built, an import produced, a webhook delivered and a mail sent count on the
reporter, importer, webhooks and notifier; a poison command counts a dead letter on the
writer. The scheduler's observer exports every group's lag, the outbox backlog and the
dead letters pending (the poison command shows there too): the outbox backlog rises while the
relay is stopped and falls to 0 after; the writer's lag rises to at least the creates
submitted while the writer is stopped and falls to 0 once it runs again, every create
applied. Counters are compared before and after (other tests' work only adds to them).
The observer measures every TASKBUS_LAG_INTERVAL_SECONDS (default 5): the deadlines
leave room for several passes.
"""

import json
import os
import shutil
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import stack_control
from helpers.api import API, Client, new_password, unique_email
from helpers.tasks import IMPORT, produce, task_of, task_user, unique, wait_until

# shared/daemon_port.h: TASKBUS_<DAEMON>_METRICS_PORT, else TASKBUS_METRICS_PORT + offset.
OFFSETS = {"writer": 1, "relay": 2, "importer": 3, "notifier": 4, "webhooks": 5, "scheduler": 6,
           "reporter": 7, "analytics": 8, "activity": 9}
LAG_INTERVAL = int(os.environ.get("TASKBUS_LAG_INTERVAL_SECONDS") or 5)
OBSERVED = 6 * LAG_INTERVAL + 30  # several observer passes, on a loaded machine
WORK_TIMEOUT = 60
WRITER = "taskbus-writer"


# compose/lib/scale.sh: a scaled stack (TASKBUS_SCALE=1) runs several instances of each
# kind, instance n on its kind's port + METRICS_STRIDE * (n - 1).
SCALE_COUNTS = {"writer": 3}
SCALE_COUNT_DEFAULT = 2
METRICS_STRIDE = 20


def metrics_urls(daemon):
    """Every instance's /metrics: one on the normal stack, each of the kind's on a scaled one."""
    host = os.environ.get("TASKBUS_METRICS_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "*"):
        host = "127.0.0.1"
    port = os.environ.get(f"TASKBUS_{daemon.upper()}_METRICS_PORT")
    port = int(port) if port else int(stack_control.env("TASKBUS_METRICS_PORT")) + OFFSETS[daemon]
    count = SCALE_COUNTS.get(daemon, SCALE_COUNT_DEFAULT) if os.environ.get("TASKBUS_SCALE") == "1" else 1
    return [f"http://{host}:{port + METRICS_STRIDE * i}/metrics" for i in range(count)]


def scrape(daemon):
    """(types, samples) of the daemon's /metrics: {family: type} and
    {(sample name, frozenset(labels)): value}. On a scaled stack the counters and histograms
    are summed over the kind's instances (whichever did the work counted it); a gauge is the
    first instance's (each instance reports its own view, and a sum would count one backlog
    twice)."""
    types, samples = {}, {}
    for i, url in enumerate(metrics_urls(daemon)):
        r = requests.get(url, timeout=10)
        assert r.status_code == 200, f"{daemon} {url}: {r.status_code} {r.text[:300]}"
        assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
        for fam in text_string_to_metric_families(r.text):
            types[fam.name] = fam.type
            for s in fam.samples:
                key = (s.name, frozenset(s.labels.items()))
                if i == 0:
                    samples[key] = s.value
                elif fam.type in ("counter", "histogram"):
                    samples[key] = samples.get(key, 0.0) + s.value
    return types, samples


def value(samples, name, **labels):
    """The sample name{labels} (exactly those labels), or None when absent."""
    return samples.get((name, frozenset(labels.items())))


def total(samples, name, **labels):
    """The sum of every sample name{...} whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def current(daemon, name, **labels):
    return value(scrape(daemon)[1], name, **labels) or 0.0


def wait_counter(daemon, name, above, timeout=WORK_TIMEOUT, **labels):
    """Waits until daemon's name{labels} exceeds `above`; returns the value."""
    def grown():
        v = value(scrape(daemon)[1], name, **labels)
        return v if v is not None and v > above else None

    return wait_until(grown, timeout, f"{daemon}'s {name}{labels} above {above}", interval=0.3)


def writer_lag():
    """The scheduler's taskbus_consumer_lag of the writer's group, summed over partitions,
    and how many partitions it reports."""
    _, samples = scrape("scheduler")
    parts = [(ls, v) for (n, ls), v in samples.items()
             if n == "taskbus_consumer_lag" and ("group", WRITER) in ls]
    return sum(v for _, v in parts), len(parts)


def test_every_family_has_its_type_and_passes_promtool():
    # The families exist from each daemon's start (counters at 0), whatever work came yet.
    want = {
        "writer": {"taskbus_consumer_records": "counter", "taskbus_consumer_batches": "counter",
                   "taskbus_dlq_records": "counter"},
        "notifier": {"taskbus_emails": "counter", "taskbus_dlq_records": "counter",
                     "taskbus_consumer_records": "counter"},
        "reporter": {"taskbus_reports_built": "counter", "taskbus_consumer_batches": "counter"},
        "importer": {"taskbus_import_lines": "counter"},
        "webhooks": {"taskbus_consumer_records": "counter"},
        "analytics": {"taskbus_consumer_records": "counter"},
        "activity": {"taskbus_consumer_records": "counter"},
        "scheduler": {"taskbus_reminders_fired": "counter"},
    }
    for daemon, families in want.items():
        types, _ = scrape(daemon)
        for fam, kind in families.items():
            assert types.get(fam) == kind, f"{daemon}: {fam} is {types.get(fam)}, want {kind}"
    # The observer's gauges appear after its first pass.
    def observed():
        types, _ = scrape("scheduler")
        return all(types.get(f) == "gauge" for f in ("taskbus_consumer_lag", "taskbus_outbox_backlog",
                                                      "taskbus_outbox_oldest_age_seconds",
                                                      "taskbus_dlq_pending"))
    wait_until(observed, OBSERVED, "the scheduler's gauges", interval=0.5)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (compose/lib/packages.sh installs it)"
    for daemon in OFFSETS:
        for url in metrics_urls(daemon):
            text = requests.get(url, timeout=10).text
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=60)
            assert p.returncode == 0, f"promtool check metrics of {daemon} ({url}): {p.stdout} {p.stderr}"


def test_observer_reports_every_group_and_partition():
    groups = ["taskbus-writer", "taskbus-notifier", "taskbus-reporter", "taskbus-webhooks",
              "taskbus-analytics", "taskbus-activity"]

    def all_groups():
        _, samples = scrape("scheduler")
        seen = {}
        for (n, ls), v in samples.items():
            if n == "taskbus_consumer_lag":
                d = dict(ls)
                assert set(d) == {"group", "topic", "partition"}, d
                assert v >= 0, (d, v)
                seen.setdefault(d["group"], set()).add(int(d["partition"]))
        return seen if all(g in seen for g in groups) else None

    seen = wait_until(all_groups, OBSERVED, "a lag for every group", interval=0.5)
    for g in groups:
        assert seen[g] == set(range(len(seen[g]))), f"{g}: partitions {sorted(seen[g])}"


def test_a_create_counts_a_writer_batch_and_its_records(api_url):
    api = task_user(api_url, "metrics-writer")
    records = current("writer", "taskbus_consumer_records_total", group=WRITER, result="ok")
    batches = current("writer", "taskbus_consumer_batches_total", group=WRITER, result="ok")
    _, s = scrape("writer")
    durations = value(s, "taskbus_consumer_batch_duration_seconds_count", group=WRITER) or 0.0
    api.create_applied({"title": unique("metrics")})
    wait_counter("writer", "taskbus_consumer_records_total", records, group=WRITER, result="ok")
    wait_counter("writer", "taskbus_consumer_batches_total", batches, group=WRITER, result="ok")
    wait_counter("writer", "taskbus_consumer_batch_duration_seconds_count", durations, group=WRITER)
    # The histogram's buckets are cumulative and end at the count.
    _, s = scrape("writer")
    count = value(s, "taskbus_consumer_batch_duration_seconds_count", group=WRITER)
    assert value(s, "taskbus_consumer_batch_duration_seconds_bucket", group=WRITER, le="+Inf") == count


def test_a_report_counts_on_the_reporter(api_url):
    api = task_user(api_url, "metrics-report")
    api.create_applied({"title": unique("in-report")})
    before = current("reporter", "taskbus_reports_built_total", format="csv", result="ok")
    r = api.req("POST", f"{API}/reports", json={"format": "csv"})
    assert r.status_code == 202, f"report: {r.status_code} {r.text[:300]}"
    wait_counter("reporter", "taskbus_reports_built_total", before, format="csv", result="ok")


def test_an_import_counts_its_lines_on_the_importer(api_url):
    api = task_user(api_url, "metrics-import")
    before = current("importer", "taskbus_import_lines_total", result="produced")
    tag = unique("imp")
    items = [{"title": f"metrics import {i}", "tags": [tag]} for i in range(5)]
    r = api.req("POST", IMPORT, data=json.dumps(items), headers={"Content-Type": "application/json"})
    assert r.status_code == 202, f"import: {r.status_code} {r.text[:300]}"
    wait_counter("importer", "taskbus_import_lines_total", before + 4, result="produced")


def test_a_mail_sent_counts_on_the_notifier(api_url):
    # Registration sends its confirmation link through the notifier.
    before = current("notifier", "taskbus_emails_total", result="sent")
    r = Client(api_url).register(unique_email("metrics-mail"), new_password())
    assert r.status_code == 202, r.text
    wait_counter("notifier", "taskbus_emails_total", before, result="sent")


def test_a_webhook_delivery_counts_on_the_webhooks_daemon(api_url):
    import http.server
    import threading

    got = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            got.set()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = task_user(api_url, "metrics-hook")
        hook = api.req("POST", f"{API}/webhooks",
                       json={"url": f"http://127.0.0.1:{server.server_address[1]}/hook",
                             "event_types": ["taskbus.task.*"]})
        assert hook.status_code == 201, f"register: {hook.status_code} {hook.text[:300]}"
        before = current("webhooks", "taskbus_webhook_deliveries_total", result="delivered", attempt="1")
        api.create_applied({"title": unique("hooked")})
        wait_counter("webhooks", "taskbus_webhook_deliveries_total", before, result="delivered",
                     attempt="1")
        assert got.is_set()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.single_stack_only
def test_outbox_backlog_rises_while_the_relay_is_stopped_and_falls_after(api_url):
    stack_control.stop("relay")
    try:
        for _ in range(3):
            r = Client(api_url).register(unique_email("metrics-outbox"), new_password())
            assert r.status_code == 202, r.text

        def waiting():
            _, s = scrape("scheduler")
            backlog = value(s, "taskbus_outbox_backlog")
            age = value(s, "taskbus_outbox_oldest_age_seconds")
            return (backlog, age) if backlog is not None and backlog >= 3 and age > 0 else None

        wait_until(waiting, OBSERVED, "the outbox backlog of the stopped relay", interval=0.5)
    finally:
        stack_control.start("relay")

    def drained():
        _, s = scrape("scheduler")
        return value(s, "taskbus_outbox_backlog") == 0 and value(s, "taskbus_outbox_oldest_age_seconds") == 0

    wait_until(drained, OBSERVED, "the outbox drained after the relay came back", interval=0.5)


N_CREATES = 20


@pytest.mark.single_stack_only
def test_writer_lag_rises_while_the_writer_is_stopped_and_falls_after(api_url):
    api = task_user(api_url, "metrics-lag")
    # The writer is caught up first (other tests' work done), so what follows is ours.
    wait_until(lambda: writer_lag()[0] == 0 or None, OBSERVED, "the writer caught up", interval=0.5)
    stack_control.stop("writer")
    commands = []
    try:
        for i in range(N_CREATES):
            r = api.create({"title": f"lag {i} {unique('l')}"})
            assert r.status_code == 202, f"create with the writer stopped: {r.status_code} {r.text[:300]}"
            commands.append((r.json()["command_id"], task_of(r.json())["id"]))
        lag = wait_until(lambda: writer_lag()[0] >= N_CREATES and writer_lag(), OBSERVED,
                         f"the writer's lag at least {N_CREATES}", interval=0.5)
        assert lag[1] >= 1, lag
        # Nothing applies while it is stopped.
        for cid, _ in commands[:3]:
            assert api.command(cid).json().get("status") == "pending"
    finally:
        stack_control.start("writer")
    wait_until(lambda: writer_lag()[0] == 0 or None, OBSERVED, "the writer's lag back to 0", interval=0.5)
    for cid, tid in commands:
        api.wait_command(cid, timeout=WORK_TIMEOUT)
        assert api.get(tid).status_code == 200, tid


def test_a_dead_letter_counts_on_the_writer_and_is_pending_on_the_scheduler(api_url):
    api = task_user(api_url, "metrics-dlq")
    dlq = "task-commands.dlq"
    sent = current("writer", "taskbus_dlq_records_total", topic=dlq)
    pending = current("scheduler", "taskbus_dlq_pending", topic=dlq)
    produce("task-commands", api.id.encode(), b"\x00not a command " + unique("p").encode(),
            headers=[("request_id", b"it-metrics-dlq")])
    wait_counter("writer", "taskbus_dlq_records_total", sent, topic=dlq)
    wait_counter("scheduler", "taskbus_dlq_pending", pending, timeout=OBSERVED, topic=dlq)
