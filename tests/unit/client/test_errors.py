"""The error tree: which class a status maps to, what it carries, how it pickles."""

from __future__ import annotations

import pickle

import pytest

from moxtrace import errors
from moxtrace.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    MoxnConnectionError,
    MoxnError,
    MoxnTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
    error_for_status,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, AuthorizationError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (599, ServerError),
        (408, MoxnError),
        (413, MoxnError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[MoxnError]) -> None:
    err = error_for_status(status, "some_code", "what happened", request_id="r-1")
    assert type(err) is cls
    assert err.status_code == status
    assert err.code == "some_code"
    assert err.request_id == "r-1"
    assert isinstance(err, MoxnError)


@pytest.mark.parametrize(
    ("status", "retriable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (503, True),
        (501, False),
        (505, False),
        (400, False),
        (401, False),
        (404, False),
        (409, False),
        (422, False),
    ],
)
def test_retriable_follows_the_status(status: int, retriable: bool) -> None:
    assert error_for_status(status, None, "x").retriable is retriable


def test_connection_errors_are_retriable_and_do_not_shadow_the_builtin() -> None:
    err = MoxnTimeoutError(None, "no answer")
    assert isinstance(err, MoxnConnectionError)
    assert err.retriable
    assert err.code == "timeout"
    assert err.status_code is None
    assert not issubclass(MoxnConnectionError, ConnectionError)
    assert not hasattr(errors, "ConnectionError")


def test_missing_code_falls_back_to_the_class_default() -> None:
    assert error_for_status(404, None, "gone").code == "not_found"
    assert error_for_status(429, None, "slow").code == "rate_limited"


def test_validation_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="branch_name"):
        raise ValidationError("invalid_version_selector", "give exactly one of branch_name")


def test_message_names_code_status_and_request() -> None:
    err = error_for_status(409, "head_moved", "the branch moved", request_id="req-9")
    assert str(err) == "head_moved: the branch moved (HTTP 409) [request req-9]"


def test_errors_survive_pickling() -> None:
    err = RateLimitError(
        "rate_limited",
        "slow down",
        status_code=429,
        retry_after=2.5,
        request_id="r",
        details={"retry_after": 3},
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimitError
    assert (back.code, back.message, back.status_code, back.retry_after, back.request_id) == (
        "rate_limited",
        "slow down",
        429,
        2.5,
        "r",
    )
    assert back.details == {"retry_after": 3}
