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
    if response.status_code != 200:
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
