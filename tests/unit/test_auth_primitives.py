"""Password hashing, generated secrets, Docker scopes and bearer tokens, without storage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from cargohold.auth import secrets as sec
from cargohold.auth.keys import generate_private_key_pem
from cargohold.auth.passwords import hash_password, needs_rehash, verify_password
from cargohold.auth.scopes import Access, merge, parse_scope
from cargohold.auth.tokens import ALGORITHM, InvalidToken, TokenSigner

# -- passwords ---------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@cache
def _stored() -> str:
    """One argon2 hash for the module: each costs a noticeable fraction of a second."""
    return hash_password(PASSWORD)


def test_hash_is_argon2id_and_salted() -> None:
    stored = _stored()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert not needs_rehash(stored)


def test_verify_accepts_the_password_and_nothing_else() -> None:
    assert verify_password(_stored(), PASSWORD)
    assert not verify_password(_stored(), PASSWORD + "!")


def test_verify_without_a_stored_hash_is_false() -> None:
    # The unknown-user path: it burns the same time and must never succeed, not even
    # with the password of the internal dummy hash.
    assert not verify_password(None, PASSWORD)
    assert not verify_password(None, "cargohold-dummy-password")


def test_verify_against_garbage_is_false() -> None:
    assert not verify_password("not-a-hash", PASSWORD)


# -- generated secrets -------------------------------------------------------------------

_SECRET_RE = re.compile(r"^(chp|chl|chr|chf)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@pytest.mark.parametrize(
    ("kind", "prefix"), [("pat", "chp"), ("login", "chl"), ("robot", "chr"), ("refresh", "chf")]
)
def test_new_secret_format_and_round_trip(kind: sec.Kind, prefix: str) -> None:
    new = sec.new_secret(kind)
    match = _SECRET_RE.match(new.text)
    assert match is not None, new.text
    assert match.group(1) == prefix
    assert match.group(2) == new.id
    assert new.kind == kind
    # Only the SHA-256 of the random part is stored.
    assert new.digest == hashlib.sha256(match.group(3).encode()).hexdigest()
    assert match.group(3) not in new.digest
    assert sec.parse_secret(new.text) == sec.ParsedSecret(id=new.id, kind=kind, digest=new.digest)


def test_new_secrets_differ() -> None:
    a, b = sec.new_secret("pat"), sec.new_secret("pat")
    assert a.id != b.id and a.text != b.text and a.digest != b.digest


def test_parse_keeps_underscores_in_the_random_part() -> None:
    parsed = sec.parse_secret("chp_0123456789abcdef_a_b_c")
    assert parsed == sec.ParsedSecret("0123456789abcdef", "pat", sec.digest_of("a_b_c"))


HEX_ID = "0123456789abcdef"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hunter2hunter2",
        "chp",
        "chp_",
        f"chp_{HEX_ID}",
        f"chp_{HEX_ID}_",  # no random part
        f"xyz_{HEX_ID}_random",  # unknown prefix
        f"CHP_{HEX_ID}_random",  # prefixes are case-sensitive
        f"pat_{HEX_ID}_random",  # the kind name is not a prefix
        f"chp_{HEX_ID[:15]}_random",  # id too short
        f"chp_{HEX_ID}0_random",  # id too long
        "chp_0123456789abcdeg_random",  # non-hex id
        "chp_ghijklmnopqrstuv_random",
        f"chp_{HEX_ID}_" + "a" * 200,  # oversized
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    assert sec.parse_secret(text) is None


@pytest.mark.parametrize(
    "ident",
    ["0x0123456789abcd", "+123456789abcdef", " 123456789abcde ", "0123456789ABCDEF"],
    ids=["0x", "sign", "spaces", "upper"],
)
def test_parse_rejects_ids_that_are_not_16_lowercase_hex_digits(ident: str) -> None:
    # int(ident, 16) would take all of these.
    assert len(ident) == 16
    assert sec.parse_secret(f"chp_{ident}_random") is None


def test_parse_rejects_an_id_with_a_trailing_newline() -> None:
    assert sec.parse_secret(f"chp_{HEX_ID}\n_random") is None


def test_parse_accepts_the_longest_allowed_text() -> None:
    text = f"chp_{HEX_ID}_" + "a" * (200 - len(f"chp_{HEX_ID}_"))
    assert len(text) == 200
    assert sec.parse_secret(text) is not None
    assert sec.parse_secret(text + "a") is None


def test_same_digest() -> None:
    d = sec.digest_of("x")
    assert sec.same_digest(d, sec.digest_of("x"))
    assert not sec.same_digest(d, sec.digest_of("y"))
    assert not sec.same_digest(d, d[:-1])
    assert not sec.same_digest(d, "")


# -- scopes ------------------------------------------------------------------------------


def test_parse_scope_spec_example() -> None:
    assert parse_scope("repository:samalba/my-app:pull,push") == [
        Access("repository", "samalba/my-app", frozenset({"pull", "push"}))
    ]


def test_parse_scope_name_with_host_and_port() -> None:
    # The name runs from the first to the last colon.
    assert parse_scope("repository:example.com:5000/team/app:pull") == [
        Access("repository", "example.com:5000/team/app", frozenset({"pull"}))
    ]


def test_parse_scope_registry_catalog() -> None:
    assert parse_scope("registry:catalog:*") == [Access("registry", "catalog", frozenset({"*"}))]


def test_parse_scope_resource_class_is_dropped() -> None:
    assert parse_scope("repository(plugin):x:pull") == [
        Access("repository", "x", frozenset({"pull"}))
    ]


def test_parse_scope_list_keeps_order_and_drops_malformed_items() -> None:
    text = " ".join(
        [
            "repository:a/b:pull",
            "repository:nocolon",  # no actions part
            "repository:a/c:",  # no actions
            ":a/d:pull",  # no type
            "repository::pull",  # no name
            "repository",
            "repository:" + "x" * 520 + ":pull",  # oversized
            "repository:a/e:push,,delete",
        ]
    )
    assert parse_scope(text) == [
        Access("repository", "a/b", frozenset({"pull"})),
        Access("repository", "a/e", frozenset({"push", "delete"})),
    ]
    assert parse_scope("") == []


def test_access_scope_and_claim() -> None:
    a = Access("repository", "team/app", frozenset({"push", "pull"}))
    assert a.scope() == "repository:team/app:pull,push"
    assert a.claim() == {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    assert parse_scope(a.scope()) == [a]


def test_merge_unites_actions_per_resource() -> None:
    merged = merge(
        [
            Access("repository", "a", frozenset({"pull"})),
            Access("repository", "b", frozenset({"pull"})),
            Access("repository", "a", frozenset({"push"})),
            Access("registry", "a", frozenset({"*"})),
        ]
    )
    assert merged == [
        Access("repository", "a", frozenset({"pull", "push"})),
        Access("repository", "b", frozenset({"pull"})),
        Access("registry", "a", frozenset({"*"})),
    ]
    assert merge([]) == []


# -- tokens ------------------------------------------------------------------------------

ISSUER, AUDIENCE = "cargohold-test", "registry.test"


@cache
def _pem() -> str:
    return generate_private_key_pem()


def _signer(pem: str | None = None, issuer: str = ISSUER, audience: str = AUDIENCE) -> TokenSigner:
    return TokenSigner("key-1", pem or _pem(), issuer, audience)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": now + 300,
        "nbf": now - 1,
        "iat": now,
        "jti": "j",
        "access": [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}],
        "sid": "password",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _encode(claims: dict[str, Any]) -> str:
    """A token signed with the signer's own key, for claims `issue` would never make."""
    return jwt.encode(claims, _pem(), algorithm=ALGORITHM, headers={"kid": "key-1"})


