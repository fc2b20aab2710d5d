"""schemas/asyncapi.json: the event stream's AsyncAPI 3.0 document, served and rendered.

Owns: the document validates with the real AsyncAPI parser (@asyncapi/parser, pinned in
tools/asyncapi/package-lock.json, run by node through tools/asyncapi/check.js), as a file
and as the API serves it at /asyncapi.json (bundled: self-contained, parsed from its text
alone); every topic of shared/bus.h is a channel; every event type of schemas/events/ is a
message (so a new event type without documentation fails here); the DLQ headers the
sources write are the documented ones; the payload schemas use only keywords that mean
the same in JSON Schema draft-07 (the schemaFormat AsyncAPI tools read) and 2020-12
(what they declare); tools/docs/render writes the HTML naming every channel.
Rules: node and tools/asyncapi/node_modules come from compose/local up (tests/run): a
missing one fails, never skips.
"""

import glob
import json
import os
import re
import subprocess

import pytest
import requests

from helpers.api import assert_problem, fresh_ip

# Event types delivered somewhere other than Kafka (their schema says where).
OFF_KAFKA = {"taskbus.webhook.ping"}
# Keywords of JSON Schema 2020-12 (or 2019-09) that draft-07 does not know.
NOT_DRAFT_07 = {"prefixItems", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
                "unevaluatedProperties", "unevaluatedItems", "dependentSchemas", "dependentRequired",
                "$anchor", "$vocabulary", "minContains", "maxContains"}


def node_check(repo, source):
    script = os.path.join(repo, "tools", "asyncapi", "check.js")
    assert os.path.isdir(os.path.join(repo, "tools", "asyncapi", "node_modules", "@asyncapi", "parser")), \
        "tools/asyncapi/node_modules is not installed (compose/local up runs npm ci)"
    p = subprocess.run(["node", script, source], capture_output=True, text=True, timeout=120)
    assert p.stdout, f"check.js printed nothing (exit {p.returncode}): {p.stderr[-2000:]}"
    return p.returncode, json.loads(p.stdout)


@pytest.fixture(scope="module")
def doc_path(repo):
    return os.path.join(repo, "schemas", "asyncapi.json")


@pytest.fixture(scope="module")
def checked(repo, doc_path):
    rc, out = node_check(repo, doc_path)
    assert rc == 0 and out["valid"], json.dumps(out["errors"], indent=1)[:4000]
    return out


def bus_topics(repo):
    """The names of BUS_TOPICS (shared/bus.c), resolved through the macros of shared/bus.h."""
    header = open(os.path.join(repo, "shared", "bus.h")).read()
    macros = {}
    for name, body in re.findall(r"^#define\s+(\w+)\s+(.+?)\s*$", header, re.M):
        macros[name] = body

    def value(name):
        parts = re.findall(r'"[^"]*"|\w+', macros[name])
        return "".join(p[1:-1] if p.startswith('"') else value(p) for p in parts)

    source = open(os.path.join(repo, "shared", "bus.c")).read()
    array = re.search(r"BUS_TOPICS\[\]\s*=\s*\{(.*?)\};", source, re.S).group(1)
    names = [n for n in re.findall(r"\w+", array) if n != "NULL"]
    assert names, "no BUS_TOPICS found in shared/bus.c"
    return {value(n) for n in names}


def event_types(repo):
    types = {}
    for path in sorted(glob.glob(os.path.join(repo, "schemas", "events", "*.json"))):
        schema = json.load(open(path))
        types[schema["properties"]["type"]["const"]] = os.path.relpath(path, os.path.join(repo, "schemas"))
    assert len(types) >= 7, types
    return types


def test_the_repo_document_validates(checked, doc_path):
    assert json.load(open(doc_path))["asyncapi"] == "3.0.0"
    assert checked["errors"] == []


def test_a_broken_document_fails_the_parser(repo, doc_path, tmp_path):
    """The check can fail: a payload with a wrong type and a dangling file reference."""
    doc = json.load(open(doc_path))
    doc["components"]["schemas"]["taskbus.report.requested"]["type"] = 5
    bad = tmp_path / "schemas" / "asyncapi.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(doc))
    rc, out = node_check(repo, str(bad))  # its event files are missing there too
    assert rc == 1 and not out["valid"] and out["errors"], out


def test_every_bus_topic_is_a_channel(repo, checked):
    addresses = {c["address"] for c in checked["channels"]}
    assert addresses == bus_topics(repo), f"channels {sorted(addresses)} vs bus.h {sorted(bus_topics(repo))}"
    for c in checked["channels"]:
        assert c["messages"], f"channel {c['address']} has no message"
        actions = {o["action"] for o in checked["operations"] if c["address"] in o["channel"]}
        assert actions == {"send", "receive"}, f"{c['address']}: operations {actions}"


