"""The event schemas evolve compatibly (issue 12, docs/event-schemas.md): schemas/events/
against the previous release's copies in schemas/events-released/<version>/, compared by
tools/schema_compat.py. Pure file checks (no stack): the current schemas pass; mutations of
temporary copies (a field dropped, a type narrowed or widened, a new required field, a
required field made optional, additionalProperties turned false, a type removed) fail and
name the field; compatible ones (a new optional field, a new `….v2` type, a new
description, additionalProperties false dropped) pass. The current schemas leave data open,
released folders are strictly older than the project version, and the documents carry the
project version. Each schema names itself: dataschema is an optional property whose
const is the schema's $id (what every event carries; the tests that read events check the
events against it)."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers.stack_control import repo_root

REPO = repo_root()
TOOL = os.path.join(REPO, "tools", "schema_compat.py")
CURRENT = os.path.join(REPO, "schemas", "events")
RELEASED_ROOT = os.path.join(REPO, "schemas", "events-released")


def _load_tool():
    spec = importlib.util.spec_from_file_location("schema_compat", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


sc = _load_tool()


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(taskbus VERSION (\d+\.\d+\.\d+)", f.read())
    assert m, "no project VERSION in CMakeLists.txt"
    return m.group(1)


def newest_released():
    return sc.newest_released_dir(RELEASED_ROOT)


# --- the repository as it is ------------------------------------------------------------


def test_current_schemas_are_compatible_with_the_previous_release():
    problems = sc.compare_dirs(newest_released(), CURRENT)
    assert problems == [], "incompatible event schema changes:\n" + "\n".join(problems)


def test_the_command_line_agrees():
    ok = subprocess.run([sys.executable, TOOL], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "is compatible with" in ok.stdout and newest_released() in ok.stdout, ok.stdout
    # Reversed (today's schemas taken as the release): dataschema was added since, so
    # going back drops it, which the tool reports with exit 1.
    back = subprocess.run([sys.executable, TOOL, CURRENT, newest_released()], capture_output=True,
                          text=True, timeout=60)
    assert back.returncode == 1, back.stdout + back.stderr
    assert "taskbus.task.created: dataschema: property removed" in back.stdout.splitlines(), back.stdout
    bad = subprocess.run([sys.executable, TOOL, "--help"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "RELEASED_DIR" in bad.stderr, bad.stderr


def test_retired_types_name_their_replacement():
    retired = sc.load_retired(RELEASED_ROOT)  # raises on a malformed file
    for type_, entry in retired.items():
        assert entry["replaced_by"] != type_, (type_, entry)


def test_released_folders_are_releases_of_this_project():
    versions = sc.released_versions(RELEASED_ROOT)
    assert versions, f"no released schema folder under {RELEASED_ROOT}"
    # Strictly older: a folder holds what a release shipped, and the version being built
    # has not shipped yet (its schemas are schemas/events/; the release step copies them).
    assert all(sc._version_key(v) < sc._version_key(project_version()) for v in versions), \
        (versions, project_version())
    # A released folder holds every type that release had: none is empty, and none holds
    # anything but schemas.
    for v in versions:
        names = os.listdir(os.path.join(RELEASED_ROOT, v))
        assert names and all(n.endswith(".json") for n in names), (v, names)


def test_nothing_under_schemas_events_is_a_released_copy():
    # The released copies live outside schemas/events/, so whatever lists that folder
    # (tests, the AsyncAPI document) sees only the current types.
    entries = os.listdir(CURRENT)
    assert all(e.endswith(".json") and os.path.isfile(os.path.join(CURRENT, e)) for e in entries), entries


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CURRENT) if n.endswith(".json")))
def test_each_schema_names_itself(name):
    with open(os.path.join(CURRENT, name), encoding="utf-8") as f:
        schema = json.load(f)
    type_ = name[: -len(".json")]
    assert schema["title"] == type_ and schema["properties"]["type"] == {"const": type_}, name
    ds = schema["properties"].get("dataschema")
    assert ds is not None, f"{name}: no dataschema property"
    assert ds["const"] == schema["$id"], (name, ds, schema["$id"])
    # Optional, so the events of releases before dataschema stay valid.
    assert "dataschema" not in schema["required"], name
    # A versioned URI, exactly what cloudevent_dataschema (shared/cloudevent.c) writes for
    # the type; the event tests compare what the daemons write with this $id.
    assert schema["$id"] == expected_dataschema(type_), (type_, schema["$id"])


def expected_dataschema(type_):
    """cloudevent_dataschema's rule: <base><family>/v<N>.json for a type ending in .v<N>
    (N 2..9999, no leading zero, a non-empty family), else <base><type>/v1.json."""
    m = re.fullmatch(r"(.+)\.v([1-9][0-9]{0,3})", type_)
    if m and int(m.group(2)) >= 2:
        return f"https://taskbus.example/schemas/events/{m.group(1)}/v{m.group(2)}.json"
    return f"https://taskbus.example/schemas/events/{type_}/v1.json"


def test_expected_dataschema_rule():
    base = "https://taskbus.example/schemas/events/"
    assert expected_dataschema("taskbus.task.created") == base + "taskbus.task.created/v1.json"
    assert expected_dataschema("taskbus.task.created.v2") == base + "taskbus.task.created/v2.json"
    assert expected_dataschema("taskbus.task.created.v1") == base + "taskbus.task.created.v1/v1.json"
    assert expected_dataschema("taskbus.x.v02") == base + "taskbus.x.v02/v1.json"


def test_every_id_is_unique():
    ids = {}
    for name in os.listdir(CURRENT):
        with open(os.path.join(CURRENT, name), encoding="utf-8") as f:
            ids.setdefault(json.load(f)["$id"], []).append(name)
    assert all(len(v) == 1 for v in ids.values()), ids


# --- mutations of temporary copies ------------------------------------------------------


@pytest.fixture
def dirs(tmp_path):
    """(released, current): copies of the newest released folder (in a folder of releases
    of its own, with no retired.json) and of schemas/events."""
    released = tmp_path / "events-released" / os.path.basename(newest_released())
    current = tmp_path / "current"
    shutil.copytree(newest_released(), released)
    shutil.copytree(CURRENT, current)
    return released, current


def edit(directory, type_, change):
    path = directory / f"{type_}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


def data_props(schema):
    return schema["properties"]["data"]["properties"]


def problems_of(dirs):
    return sc.compare_dirs(str(dirs[0]), str(dirs[1]))


def test_the_unmutated_copies_pass(dirs):
    assert problems_of(dirs) == []


def test_dropping_a_field_fails(dirs):
    def drop(s):
        del data_props(s)["priority"]
        s["properties"]["data"]["required"].remove("priority")

    edit(dirs[1], "taskbus.task.created", drop)
    assert problems_of(dirs) == ["taskbus.task.created: data.priority: property removed"]
    # The command line fails too, naming it.
    r = subprocess.run([sys.executable, TOOL, str(dirs[0]), str(dirs[1])], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "data.priority: property removed" in r.stdout, r.stdout + r.stderr


def test_dropping_an_optional_field_fails(dirs):
    edit(dirs[1], "taskbus.user.registered", lambda s: data_props(s).pop("verification_token_hash"))
    assert problems_of(dirs) == ["taskbus.user.registered: data.verification_token_hash: property removed"]


def test_dropping_an_envelope_attribute_fails(dirs):
    edit(dirs[1], "taskbus.task.deleted", lambda s: s["properties"].pop("traceparent"))
    assert problems_of(dirs) == ["taskbus.task.deleted: traceparent: property removed"]


def test_narrowing_a_type_fails(dirs):
    edit(dirs[1], "taskbus.task.updated", lambda s: data_props(s)["status"]["enum"].remove("in_progress"))
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.updated: data.status: enum changed"), p


def test_changing_a_type_fails(dirs):
    edit(dirs[1], "taskbus.task.created", lambda s: data_props(s)["version"].update(type="string"))
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.created: data.version: type changed from 'integer' to 'string'"), p


def test_widening_an_enum_fails(dirs):
    # Readers that handle every released value meet one they do not know.
    edit(dirs[1], "taskbus.task.created", lambda s: data_props(s)["priority"]["enum"].append("someday"))
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.created: data.priority: enum changed"), p


def test_reordering_an_enum_passes(dirs):
    edit(dirs[1], "taskbus.task.created", lambda s: data_props(s)["priority"]["enum"].reverse())
    assert problems_of(dirs) == []


def test_narrowing_a_nested_item_fails(dirs):
    edit(dirs[1], "taskbus.task.created", lambda s: data_props(s)["tags"]["items"].update(maxLength=20))
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.created: data.tags[]: maxLength changed from 50 to 20"), p


def test_making_a_nullable_field_non_null_fails(dirs):
    edit(dirs[1], "taskbus.task.created", lambda s: data_props(s)["due_at"]["anyOf"].pop())
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.created: data.due_at: anyOf changed"), p


def test_changing_a_format_inside_a_branch_fails(dirs):
    edit(dirs[1], "taskbus.task.created",
         lambda s: data_props(s)["completed_at"]["anyOf"][0].update(format="date"))
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.created: data.completed_at.anyOf[0]: format changed"), p


def test_a_changed_const_fails(dirs):
    edit(dirs[1], "taskbus.task.completed", lambda s: s["properties"]["source"].update(const="/taskbus/writer"))
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.task.completed: source: const changed"), p


def test_adding_a_required_field_fails(dirs):
    def add(s):
        data_props(s)["estimate_minutes"] = {"type": "integer", "minimum": 0}
        s["properties"]["data"]["required"].append("estimate_minutes")

    edit(dirs[1], "taskbus.task.created", add)
    assert problems_of(dirs) == ["taskbus.task.created: data.estimate_minutes: new property is required"]


def test_making_an_optional_field_required_fails(dirs):
    edit(dirs[1], "taskbus.user.registered",
         lambda s: s["properties"]["data"]["required"].append("verification_token_hash"))
    assert problems_of(dirs) == [
        "taskbus.user.registered: data.verification_token_hash: optional property became required"]


def test_making_a_required_field_optional_fails(dirs):
    # Readers rely on a required field being there.
    edit(dirs[1], "taskbus.task.deleted", lambda s: s["properties"]["data"]["required"].remove("command_id"))
    assert problems_of(dirs) == ["taskbus.task.deleted: data.command_id: required property became optional"]


def test_turning_additional_properties_false_fails(dirs):
    edit(dirs[1], "taskbus.task.created", lambda s: s.update(additionalProperties=False))
    assert problems_of(dirs) == ["taskbus.task.created: (envelope): additionalProperties turned false"]
    # In data too (where release 0.1.0 had it: today's schemas leave data open).
    edit(dirs[0], "taskbus.task.updated", lambda s: s["properties"]["data"].pop("additionalProperties", None))
    edit(dirs[1], "taskbus.task.updated", lambda s: s["properties"]["data"].update(additionalProperties=False))
    assert "taskbus.task.updated: data: additionalProperties turned false" in problems_of(dirs)


def test_dropping_additional_properties_false_passes(dirs):
    # false -> absent or true widens what readers accept: compatible (the open content model
    # the rule of new optional fields needs).
    def strict(s):
        s["properties"]["data"]["additionalProperties"] = False

    edit(dirs[0], "taskbus.task.created", strict)
    edit(dirs[1], "taskbus.task.created", lambda s: s["properties"]["data"].pop("additionalProperties", None))
    edit(dirs[0], "taskbus.user.registered", strict)
    edit(dirs[1], "taskbus.user.registered", lambda s: s["properties"]["data"].update(additionalProperties=True))
    assert problems_of(dirs) == []


def test_current_event_schemas_leave_data_open():
    # Readers that validate a newer event with an older document at the same dataschema
    # URI must not reject its new optional fields (docs/event-schemas.md).
    for name in sorted(os.listdir(CURRENT)):
        with open(os.path.join(CURRENT, name), encoding="utf-8") as f:
            data = json.load(f)["properties"]["data"]
        assert data.get("additionalProperties", True) is not False, name


def test_removing_a_type_fails(dirs):
    (dirs[1] / "taskbus.webhook.ping.json").unlink()
    [p] = problems_of(dirs)
    assert p.startswith("taskbus.webhook.ping: type removed"), p


def test_adding_an_optional_field_passes(dirs):
    # Where the released document left the object open (today's data; 0.1.0's was closed).
    edit(dirs[0], "taskbus.task.created", lambda s: s["properties"]["data"].pop("additionalProperties", None))
    edit(dirs[1], "taskbus.task.created",
         lambda s: data_props(s).update(estimate_minutes={"type": "integer", "minimum": 0}))
    edit(dirs[1], "taskbus.task.deleted",
         lambda s: s["properties"].update(partitionkey={"type": "string"}))
    assert problems_of(dirs) == []


def test_adding_a_field_where_the_release_closed_the_object_fails(dirs):
    # Release 0.1.0 closed data: its readers reject any field added there.
    edit(dirs[0], "taskbus.task.created", lambda s: s["properties"]["data"].update(additionalProperties=False))
    edit(dirs[1], "taskbus.task.created",
         lambda s: data_props(s).update(estimate_minutes={"type": "integer", "minimum": 0}))
    assert problems_of(dirs) == ["taskbus.task.created: data.estimate_minutes: new property where the "
                                 "released schema allowed none (additionalProperties false)"]


def test_changing_descriptions_passes(dirs):
    def describe(s):
        s["description"] = "reworded"
        data_props(s)["title"]["description"] = "the title, as typed"

    edit(dirs[1], "taskbus.task.created", describe)
    assert problems_of(dirs) == []


def test_a_new_v2_type_passes(dirs):
    # A breaking change is a new type published alongside the old one: a new file.
    v2 = _v2_of_created()
    del v2["properties"]["data"]["properties"]["priority"]
    v2["properties"]["data"]["required"].remove("priority")
    (dirs[1] / "taskbus.task.created.v2.json").write_text(json.dumps(v2, indent=2) + "\n", encoding="utf-8")
    assert problems_of(dirs) == []


def test_every_problem_is_reported(dirs):
    edit(dirs[1], "taskbus.task.created", lambda s: data_props(s).pop("tags"))
    edit(dirs[1], "taskbus.user.password_changed", lambda s: data_props(s).pop("changed_at"))
    assert problems_of(dirs) == ["taskbus.task.created: data.tags: property removed",
                                 "taskbus.user.password_changed: data.changed_at: property removed"]


# --- retiring a type ----------------------------------------------------------------------


def _v2_of_created():
    with open(os.path.join(CURRENT, "taskbus.task.created.json"), encoding="utf-8") as f:
        v2 = json.load(f)
    v2["$id"] = v2["properties"]["dataschema"]["const"] = \
        "https://taskbus.example/schemas/events/taskbus.task.created/v2.json"
    v2["title"] = "taskbus.task.created.v2"
    v2["properties"]["type"] = {"const": "taskbus.task.created.v2"}
    return v2


def _releases_with_both(root, versions):
    """Release folders under root holding today's schemas plus taskbus.task.created.v2."""
    for v in versions:
        shutil.copytree(CURRENT, root / v)
        (root / v / "taskbus.task.created.v2.json").write_text(json.dumps(_v2_of_created()), encoding="utf-8")


