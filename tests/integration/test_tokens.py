"""Access tokens: the real one works; every kind of forgery is refused with 401.

The forgeries start from a real token's claims, so each differs from an accepted token in
exactly one way; a control re-signs the unchanged claims with the stack's secret and must
be accepted, which proves the refusals are caused by the one defect and not by the harness.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time

import jwt
import pytest

from helpers.api import assert_problem


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims_of(token: str) -> dict:
    return json.loads(unb64(token.split(".")[1]))


def hs256(header: dict, claims: dict, key: bytes) -> str:
    signing_input = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(claims, separators=(",", ":")).encode()
    )
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


def assert_401(client, token, why):
    r = client.me(token) if token is not None else client.get("/api/v1/users/me")
    assert r.status_code == 401, f"{why}: expected 401, got {r.status_code} {r.text[:300]}"
    assert_problem(r, 401, "unauthorized")
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer"), f"{why}: WWW-Authenticate {www!r}"
    return r


@pytest.fixture
def victim(make_user):
    return make_user(tag="victim")


def test_real_access_token_works(victim, client):
    r = client.me(victim.access)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == victim.id


def test_access_token_claims(victim, jwt_claims_expect):
    header = json.loads(unb64(victim.access.split(".")[0]))
    assert header["alg"] == "HS256", header
    c = claims_of(victim.access)
    assert c["iss"] == jwt_claims_expect["iss"]
    aud = c["aud"] if isinstance(c["aud"], list) else [c["aud"]]
    assert jwt_claims_expect["aud"] in aud
    assert c["sub"] == victim.id
    now = time.time()
    assert c["iat"] <= now + 30 and c["nbf"] <= now + 30
    assert 0 < c["exp"] - c["iat"] <= 900 + 5, c
    for key in ("jti", "sid", "sev", "role"):
        assert key in c, c
    assert c["role"] == "user"
    assert isinstance(c["sev"], int)


def test_resigned_real_claims_are_accepted(victim, client, jwt_secret):
    """The control: our signing matches the stack's, so the refusals below are meaningful."""
    token = hs256({"alg": "HS256", "typ": "JWT"}, claims_of(victim.access), jwt_secret)
    r = client.me(token)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == victim.id


def test_alg_none_is_refused(victim, client):
    c = claims_of(victim.access)
    for alg in ("none", "None", "NONE", "nOnE"):
        h = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        p = b64(json.dumps(c).encode())
        assert_401(client, f"{h}.{p}.", f"alg {alg}")
        assert_401(client, f"{h}.{p}", f"alg {alg} without signature part")


def test_other_algorithms_are_refused(victim, client, jwt_secret):
    c = claims_of(victim.access)
    assert_401(client, jwt.encode(c, jwt_secret, algorithm="HS512"), "HS512 with the real secret")
    assert_401(client, jwt.encode(c, jwt_secret, algorithm="HS384"), "HS384 with the real secret")
    # RS256 header, HMAC-SHA256 signature with the secret: the classic confusion attack.
    assert_401(client, hs256({"alg": "RS256", "typ": "JWT"}, c, jwt_secret), "RS256 header")
    assert_401(client, hs256({"alg": "hs256", "typ": "JWT"}, c, jwt_secret), "lower-case hs256")
    assert_401(client, hs256({"typ": "JWT"}, c, jwt_secret), "no alg")


def test_wrong_secret_is_refused(victim, client):
    c = claims_of(victim.access)
    assert_401(client, hs256({"alg": "HS256", "typ": "JWT"}, c, secrets.token_bytes(32)), "random secret")
    assert_401(client, hs256({"alg": "HS256", "typ": "JWT"}, c, b""), "empty secret")


def test_tampered_payload_is_refused(victim, make_user, client):
    """Another user's id in sub, the original signature kept."""
    other = make_user(tag="other")
    h, p, s = victim.access.split(".")
    c = claims_of(victim.access)
    c["sub"] = other.id
    forged = h + "." + b64(json.dumps(c, separators=(",", ":")).encode()) + "." + s
    assert_401(client, forged, "sub swapped")
    c = claims_of(victim.access)
    c["role"] = "admin"
    assert_401(client, h + "." + b64(json.dumps(c).encode()) + "." + s, "role raised")
    # The signature itself flipped in one bit.
    sig = bytearray(unb64(s))
    sig[0] ^= 1
    assert_401(client, f"{h}.{p}.{b64(bytes(sig))}", "signature bit flipped")


@pytest.mark.parametrize(
    "change,why",
    [
        (lambda c: c.update(exp=int(time.time()) - 120, iat=int(time.time()) - 1000, nbf=int(time.time()) - 1000),
         "expired"),
        (lambda c: c.update(aud="someone-else"), "wrong aud"),
        (lambda c: c.update(aud=["someone-else", "another"]), "wrong aud array"),
        (lambda c: c.update(iss="evil"), "wrong iss"),
        (lambda c: c.pop("iss"), "no iss"),
        (lambda c: c.pop("aud"), "no aud"),
        (lambda c: c.pop("exp"), "no exp"),
        (lambda c: c.update(nbf=int(time.time()) + 3600), "not yet valid"),
        (lambda c: c.update(iat=int(time.time()) + 3600), "issued in the future"),
        (lambda c: c.update(sub="not-a-uuid"), "sub not a uuid"),
        (lambda c: c.pop("sid"), "no sid"),
        (lambda c: c.pop("jti"), "no jti"),
        (lambda c: c.pop("sev"), "no sev"),
        (lambda c: c.update(sev="0"), "sev a string"),
        (lambda c: c.update(sev=c["sev"] - 1), "older token epoch"),
        (lambda c: c.update(exp=str(c["exp"])), "exp a string"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_signed_but_invalid_claims_are_refused(victim, client, jwt_secret, change, why):
    """Signed with the real secret, so only the claim checks can refuse them."""
    c = claims_of(victim.access)
    change(c)
    assert_401(client, jwt.encode(c, jwt_secret, algorithm="HS256"), why)


def test_aud_array_containing_ours_is_accepted(victim, client, jwt_secret, jwt_claims_expect):
    c = claims_of(victim.access)
    c["aud"] = ["other-service", jwt_claims_expect["aud"]]
    r = client.me(jwt.encode(c, jwt_secret, algorithm="HS256"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer-token", "Token abc", "Bearer a.b.c",
     "Bearer garbage", "Bearer ....", "Bearer " + "A" * 5000],
)
def test_missing_or_garbage_authorization_is_401(victim, client, header):
    headers = {} if header is None else {"Authorization": header}
    r = client.get("/api/v1/users/me", headers=headers)
    assert_problem(r, 401, "unauthorized")
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers


def test_token_without_bearer_scheme_is_401(victim, client):
    r = client.get("/api/v1/users/me", headers={"Authorization": victim.access})
    assert_problem(r, 401, "unauthorized")


def test_token_in_query_string_is_not_accepted(victim, client):
    r = client.get(f"/api/v1/users/me?access_token={victim.access}")
    assert_problem(r, 401, "unauthorized")


def test_refresh_token_is_not_an_access_token(victim, client):
    assert_401(client, victim.refresh, "refresh token as bearer")