def test_every_event_type_is_a_documented_message(repo, checked, doc_path):
    doc = json.load(open(doc_path))
    on_channels = {m for c in checked["channels"] for m in c["messages"]}
    for etype, rel in event_types(repo).items():
        assert etype in checked["messages"], f"schemas/{rel}: event type {etype} is no AsyncAPI message"
        # The message's payload is the schema file itself, not a copy.
        assert doc["components"]["schemas"].get(etype) == {"$ref": rel}, f"{etype} does not $ref {rel}"
        if etype not in OFF_KAFKA:
            assert etype in on_channels, f"{etype} is on no channel"


def test_keys_headers_and_retention_are_documented(doc_path):
    doc = json.load(open(doc_path))
    for cid, ch in doc["channels"].items():
        kafka = ch["bindings"]["kafka"]
        conf = kafka["topicConfiguration"]
        assert kafka["partitions"] >= 1 and kafka["replicas"] >= 1, cid
        assert "retention.ms" in conf and conf["cleanup.policy"], f"{cid}: no retention"
        for ref in ch["messages"].values():
            msg = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            key_type = msg["bindings"]["kafka"]["key"]["type"]
            # A dead letter keeps the original key, which may be missing (null) or any bytes.
            expected = ["string", "null"] if ch["address"].endswith(".dlq") else "string"
            assert key_type == expected, f"{cid}: {msg['name']} key type {key_type!r}, expected {expected!r}"
    state = doc["channels"]["taskState"]["bindings"]["kafka"]["topicConfiguration"]
    assert state["cleanup.policy"] == ["compact"] and "delete.retention.ms" in state
    events = doc["channels"]["taskEvents"]["bindings"]["kafka"]["topicConfiguration"]
    assert events["retention.ms"] == -1
    env = doc["components"]["schemas"]["cloudEventEnvelope"]["properties"]
    assert {"id", "dataschema", "traceparent"} <= set(env)


@pytest.mark.parametrize("source,message", [
    ("workers/writer/writer_dlq.c", "taskCommandDeadLetter"),
    ("workers/notifier/notifier_send.c", "notificationDeadLetter"),
])
def test_dead_letter_headers_are_the_ones_written(repo, doc_path, source, message):
    text = open(os.path.join(repo, source)).read()
    written = set(re.findall(r'\{"(dlq_\w+)"', text)) | set(re.findall(r'\(kafka_header\)\{"(\w+)"', text))
    assert {"dlq_reason", "dlq_topic", "dlq_partition", "dlq_offset"} <= written, written
    doc = json.load(open(doc_path))
    documented = set(doc["components"]["messages"][message]["headers"]["properties"])
    assert documented == written, f"{source} writes {sorted(written)}, documented {sorted(documented)}"


def test_payload_schemas_mean_the_same_in_draft_07(repo):
    def walk(node, where):
        if isinstance(node, dict):
            bad = NOT_DRAFT_07 & set(node)
            assert not bad, f"{where}: {sorted(bad)} is not draft-07 (AsyncAPI tools would misread it)"
            for k, v in node.items():
                if k not in ("properties", "$defs"):
                    walk(v, f"{where}/{k}")
                else:
                    for name, sub in v.items():
                        walk(sub, f"{where}/{k}/{name}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    files = []
    for d in ("events", "commands", "notifications"):
        files += glob.glob(os.path.join(repo, "schemas", d, "*.json"))
    assert len(files) >= 9, files
    for path in files:
        walk(json.load(open(path)), os.path.relpath(path, repo))


def test_the_served_document_is_bundled_and_validates(repo, api_url, checked):
    r = requests.get(f"{api_url}/asyncapi.json", headers={"X-Forwarded-For": fresh_ip()}, timeout=10)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    served = r.json()
    external = []

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                external.append(f"{where}: {ref}")
            assert "$id" not in node or where == "", f"{where} keeps a $id"
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(served, "")
    assert not external, f"the served document still references files: {external[:5]}"
    # The inlined command schema's own reference points into the bundle.
    cmd = served["components"]["schemas"]["taskCommand"]
    assert cmd["allOf"][0]["then"]["properties"]["task"]["$ref"] == "#/components/schemas/taskCommand/$defs/task"
    rc, out = node_check(repo, f"{api_url}/asyncapi.json")
    assert rc == 0 and out["valid"], json.dumps(out["errors"], indent=1)[:4000]
    assert out["channels"] == checked["channels"] and out["messages"] == checked["messages"]


def test_wrong_methods_are_problems(api_url):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = requests.request(method, f"{api_url}/asyncapi.json", headers={"X-Forwarded-For": fresh_ip()},
                             timeout=10)
        assert_problem(r, 405)
        assert r.headers["Allow"].startswith("GET"), r.headers


def test_the_html_names_every_channel(repo, checked, tmp_path):
    out = tmp_path / "docs" / "asyncapi.html"
    p = subprocess.run([os.path.join(repo, "tools", "docs", "render"), str(out)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    for c in checked["channels"]:
        assert f'<h2>{c["address"]}</h2>' in html, f"the HTML lacks channel {c['address']}"
        for m in c["messages"]:
            assert f'id="message-{m}"' in html, f"the HTML lacks message {m}"
    for etype in event_types(repo):
        assert f'id="message-{etype}"' in html