def test_issue_verify_round_trip() -> None:
    signer = _signer()
    access = [
        Access("repository", "alice/app", frozenset({"pull", "push"})),
        Access("registry", "catalog", frozenset({"*"})),
    ]
    before = int(time.time())
    token, issued = signer.issue("alice", access, 300, "cred:0123456789abcdef")
    assert before <= issued <= int(time.time())
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "key-1", "typ": "JWT"}
    claims = signer.verify(token)
    assert claims.subject == "alice"
    assert claims.access == tuple(access)
    assert claims.issued_at == issued
    assert claims.expires_at == issued + 300
    assert claims.session == "cred:0123456789abcdef"


def test_anonymous_token_with_no_access() -> None:
    signer = _signer()
    token, _ = signer.issue("", [], 60, "")
    claims = signer.verify(token)
    assert (claims.subject, claims.access, claims.session) == ("", (), "")


def test_another_process_with_the_same_key_verifies() -> None:
    token, _ = _signer().issue("alice", [], 60, "password")
    assert _signer(_pem()).verify(token).subject == "alice"


def test_crafted_token_with_the_right_key_verifies() -> None:
    # Guards the helpers below: what makes them fail is the change, not the crafting.
    assert _signer().verify(_encode(_claims())).subject == "alice"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["access"][0]["actions"] = ["pull", "push", "delete"]
    return ".".join([header, _b64(json.dumps(body).encode()), signature])


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _hs256_with_public_key(claims: dict[str, Any]) -> str:
    """The algorithm-confusion attack: HMAC keyed with the verifier's public key."""
    private = serialization.load_pem_private_key(_pem().encode(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _token(kind: str) -> str:
    now = int(time.time())
    if kind == "tampered":
        return _tampered(_signer().issue("alice", [parse_scope("repository:a:pull")[0]], 60, "")[0])
    if kind == "wrong key":
        return _signer(generate_private_key_pem()).issue("alice", [], 60, "password")[0]
    if kind == "expired":
        return _encode(_claims(iat=now - 600, nbf=now - 600, exp=now - 60))
    if kind == "not yet valid":
        return _encode(_claims(nbf=now + 600))
    if kind == "wrong audience":
        return _signer(audience="elsewhere").issue("alice", [], 60, "password")[0]
    if kind == "wrong issuer":
        return _signer(issuer="elsewhere").issue("alice", [], 60, "password")[0]
    if kind == "no subject":
        return _encode(_claims(sub=None))
    if kind == "no expiry":
        return _encode(_claims(exp=None))
    if kind == "malformed access":
        return _encode(_claims(access="repository:a:pull"))
    if kind == "alg none":
        return _unsigned(_claims())
    if kind == "hs256 with public key":
        return _hs256_with_public_key(_claims())
    if kind == "garbage":
        return "not.a.token"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "tampered",
        "wrong key",
        "expired",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "no subject",
        "no expiry",
        "malformed access",
        "alg none",
        "hs256 with public key",
        "garbage",
    ],
)
def test_verify_rejects(kind: str) -> None:
    with pytest.raises(InvalidToken):
        _signer().verify(_token(kind))


def test_expiry_allows_a_little_clock_skew() -> None:
    now = int(time.time())
    token = _encode(_claims(iat=now - 600, nbf=now - 600, exp=now - 2))
    assert _signer().verify(token).subject == "alice"
