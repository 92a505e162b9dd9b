"""Signed content-upload URLs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from moxtrace.server.signing import UrlSigner, default_storage_key, valid_storage_key

NOW = 1_700_000_000.0


def parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


def test_a_signed_url_verifies_until_it_expires() -> None:
    signer = UrlSigner(b"k" * 32, ttl=60)
    signed = signer.sign("http://127.0.0.1:8700/", "acme", "t/s/llm_call-1", NOW)
    path, query = parts(signed.url)

    assert path == "/telemetry/content/t/s/llm_call-1"
    assert query["tenant"] == "acme"
    assert signed.expires == int(NOW) + 60
    assert signer.verify("acme", "t/s/llm_call-1", signed.expires, query["signature"], NOW) is None
    assert signer.verify(
        "acme", "t/s/llm_call-1", signed.expires, query["signature"], NOW + 61
    ) == ("signed URL expired")


@pytest.mark.parametrize(
    ("tenant", "key", "delta", "signature"),
    [
        ("other", "t/s/llm_call-1", 0, None),
        ("acme", "t/s/llm_call-2", 0, None),
        ("acme", "t/s/llm_call-1", 1, None),
        ("acme", "t/s/llm_call-1", 0, "0" * 64),
        ("acme", "t/s/llm_call-1", 0, "zz"),
        ("acme", "t/s/llm_call-1", 0, "é" * 64),
    ],
)
def test_anything_changed_breaks_the_signature(
    tenant: str, key: str, delta: int, signature: str | None
) -> None:
    signer = UrlSigner(b"k" * 32, ttl=60)
    signed = signer.sign("http://h", "acme", "t/s/llm_call-1", NOW)
    good = parts(signed.url)[1]["signature"]

    problem = signer.verify(tenant, key, signed.expires + delta, signature or good, NOW)

    assert problem == "invalid signature"


def test_another_servers_key_does_not_verify() -> None:
    signed = UrlSigner(b"a" * 32, ttl=60).sign("http://h", "acme", "k", NOW)
    signature = parts(signed.url)[1]["signature"]
    assert UrlSigner(b"b" * 32, ttl=60).verify("acme", "k", signed.expires, signature, NOW)


def test_storage_keys() -> None:
    key = default_storage_key("a" * 32, "b" * 16, "llm_call", 1)
    assert key == f"{'a' * 32}/{'b' * 16}/llm_call-1"
    assert valid_storage_key(key)
    for bad in ("", "/abs", "a/../b", "..", "a b", "x" * 300, "a\x00"):
        assert not valid_storage_key(bad), bad