def _current_without_created(tmp_path):
    current = tmp_path / "current"
    shutil.copytree(CURRENT, current)
    (current / "taskbus.task.created.json").unlink()
    (current / "taskbus.task.created.v2.json").write_text(json.dumps(_v2_of_created()), encoding="utf-8")
    return current


RETIRED = {"taskbus.task.created": {"replaced_by": "taskbus.task.created.v2", "announced_in": "0.2.0"}}


def test_a_retired_type_may_go_after_two_releases_beside_its_replacement(tmp_path):
    root = tmp_path / "events-released"
    _releases_with_both(root, ["0.2.0", "0.3.0"])
    (root / "retired.json").write_text(json.dumps(RETIRED), encoding="utf-8")
    current = _current_without_created(tmp_path)
    assert sc.compare_dirs(str(root / "0.3.0"), str(current)) == []


def test_a_retired_type_may_not_go_after_one_release(tmp_path):
    root = tmp_path / "events-released"
    _releases_with_both(root, ["0.2.0"])
    (root / "retired.json").write_text(json.dumps(RETIRED), encoding="utf-8")
    current = _current_without_created(tmp_path)
    [p] = sc.compare_dirs(str(root / "0.2.0"), str(current))
    assert p.startswith("taskbus.task.created: type removed after 1 release(s) beside taskbus.task.created.v2"), p


