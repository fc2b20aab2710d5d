"""Exactness of the cache: once an update is reported applied (Prefer: wait -> 200), an
immediate GET by id and an immediate list never show the older version or title, over
200 repetitions (4 users in parallel, 50 each, so each user stays inside its rate limit
and the cache is exercised by concurrent writers of different users)."""

from concurrent.futures import ThreadPoolExecutor

from helpers.tasks import etag_version, task_of, task_user

USERS = 4
REPS = 50


def run_user(api):
    t = api.create_applied({"title": "exact-0", "tags": ["exact"]})
    # Warm the caches, so a stale entry is there to be served if the writer forgot it.
    assert api.get(t["id"]).status_code == 200
    assert api.list().status_code == 200
    version = t["version"]
    stale = []
    for i in range(1, REPS + 1):
        title = f"exact-{i}"
        r = api.patch(t["id"], {"title": title}, if_match=version, wait=5)
        assert r.status_code == 200, f"rep {i}: PATCH answered {r.status_code} {r.text[:300]}"
        nt = task_of(r.json())
        assert nt["version"] == version + 1 and nt["title"] == title, nt
        version = nt["version"]
        g = api.get(t["id"])
        assert g.status_code == 200, g.text
        if g.json()["version"] != version or g.json()["title"] != title or etag_version(g) != version:
            stale.append(("GET", i, g.json()["version"], g.json()["title"]))
        lst = api.list({"limit": 5})
        assert lst.status_code == 200, lst.text
        item = next((x for x in lst.json()["items"] if x["id"] == t["id"]), None)
        if item is None or item["version"] != version or item["title"] != title:
            stale.append(("list", i, item and item["version"], item and item["title"]))
    return stale


def test_applied_updates_are_never_read_stale(api_url):
    apis = [task_user(api_url, f"tasks-exact-{k}") for k in range(USERS)]
    with ThreadPoolExecutor(USERS) as pool:
        results = list(pool.map(run_user, apis))
    stale = [s for r in results for s in r]
    assert not stale, f"{len(stale)} reads after an applied update showed an older state: {stale[:10]}"
