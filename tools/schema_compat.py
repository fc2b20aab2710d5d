#!/usr/bin/env python3
"""schema_compat.py: is schemas/events/ a compatible evolution of a released set?

Owns: the compatibility rules of the event schemas (docs/event-schemas.md), as code. It
compares every schema of a released folder (schemas/events-released/<version>/) with the
schema of the same type in the current folder (schemas/events/) and lists each
incompatible change, naming the type and the field (a dotted path from the envelope:
`data.tags[]`, `data.due_at.anyOf[1]`).

Rules (the stream is READ by consumers that may also replay everything ever published):
- incompatible: a type removed (its file gone), unless it is retired: listed in
  schemas/events-released/retired.json with the type that replaces it, which is in the
  current folder and was shipped beside it by at least RETIRE_AFTER_RELEASES releases
  (the released folders that hold both); a property removed; a property that was
  required becoming optional (readers rely on it) or an optional one becoming required
  (old events lack it); a new required property; any change of a validating keyword
  (type, const, enum, format, pattern, minimum, maxLength, ...; widening breaks readers
  that handle the old set of values, narrowing breaks the replay of old events);
  additionalProperties turned false; a changed number of anyOf/oneOf/allOf branches.
- compatible: a new type (a new file, e.g. `taskbus.task.created.v2.json`); a new
  optional property (consumers ignore fields they do not know; the schemas leave data
  open, so an older document at the same dataschema URI accepts the new events), except
  inside an object the released document closed (additionalProperties false, as release
  0.1.0's data was): its readers would reject the field;
  additionalProperties false removed (or made true): it widens what readers accept,
  which the previous rule already asks them to tolerate; a changed annotation (title,
  description, $comment, examples, $id, $schema, deprecated).
A breaking change is therefore a new type published alongside the old one.

Usage: tools/schema_compat.py [RELEASED_DIR [CURRENT_DIR]]; defaults: the newest folder of
schemas/events-released/ and schemas/events/. Exit 0 when compatible, 1 otherwise (each
problem on its own line), 2 on bad arguments. Only the standard library.
"""

import json
import os
import re
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CURRENT_DIR = os.path.join(REPO, "schemas", "events")
RELEASED_ROOT = os.path.join(REPO, "schemas", "events-released")

# How many releases must ship a replacement beside the type it replaces before the old type
# may go (docs/event-schemas.md, "Retiring a type").
RETIRE_AFTER_RELEASES = 2

# Keywords that describe without constraining: a change to them is always compatible.
ANNOTATIONS = {"title", "description", "$comment", "examples", "default", "deprecated", "readOnly",
               "writeOnly", "$id", "$schema"}
# Keywords compared structurally below; every other keyword must stay equal.
STRUCTURAL = {"properties", "required", "additionalProperties", "items", "anyOf", "oneOf", "allOf"}
# Keywords whose value is a set: their order means nothing.
UNORDERED = {"enum", "type"}


def _as_set(v):
    return frozenset(json.dumps(x, sort_keys=True) for x in (v if isinstance(v, list) else [v]))


def _same(key, a, b):
    if key in UNORDERED:
        return _as_set(a) == _as_set(b)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _join(path, name):
    return f"{path}.{name}" if path else name


def compare_schema(old, new, path=""):
    """The incompatible changes from schema old to schema new, as "<path>: <what>" lines."""
    where = path or "(envelope)"
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [f"{where}: schema changed from {old!r} to {new!r}"]
    problems = []
    # Validating keywords other than the structural ones: equal, or it is a break.
    for key in sorted((set(old) | set(new)) - ANNOTATIONS - STRUCTURAL):
        if key not in new:
            problems.append(f"{where}: {key} {old[key]!r} removed")
        elif key not in old:
            problems.append(f"{where}: {key} {new[key]!r} added")
        elif not _same(key, old[key], new[key]):
            problems.append(f"{where}: {key} changed from {old[key]!r} to {new[key]!r}")
    # Properties: none removed, required-ness kept, new ones optional.
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for name in old_props:
        field = _join(path, name)
        if name not in new_props:
            problems.append(f"{field}: property removed")
            continue
        if name in old_req and name not in new_req:
            problems.append(f"{field}: required property became optional")
        elif name not in old_req and name in new_req:
            problems.append(f"{field}: optional property became required")
        problems += compare_schema(old_props[name], new_props[name], field)
    for name in new_props:
        if name not in old_props and name in new_req:
            problems.append(f"{_join(path, name)}: new property is required")
        elif name not in old_props and old.get("additionalProperties", True) is False:
            # A reader validating with the released document rejects the new field.
            problems.append(f"{_join(path, name)}: new property where the released schema "
                            "allowed none (additionalProperties false)")
    for name in sorted((new_req - old_req) - set(new_props) - set(old_props)):
        problems.append(f"{_join(path, name)}: new required property")
    # additionalProperties: never newly false; a schema in both is compared.
    old_ap, new_ap = old.get("additionalProperties", True), new.get("additionalProperties", True)
    if new_ap is False and old_ap is not False:
        problems.append(f"{where}: additionalProperties turned false")
    elif isinstance(old_ap, dict) and isinstance(new_ap, dict):
        problems += compare_schema(old_ap, new_ap, f"{path}{{*}}")
    elif isinstance(old_ap, dict) and new_ap is not True:
        problems.append(f"{where}: additionalProperties changed from a schema to {new_ap!r}")
    # Array items.
    if "items" in old or "items" in new:
        if "items" not in new or "items" not in old:
            problems.append(f"{where}: items {'removed' if 'items' in old else 'added'}")
        else:
            problems += compare_schema(old["items"], new["items"], f"{path}[]")
    # Combinators: the same branches, in the same order, each compatible.
    for key in ("anyOf", "oneOf", "allOf"):
        a, b = old.get(key), new.get(key)
        if a is None and b is None:
            continue
        if a is None or b is None or len(a) != len(b):
            problems.append(f"{where}: {key} changed from {a!r} to {b!r}")
            continue
        for i, (x, y) in enumerate(zip(a, b)):
            problems += compare_schema(x, y, f"{path}.{key}[{i}]" if path else f"{key}[{i}]")
    return problems