def test_a_type_not_listed_as_retired_may_not_go(tmp_path):
    root = tmp_path / "events-released"
    _releases_with_both(root, ["0.2.0", "0.3.0"])
    current = _current_without_created(tmp_path)
    [p] = sc.compare_dirs(str(root / "0.3.0"), str(current))
    assert p.startswith("taskbus.task.created: type removed (a released type stays"), p


def test_a_retired_type_needs_its_replacement_in_the_current_schemas(tmp_path):
    root = tmp_path / "events-released"
    _releases_with_both(root, ["0.2.0", "0.3.0"])
    (root / "retired.json").write_text(json.dumps(RETIRED), encoding="utf-8")
    current = _current_without_created(tmp_path)
    (current / "taskbus.task.created.v2.json").unlink()
    problems = sc.compare_dirs(str(root / "0.3.0"), str(current))
    assert "taskbus.task.created: type removed, but its replacement taskbus.task.created.v2 is not in the " \
           "current schemas" in problems, problems
    assert any(p.startswith("taskbus.task.created.v2: type removed (") for p in problems), problems


def test_documents_carry_the_project_version():
    # One version for the release: CMake's project version, which --version prints, is the
    # OpenAPI and AsyncAPI documents' info.version and the chart's appVersion.
    import yaml
    want = project_version()
    for doc in ("openapi.json", "asyncapi.json"):
        with open(os.path.join(REPO, "schemas", doc), encoding="utf-8") as f:
            assert json.load(f)["info"]["version"] == want, doc
    with open(os.path.join(REPO, "helm", "taskbus", "Chart.yaml"), encoding="utf-8") as f:
        assert str(yaml.safe_load(f)["appVersion"]) == want
