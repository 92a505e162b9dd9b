"""API key format, generation and hashing."""

from __future__ import annotations

import pytest

from moxtrace.server.apikeys import (
    generate_key,
    hash_secret,
    parse_api_key,
    secret_matches,
    validate_tenant,
)


def test_a_generated_key_parses_back_and_verifies() -> None:
    key = generate_key("acme-prod")

    parsed = parse_api_key(key.api_key)

    assert key.api_key.startswith("moxn_acme-prod.")
    assert parsed is not None
    assert parsed.tenant == "acme-prod"
    assert parsed.key_id == key.key_id
    assert secret_matches(parsed.secret, key.salt, key.secret_hash)
    assert not secret_matches(parsed.secret + "x", key.salt, key.secret_hash)
    assert key.secret_hash == hash_secret(parsed.secret, key.salt)
    assert parsed.secret not in key.secret_hash


def test_keys_are_unique_and_salted() -> None:
    a, b = generate_key("t"), generate_key("t")
    assert a.api_key != b.api_key
    assert a.salt != b.salt


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "acme.0123456789abcdef0123",
        "moxn_.0123456789abcdef0123",
        "moxn_acme",
        "moxn_acme.",
        "moxn_acme.short",
        "moxn_ac.me.0123456789abcdef0123",
        "moxn_acme.0123456789abcdef012!",
        "moxn_" + "a" * 64 + ".0123456789abcdef0123",
    ],
)
def test_malformed_keys_do_not_parse(raw: str | None) -> None:
    assert parse_api_key(raw) is None


@pytest.mark.parametrize("tenant", ["a", "acme", "Acme_2", "a-b-c", "x" * 63])
def test_valid_tenants(tenant: str) -> None:
    assert validate_tenant(tenant) == tenant


@pytest.mark.parametrize("tenant", ["", "-a", "_a", "a b", "a.b", "x" * 64, "é"])
def test_invalid_tenants_say_what_is_allowed(tenant: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        validate_tenant(tenant)
    with pytest.raises(ValueError, match="invalid tenant"):
        generate_key(tenant)