def load_dir(directory):
    """{type: schema} of the *.json files of a directory (the type is the file name)."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                out[name[: -len(".json")]] = json.load(f)
    return out


def load_retired(root):
    """{type: {"replaced_by": type, ...}} of root/retired.json ({} when there is none)."""
    path = os.path.join(root, "retired.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        retired = json.load(f)
    if not isinstance(retired, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("replaced_by"), str) for v in retired.values()):
        raise ValueError(f"{path}: want {{type: {{\"replaced_by\": type, ...}}}}")
    return retired


def _removal_problem(type_, current_types, root):
    """Why removing type_ is incompatible, or None when it is a documented retirement."""
    entry = load_retired(root).get(type_)
    if entry is None:
        return (f"{type_}: type removed (a released type stays until it is retired; "
                "see docs/event-schemas.md)")
    repl = entry["replaced_by"]
    if repl not in current_types:
        return f"{type_}: type removed, but its replacement {repl} is not in the current schemas"
    together = [v for v in released_versions(root)
                if all(os.path.isfile(os.path.join(root, v, f"{t}.json")) for t in (type_, repl))]
    if len(together) < RETIRE_AFTER_RELEASES:
        return (f"{type_}: type removed after {len(together)} release(s) beside {repl} "
                f"({', '.join(together) or 'none'}); it must ship beside it in {RETIRE_AFTER_RELEASES}")
    return None


def compare_dirs(released_dir, current_dir=CURRENT_DIR, released_root=None):
    """Every incompatible change from released_dir to current_dir, "<type>: <path>: <what>".
    released_root (default: released_dir's parent) holds the release folders and
    retired.json, for the removal of retired types."""
    root = released_root or os.path.dirname(os.path.abspath(released_dir))
    old, new = load_dir(released_dir), load_dir(current_dir)
    problems = []
    for type_, schema in old.items():
        if type_ not in new:
            why = _removal_problem(type_, new, root)
            if why is not None:
                problems.append(why)
            continue
        problems += [f"{type_}: {p}" for p in compare_schema(schema, new[type_])]
    return problems


def _version_key(name):
    return tuple(int(p) for p in name.split("."))


def released_versions(root=RELEASED_ROOT):
    """The release folders under root (names like 0.1.0), oldest first."""
    names = [n for n in os.listdir(root)
             if re.fullmatch(r"\d+\.\d+\.\d+", n) and os.path.isdir(os.path.join(root, n))]
    return sorted(names, key=_version_key)


def newest_released_dir(root=RELEASED_ROOT):
    versions = released_versions(root)
    if not versions:
        raise FileNotFoundError(f"no released schema folder under {root}")
    return os.path.join(root, versions[-1])


def main(argv):
    if len(argv) > 2 or any(a.startswith("-") for a in argv):
        print(__doc__.split("Usage: ")[1].split("\n\n")[0], file=sys.stderr)
        return 2
    released = argv[0] if argv else newest_released_dir()
    current = argv[1] if len(argv) > 1 else CURRENT_DIR
    for d in (released, current):
        if not os.path.isdir(d):
            print(f"schema_compat: {d} is not a directory", file=sys.stderr)
            return 2
    problems = compare_dirs(released, current)
    for p in problems:
        print(p)
    if problems:
        print(f"schema_compat: {len(problems)} incompatible change(s) from {released} to {current}",
              file=sys.stderr)
        return 1
    print(f"schema_compat: {current} is compatible with {released}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
