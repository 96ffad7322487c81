"""Checks schemathesis runs beside its own: the contract's formats as its examples use them."""

import datetime
import json
import re

import schemathesis

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$")


@schemathesis.check
def contract_formats(ctx, response, case):
    """Every event has a UUID id, ISO dates, HH:MM:SS local times, and exact decimal prices."""
    if response.status_code != 200 or "/search" not in response.request.url:
        return
    body = json.loads(response.content)
    for event in body["data"]["events"]:
        assert UUID.match(event["id"]), f"id is not a UUID: {event['id']!r}"
        for field in ("start_date", "end_date"):
            if event[field] is not None:
                datetime.date.fromisoformat(event[field])
        for field in ("start_time", "end_time"):
            if event[field] is not None:
                assert TIME.match(event[field]), f"{field} is not HH:MM:SS: {event[field]!r}"
        for field in ("min_price", "max_price"):
            value = event[field]
            assert value is None or isinstance(value, (int, float)), f"{field} is not a number"


# Codes a GraphQL error may carry: every one a client can act on. INTERNAL (or no code at all)
# means a resolver failed in a way no client input should cause.
GRAPHQL_CODES = {
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_DEEP",
    "INTROSPECTION_DISABLED",
    "PAYLOAD_TOO_LARGE",
    "QUERY_TOO_COMPLEX",
    "RESPONSE_TOO_LARGE",
}


@schemathesis.check
def graphql_error_codes(ctx, response, case):
    """A GraphQL answer is 200 and JSON, and each of its errors carries a client-facing code."""
    if not response.request.url.rstrip("/").endswith("/graphql"):
        return
    assert response.status_code == 200, f"status {response.status_code}"
    body = json.loads(response.content)
    assert "data" in body or "errors" in body, "neither data nor errors"
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code in GRAPHQL_CODES, f"error code {code!r}: {error.get('message')!r}"
        # Database text never reaches a client (unless the client sent it, echoed in a message).
        sent = (response.request.body or b"").decode("utf-8", "replace").lower()
        message = error.get("message", "").lower()
        for marker in ("sqlstate", "sqlx", "error returned from database", "sqlite error"):
            assert marker not in message or marker in sent, f"database text: {message!r}"
